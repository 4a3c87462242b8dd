"""``python -m sandbox``: run the Pagero sandbox on ``SANDBOX_HOST``:``SANDBOX_PORT``."""

from __future__ import annotations

import logging
import signal
import sys

from sandbox import create_sandbox
from sandbox.serving import make_sandbox_server
from sandbox.settings import SandboxConfigError
from sandbox.state import EXTENSION_KEY, SandboxState
from sandbox.users import TEST_USERS


def _banner(state: SandboxState) -> str:
    settings = state.settings
    lines = [
        "Pagero sandbox (local stand-in, not Pagero)",
        f"  serving   http://{settings.host}:{settings.port}",
        f"  base URL  {settings.base_url}",
        f"  issuer    {settings.issuer}",
        f"  client    {settings.client_id}  (redirect URIs: {' '.join(settings.redirect_uris)})",
        "  test users (user / password, company):",
    ]
    lines += [f"    {u.username} / {u.password}  {u.company_name}" for u in TEST_USERS]
    if extra := len(state.users) - len(TEST_USERS):
        lines.append(f"    and {extra} load-test users user001 ... (password = user name)")
    if state.faults:
        lines.append(f"  faults    {', '.join(sorted(state.faults))}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Serve until interrupted; exit status 2 on bad configuration."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        app = create_sandbox()
    except SandboxConfigError as error:
        print(error, file=sys.stderr)
        return 2
    state: SandboxState = app.extensions[EXTENSION_KEY]
    server = make_sandbox_server(app, state.settings.host, state.settings.port)
    print(_banner(state), flush=True)
    # SIGTERM (docker stop, the demo script) stops as cleanly as Ctrl-C: werkzeug's
    # serve_forever swallows KeyboardInterrupt and closes the socket itself.
    signal.signal(signal.SIGTERM, _interrupt)
    server.serve_forever()
    print("Pagero sandbox stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
