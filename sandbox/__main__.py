"""``python -m sandbox``: run the Pagero sandbox on ``SANDBOX_HOST``:``SANDBOX_PORT``.

``python -m sandbox --tls`` serves https with a local CA's certificate for localhost, made
once into ``SANDBOX_TLS_DIR`` (default ``instance/sandbox-tls``, :mod:`sandbox.tls`), for a
rehearsal of the staging checklist (docs/staging-qa.md); ``SANDBOX_TLS_CERT`` and
``SANDBOX_TLS_KEY`` serve https with certificate files of your own.

It serves under gevent, so calls held by ``SANDBOX_API_DELAY_MS`` or
``SANDBOX_TOKEN_DELAY_MS`` wait as greenlets; the patching comes first, before any
module takes the blocking socket, ssl, threading or time.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402

from sandbox import create_sandbox  # noqa: E402
from sandbox.serving import make_gevent_server  # noqa: E402
from sandbox.settings import SandboxConfigError  # noqa: E402
from sandbox.state import EXTENSION_KEY, SandboxState  # noqa: E402
from sandbox.tls import DEFAULT_DIR, ensure_local_certificates  # noqa: E402
from sandbox.users import TEST_USERS  # noqa: E402


def _banner(state: SandboxState, local_ca: str | None = None) -> str:
    settings = state.settings
    lines = [
        "Pagero sandbox (local stand-in, not Pagero)",
        f"  serving   {'https' if settings.tls else 'http'}://{settings.host}:{settings.port}",
        f"  base URL  {settings.base_url}",
        f"  issuer    {settings.issuer}",
        f"  client    {settings.client_id}  (redirect URIs: {' '.join(settings.redirect_uris)})",
        "  test users (user / password, company):",
    ]
    lines += [f"    {u.username} / {u.password}  {u.company_name}" for u in TEST_USERS]
    if extra := len(state.users) - len(TEST_USERS):
        lines.append(f"    and {extra} load-test users user001 ... (password = user name)")
    if local_ca:
        lines.append(f"  TLS       trust its local CA: REQUESTS_CA_BUNDLE={local_ca}")
    if state.faults:
        lines.append(f"  faults    {', '.join(sorted(state.faults))}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; exit status 2 on bad configuration."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a local CA's certificate for localhost, made into "
        f"SANDBOX_TLS_DIR (default {DEFAULT_DIR})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config, local = {}, None
    if args.tls:
        local = ensure_local_certificates(os.environ.get("SANDBOX_TLS_DIR") or DEFAULT_DIR)
        config = {"SANDBOX_TLS_CERT": str(local.cert), "SANDBOX_TLS_KEY": str(local.key)}
    try:
        app = create_sandbox(config)
    except SandboxConfigError as error:
        print(error, file=sys.stderr)
        return 2
    state: SandboxState = app.extensions[EXTENSION_KEY]
    settings = state.settings
    tls = (settings.tls_cert, settings.tls_key) if settings.tls else None
    server = make_gevent_server(app, settings.host, settings.port, tls)
    server.start()  # bound before the banner says where
    print(_banner(state, local and str(local.ca_cert)), flush=True)
    # Ctrl-C and SIGTERM (docker stop, the demo script) stop alike: the listening
    # socket closes, calls in progress get a second to finish.
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, server.stop, timeout=1)
    server.serve_forever()
    print("Pagero sandbox stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
