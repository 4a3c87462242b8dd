"""Sandbox settings: every value from a config mapping or the environment, with a default.

A key present in the mapping given to ``create_sandbox`` wins; otherwise the environment
variable of the same name is read; otherwise the default below applies. Values are validated
once, here, and every bad variable is named in a single error so a QA engineer fixing the
environment sees all problems at once.

Settings (default in brackets):

- ``SANDBOX_HOST`` [127.0.0.1], ``SANDBOX_PORT`` [5001]: where ``python -m sandbox`` listens.
- ``SANDBOX_BASE_URL`` [http://localhost:{SANDBOX_PORT}, https with TLS]: public base of
  every URL emitted.
- ``SANDBOX_TLS_CERT``, ``SANDBOX_TLS_KEY`` [none]: PEM files of a server certificate and its
  key; set both to serve https (``python -m sandbox --tls`` makes a local pair:
  :mod:`sandbox.tls`).
- ``SANDBOX_ISSUER`` [{BASE}/oauth/v2/oauth-anonymous]: the ``iss`` of every response.
- ``SANDBOX_CLIENT_ID`` [pagero-demo-client], ``SANDBOX_CLIENT_SECRET`` [pagero-demo-secret]:
  the one registered client (Basic or form-body authentication).
- ``SANDBOX_REDIRECT_URIS`` [http://localhost:5000/callback] and
  ``SANDBOX_POST_LOGOUT_REDIRECT_URIS`` [http://localhost:5000/logged-out]: space or comma
  separated, matched exactly.
- ``SANDBOX_ACCESS_TOKEN_TTL`` [600] (also the id_token lifetime),
  ``SANDBOX_REFRESH_TOKEN_TTL`` [86400], ``SANDBOX_CODE_TTL`` [60]: seconds.
- ``SANDBOX_SECRET_KEY`` [random per process]: signs the ``pagero_sandbox_sso`` cookie.
- ``SANDBOX_LARGE_DOCUMENT_BYTES`` [209715200, 200 MiB]: size of each company's large document.
- ``SANDBOX_FAULTS`` [none]: comma- or space-separated fault names (:mod:`sandbox.faults`).
- ``SANDBOX_SLOW_SECONDS`` [5]: how long ``token_slow`` stalls the token endpoint.
- ``SANDBOX_EXTRA_USERS`` [0]: adds load-test users ``user001`` ... (password = user name),
  each in a company of its own (at most 9999).
- ``SANDBOX_API_DELAY_MS`` [0], ``SANDBOX_TOKEN_DELAY_MS`` [0]: milliseconds every API call,
  and every token request, waits before it is handled: a distant or busy Pagero (at most
  600000). ``python -m sandbox`` holds no thread while a call waits, so a thousand can.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.faults import KNOWN_FAULTS

DEFAULTS: dict[str, str] = {
    "SANDBOX_HOST": "127.0.0.1",
    "SANDBOX_PORT": "5001",
    "SANDBOX_CLIENT_ID": "pagero-demo-client",
    "SANDBOX_CLIENT_SECRET": "pagero-demo-secret",  # a public demo credential
    "SANDBOX_REDIRECT_URIS": "http://localhost:5000/callback",
    "SANDBOX_POST_LOGOUT_REDIRECT_URIS": "http://localhost:5000/logged-out",
    "SANDBOX_ACCESS_TOKEN_TTL": "600",
    "SANDBOX_REFRESH_TOKEN_TTL": "86400",
    "SANDBOX_CODE_TTL": "60",
    "SANDBOX_LARGE_DOCUMENT_BYTES": str(200 * 1024 * 1024),
    "SANDBOX_FAULTS": "",
    "SANDBOX_SLOW_SECONDS": "5",
    "SANDBOX_EXTRA_USERS": "0",
    "SANDBOX_API_DELAY_MS": "0",
    "SANDBOX_TOKEN_DELAY_MS": "0",
}

#: Where Pagero's SSO (Curity) publishes its anonymous OAuth profile; the issuer, metadata
#: and JWKS all live under it.
ISSUER_PATH = "/oauth/v2/oauth-anonymous"
#: Load-test users are generated at start-up and each gets a company's documents.
MAX_EXTRA_USERS = 9999
#: Ten minutes: longer than any client waits for an answer.
MAX_DELAY_MS = 600_000


class SandboxConfigError(ValueError):
    """One or more ``SANDBOX_*`` settings are invalid; the message names each of them."""


@dataclass(frozen=True)
class SandboxSettings:
    """Validated sandbox configuration. Build it with :func:`load_settings`."""

    host: str
    port: int
    base_url: str
    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    access_token_ttl: int
    refresh_token_ttl: int
    code_ttl: int
    secret_key: str
    large_document_bytes: int
    faults: frozenset[str]
    slow_seconds: float
    extra_users: int = 0
    api_delay_ms: int = 0
    token_delay_ms: int = 0
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def url(self, path: str) -> str:
        """Absolute public URL of a sandbox path (every URL the sandbox emits uses the base)."""
        return self.base_url + path


def load_settings(config: Mapping[str, Any] | None = None) -> SandboxSettings:
    """Read, default and validate every ``SANDBOX_*`` setting.

    :raises SandboxConfigError: naming every variable that is not valid.
    """
    config = config or {}
    errors: list[str] = []

    def raw(name: str, default: str | None = None) -> str | None:
        if name in config:
            value = config[name]
            return None if value is None else str(value)
        return os.environ.get(name, DEFAULTS.get(name, default))

    def integer(name: str, minimum: int) -> int:
        value = raw(name) or ""
        try:
            number = int(value)
        except ValueError:
            errors.append(f"{name} must be an integer, got {value!r}")
            return minimum
        if number < minimum:
            errors.append(f"{name} must be at least {minimum}, got {number}")
        return number

    def number(name: str) -> float:
        value = raw(name) or ""
        try:
            result = float(value)
        except ValueError:
            errors.append(f"{name} must be a number of seconds, got {value!r}")
            return 0.0
        if result < 0:
            errors.append(f"{name} must not be negative, got {value!r}")
        return result

    def uri_list(name: str) -> tuple[str, ...]:
        uris = tuple(u for u in re.split(r"[\s,]+", raw(name) or "") if u)
        bad = [u for u in uris if not u.startswith(("http://", "https://"))]
        if not uris or bad:
            errors.append(f"{name} must list absolute http(s) URIs, got {raw(name)!r}")
        return uris

    port = integer("SANDBOX_PORT", 0)
    tls_cert, tls_key = raw("SANDBOX_TLS_CERT") or None, raw("SANDBOX_TLS_KEY") or None
    if (tls_cert is None) != (tls_key is None):
        errors.append("SANDBOX_TLS_CERT and SANDBOX_TLS_KEY must be set together")
    for name, path in (("SANDBOX_TLS_CERT", tls_cert), ("SANDBOX_TLS_KEY", tls_key)):
        if path is not None and not os.path.isfile(path):
            errors.append(f"{name} must name a PEM file, got {path!r}")
    scheme = "https" if tls_cert and tls_key else "http"
    base_url = (raw("SANDBOX_BASE_URL") or f"{scheme}://localhost:{port}").rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        errors.append(f"SANDBOX_BASE_URL must be an absolute http(s) URL, got {base_url!r}")
    issuer = (raw("SANDBOX_ISSUER") or base_url + ISSUER_PATH).rstrip("/")

    faults = frozenset(f for f in re.split(r"[\s,]+", raw("SANDBOX_FAULTS") or "") if f)
    if unknown := faults - KNOWN_FAULTS:
        errors.append(
            f"SANDBOX_FAULTS has unknown fault(s) {sorted(unknown)}; "
            f"known: {', '.join(sorted(KNOWN_FAULTS))}"
        )

    settings = SandboxSettings(
        host=raw("SANDBOX_HOST") or DEFAULTS["SANDBOX_HOST"],
        port=port,
        base_url=base_url,
        issuer=issuer,
        client_id=raw("SANDBOX_CLIENT_ID") or "",
        client_secret=raw("SANDBOX_CLIENT_SECRET") or "",
        redirect_uris=uri_list("SANDBOX_REDIRECT_URIS"),
        post_logout_redirect_uris=uri_list("SANDBOX_POST_LOGOUT_REDIRECT_URIS"),
        access_token_ttl=integer("SANDBOX_ACCESS_TOKEN_TTL", 1),
        refresh_token_ttl=integer("SANDBOX_REFRESH_TOKEN_TTL", 1),
        code_ttl=integer("SANDBOX_CODE_TTL", 1),
        # A random key per process means sandbox SSO cookies die with the process, which is
        # what a throwaway stand-in wants; set one to survive restarts.
        secret_key=raw("SANDBOX_SECRET_KEY") or secrets.token_hex(32),
        large_document_bytes=integer("SANDBOX_LARGE_DOCUMENT_BYTES", 1),
        faults=faults,
        slow_seconds=number("SANDBOX_SLOW_SECONDS"),
        extra_users=integer("SANDBOX_EXTRA_USERS", 0),
        api_delay_ms=integer("SANDBOX_API_DELAY_MS", 0),
        token_delay_ms=integer("SANDBOX_TOKEN_DELAY_MS", 0),
        tls_cert=tls_cert if tls_key else None,
        tls_key=tls_key if tls_cert else None,
    )
    if settings.extra_users > MAX_EXTRA_USERS:
        errors.append(f"SANDBOX_EXTRA_USERS must be at most {MAX_EXTRA_USERS}")
    for name, delay in (
        ("SANDBOX_API_DELAY_MS", settings.api_delay_ms),
        ("SANDBOX_TOKEN_DELAY_MS", settings.token_delay_ms),
    ):
        if delay > MAX_DELAY_MS:
            errors.append(f"{name} must be at most {MAX_DELAY_MS}, got {delay}")
    for name in ("SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET"):
        if not raw(name):
            errors.append(f"{name} must not be empty")
    if errors:
        raise SandboxConfigError("Invalid sandbox configuration: " + "; ".join(errors))
    return settings
