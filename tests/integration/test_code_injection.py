"""Authorization-code injection (RFC 9700 sections 2.1.1 and 4.5) against the live sandbox.

An attacker who holds a victim's unused code starts a login of his own and puts the
victim's code into his callback, hoping to land in a session that acts as the victim.
PKCE binds each code to the login that asked for it; the nonce binds an id_token to it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.browser import Browser
from tests.leaks import assert_no_leaks


def _error_code(response) -> str | None:
    found = re.search(r'data-error-code="([^"]+)"', response.text)
    return found.group(1) if found else None


def _callback_from_sandbox(browser: Browser, user: str, scope: str | None = None) -> str:
    """Log ``user`` in at the sandbox; return its redirect to our callback, not followed."""
    to_sandbox = browser.open_login(scope=scope)
    assert to_sandbox.status_code == 302, to_sandbox.text
    page = browser.get(to_sandbox.headers["Location"])
    back = browser.submit_login(page, user, user) if page.status_code == 200 else page
    assert back.status_code == 302, back.text
    return back.headers["Location"]


def _with_code(callback: str, code: str) -> str:
    parts = urlsplit(callback)
    query = [(k, code if k == "code" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _code_of(callback: str) -> str:
    return dict(parse_qsl(urlsplit(callback).query))["code"]


def _inject(new_browser, victim_scope: str, attacker_scope: str | None):
    """The victim's code, stolen before use, in the callback of the attacker's own login.
    Returns the attacker's browser and the app's answer to that callback."""
    victim_code = _code_of(_callback_from_sandbox(new_browser(), "alice", victim_scope))
    attacker = new_browser()
    own_callback = _callback_from_sandbox(attacker, "bob", attacker_scope)
    return attacker, attacker.get(_with_code(own_callback, victim_code))


def test_victims_code_in_the_attackers_callback_is_refused_by_pkce(
    client_app, new_browser, sandbox, caplog
):
    attacker, answer = _inject(new_browser, "all", None)
    assert answer.status_code == 400
    assert _error_code(answer) == "invalid_grant"  # the sandbox: code challenge failed
    assert attacker.get("/api-proxy/document/v1/documents").status_code == 401
    assert sandbox.counts["api"] == 0  # nothing of the victim's was read
    assert_no_leaks(sandbox, attacker, caplog)


def test_without_pkce_an_injected_code_is_not_detected(make_app, new_browser, sandbox):
    # What PAGERO_USE_PKCE=false gives up (docs/configuration.md): with scope `all`
    # nothing binds the code to the login, so the attacker reads the victim's documents.
    make_app(PAGERO_USE_PKCE="false")
    attacker, answer = _inject(new_browser, "all", None)
    assert answer.status_code == 303
    documents = attacker.get("/api-proxy/document/v1/documents").json()["items"]
    assert {d["companyId"] for d in documents} == {"1000002"}  # alice's company


def test_an_id_token_for_a_login_that_sent_no_nonce_is_refused_even_without_pkce(
    make_app, new_browser, sandbox, caplog
):
    # The attacker's login asks for `all` only, so it sends no nonce; the victim's code
    # was issued for `all openid` and brings the victim's id_token.
    make_app(PAGERO_USE_PKCE="false")
    attacker, answer = _inject(new_browser, "all openid", "all")
    assert answer.status_code == 400
    assert _error_code(answer) == "invalid_id_token"
    assert "sent no nonce" in answer.text
    session = attacker.get("/session")
    assert session.status_code == 401  # nothing was stored: /session names nobody
    assert "alice" not in session.text.lower()
    assert_no_leaks(sandbox, attacker, caplog)
