"""The secret invariants of the whole client, checked on what a real browser saw.

- The client secret and every access, refresh and id token the sandbox issued never reach
  the browser: not in a URL, header, cookie, body, console message or storage entry.
- An authorization code appears only in the one callback URL it was sent to, and in the
  sandbox's redirect (``Location``) that led there (RFC 6749 §4.1.2). Never in a later URL,
  a ``Referer``, a page, a cookie or storage (RFC 9700 §4.2.4).
- With ``PAGERO_LOGOUT_ID_TOKEN_HINT=true`` (off by default, and off in these tests) the
  id_token goes to Pagero's end-session endpoint as ``id_token_hint`` (RP-Initiated Logout
  1.0 §2); the checks then allow it in that one URL and the app's redirect to it only.
- Every request goes to the app or the sandbox: no CDN, no third party.
"""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import quote, urlsplit

from tests.e2e.recording import CODE, Seen


def secret_leaks(secrets: list[str], seen: list[Seen], allowed: dict[str, str]) -> list[str]:
    """Where a secret appeared that it must not.

    ``allowed`` maps a value to the kind of place it may appear in (``Seen.carries``):
    each authorization code the callback received, and any value an exception allows.
    """
    leaks = []
    code_urls: dict[str, set[str]] = defaultdict(set)
    for secret in filter(None, dict.fromkeys(secrets)):
        forms = {secret, quote(secret, safe="")}
        kind = allowed.get(secret, "")
        for item in seen:
            if not any(form in item.text for form in forms):
                continue
            if kind and item.carries == kind:
                if kind == CODE and urlsplit(item.text).path == "/callback":
                    code_urls[secret].add(item.text)
                continue
            leaks.append(f"{kind or 'secret'} {secret[:10]}… in {item.where}")
    for code, urls in code_urls.items():
        if len(urls) > 1:
            leaks.append(f"code {code[:10]}… in several callback URLs: {sorted(urls)}")
    return leaks


def foreign_requests(urls: list[str], allowed_origins: set[str]) -> list[str]:
    """Requests to anything but the app and the sandbox (a CDN, fonts, analytics, ...)."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme == "data":
            continue
        if f"{parts.scheme}://{parts.netloc}" not in allowed_origins:
            out.append(url)
    return out
