"""The staging profile against the sandbox over https, in this process: what
``scripts/staging-rehearsal.sh`` runs, for tests (docs/staging-qa.md, "Rehearse on your
machine").

The sandbox serves a certificate of a local CA (:mod:`sandbox.tls`); the app trusts it
through ``REQUESTS_CA_BUNDLE``, and the test's browser through ``verify``.
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.browser import Browser

#: The sandbox's path for each endpoint variable (sandbox/sso.py, token_endpoint.py, api.py).
ENDPOINT_PATHS = {
    "PAGERO_AUTHORIZE_URL": "/oauth/v2/oauth-authorize",
    "PAGERO_TOKEN_URL": "/oauth/v2/oauth-token",
    "PAGERO_REVOCATION_URL": "/oauth/v2/oauth-revoke",
    "PAGERO_JWKS_URI": "/oauth/v2/oauth-anonymous/jwks",
    "PAGERO_END_SESSION_URL": "/oauth/v2/oauth-session/logout",
    "PAGERO_ISSUER": "/oauth/v2/oauth-anonymous",
    "PAGERO_API_BASE_URL": "/api",
}


def staging_settings(sandbox_url: str, app_url: str, **overrides: Any) -> dict[str, Any]:
    """What docs/staging-qa.md's table asks for, pointed at a sandbox."""
    return {
        "PAGERO_ENV": "staging",
        "PAGERO_CLIENT_ID": "pagero-demo-client",
        "PAGERO_CLIENT_SECRET": "pagero-demo-secret",
        **{name: sandbox_url + path for name, path in ENDPOINT_PATHS.items()},
        "PAGERO_REDIRECT_URI": f"{app_url}/callback",
        "SECRET_KEY": secrets.token_hex(32),
        **overrides,
    }


class LoopbackBrowser(Browser):
    """A test browser that, like a real one, sends a ``Secure`` cookie to
    http://localhost: a loopback origin counts as secure (W3C Secure Contexts section
    3.2), which is what lets a tester run the staging profile there. Python's cookie jar
    sends such cookies over https only, so the flag is dropped from stored loopback
    cookies before each request."""

    def _send(self, method: str, url: str, **kwargs):
        for cookie in self.http.cookies:
            if cookie.secure and cookie.domain.lstrip(".") in LOOPBACK:
                cookie.secure = False
        # Per request: requests prefers REQUESTS_CA_BUNDLE to the session's own verify.
        kwargs.setdefault("verify", self.http.verify)
        return super()._send(method, url, **kwargs)


LOOPBACK = {"localhost", "localhost.local", "127.0.0.1"}


def staging_browser(app_url: str, ca_file: str) -> Browser:
    """A :class:`LoopbackBrowser` that trusts the local CA (``ca_file``)."""
    browser = LoopbackBrowser(app_url)
    browser.http.verify = ca_file
    return browser
