"""Every way a callback can go wrong ends in a clear page with the right status,
and no token or secret in any page, header or log line."""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

import pytest

from tests.browser import Browser, query_of
from tests.leaks import assert_no_leaks
from tests.servers import free_port


def _error_code(response) -> str:
    marker = 'data-error-code="'
    start = response.text.index(marker) + len(marker)
    return response.text[start : response.text.index('"', start)]


def _issuer(ports) -> str:
    return f"http://localhost:{ports['sandbox']}/oauth/v2/oauth-anonymous"


def _callback_via_sandbox(browser: Browser, user: str = "demo"):
    """Log in at the sandbox and return its redirect to our callback, not yet followed."""
    to_sandbox = browser.open_login()
    page = browser.get(to_sandbox.headers["Location"])
    if page.status_code == 200:
        return browser.submit_login(page, user, user)
    return page


def test_callback_without_state_is_rejected(browser, sandbox, ports):
    browser.open_login()
    response = browser.get("/callback?" + urlencode({"code": "x", "iss": _issuer(ports)}))
    assert response.status_code == 400
    assert _error_code(response) == "missing_state"
    assert "no &#39;state&#39; parameter" in response.text


def test_callback_with_unknown_state_is_rejected(browser, sandbox, ports):
    browser.open_login()
    query = urlencode({"code": "x", "state": "forged-state", "iss": _issuer(ports)})
    response = browser.get("/callback?" + query)
    assert response.status_code == 400
    assert _error_code(response) == "unknown_state"
    assert sandbox.counts["authorization_code"] == 0  # no token request was made


def test_callback_without_session_cookie_explains_the_host_name_pitfall(
    browser, sandbox, new_browser
):
    back = _callback_via_sandbox(browser)
    other = new_browser()  # e.g. the app opened on 127.0.0.1: no cookie comes along
    response = other.get(back.headers["Location"])
    assert response.status_code == 400
    assert _error_code(response) == "session_not_found"
    assert "127.0.0.1" in response.text and "localhost" in response.text


def test_reused_callback_url_gets_the_already_used_page(browser, sandbox, caplog):
    back = _callback_via_sandbox(browser)
    assert browser.get(back.headers["Location"]).status_code == 303
    again = browser.get(back.headers["Location"])  # the Back button
    assert again.status_code == 400
    assert _error_code(again) == "state_already_used"
    assert "already been used" in again.text
    assert 'href="/profile"' in again.text  # still logged in: offer the way back
    assert sandbox.counts["authorization_code"] == 1
    assert_no_leaks(sandbox, browser, caplog)


def test_expired_state_is_rejected(make_app, new_browser, sandbox):
    make_app(PAGERO_STATE_MAX_AGE="1")
    browser = new_browser()
    back = _callback_via_sandbox(browser)
    time.sleep(1.2)
    response = browser.get(back.headers["Location"])
    assert response.status_code == 400
    assert _error_code(response) == "state_expired"
    assert "started more than 1 second ago" in response.text
    assert sandbox.counts["authorization_code"] == 0


def test_wrong_issuer_is_rejected_and_both_issuers_are_shown(browser, sandbox, ports, caplog):
    sandbox.faults.add("wrong_iss")
    back = _callback_via_sandbox(browser)
    arrived = query_of(back.headers["Location"])["iss"][0]
    response = browser.get(back.headers["Location"])
    assert response.status_code == 400
    assert _error_code(response) == "issuer_mismatch"
    assert arrived in response.text and _issuer(ports) in response.text
    assert sandbox.counts["authorization_code"] == 0  # the code never left the app
    assert_no_leaks(sandbox, browser, caplog)


def test_missing_issuer_is_rejected_when_required(browser, sandbox):
    sandbox.faults.add("missing_iss")
    back = _callback_via_sandbox(browser)
    assert "iss" not in query_of(back.headers["Location"])
    response = browser.get(back.headers["Location"])
    assert response.status_code == 400
    assert _error_code(response) == "missing_issuer"


def test_missing_issuer_is_accepted_when_not_required(make_app, new_browser, sandbox):
    # Without discovery: the sandbox's metadata declares iss support, which
    # makes iss mandatory whatever PAGERO_REQUIRE_ISS says (RFC 9207 2.4).
    make_app(PAGERO_REQUIRE_ISS="false", PAGERO_DISCOVERY="false")
    sandbox.faults.add("missing_iss")
    browser = new_browser()
    back = _callback_via_sandbox(browser)
    assert browser.get(back.headers["Location"]).headers["Location"] == "/profile"


def test_cancel_at_pagero_gets_the_access_denied_page(browser, sandbox, ports):
    page = browser.get(browser.open_login().headers["Location"])
    back = browser.submit_login(page, "", "", cancel=True)
    params = query_of(back.headers["Location"])
    assert params["error"] == ["access_denied"] and params["iss"] == [_issuer(ports)]
    response = browser.get(back.headers["Location"])
    assert response.status_code == 400
    assert _error_code(response) == "access_denied"
    assert "cancelled or access was denied" in response.text
    # The state was used up: replaying the error URL is not a fresh answer.
    again = browser.get(back.headers["Location"])
    assert _error_code(again) == "access_denied"


def test_an_error_answers_description_is_shown_only_for_this_browsers_login(browser, sandbox):
    page = browser.get(browser.open_login().headers["Location"])
    back = browser.submit_login(page, "", "", cancel=True).headers["Location"]
    said = "The resource owner or authorization server denied the request"  # Authlib's
    assert query_of(back)["error_description"] == [said]
    answered = browser.get(back)
    assert _error_code(answered) == "access_denied"
    assert f"Pagero said: {said}" in answered.text
    # Words in a link anyone can send (no state of this browser's) are not repeated.
    forged = browser.get("/callback?error=access_denied&error_description=Call+555-0100")
    assert _error_code(forged) == "access_denied"
    assert "555-0100" not in forged.text
    forged = browser.get("/callback?error=access_denied&iss=Account+locked,+call+555-0100")
    assert _error_code(forged) == "issuer_mismatch"  # RFC 9207 still applies
    assert "555-0100" not in forged.text and "not repeated" in forged.text


@pytest.mark.parametrize("error", ["", "%3Cscript%3Ealert(1)", "a" * 65, "no%20spaces"])
def test_an_error_code_of_the_wrong_shape_is_not_repeated(browser, sandbox, error):
    response = browser.get(f"/callback?error={error}", headers={"Accept": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "urn:pagero-client:error:unreadable_error"
    assert "script" not in response.text and "aaaa" not in response.text
    assert "spaces" not in response.text


def test_error_answer_from_another_issuer_is_named_as_such(browser, sandbox):
    sandbox.faults.add("wrong_iss")
    page = browser.get(browser.open_login().headers["Location"])
    back = browser.submit_login(page, "", "", cancel=True)
    response = browser.get(back.headers["Location"])
    assert response.status_code == 400
    assert _error_code(response) == "issuer_mismatch"


def _fresh_state(browser: Browser) -> str:
    return query_of(browser.open_login().headers["Location"])["state"][0]


def test_reused_code_is_refused_by_pagero(browser, sandbox, ports, caplog):
    back = _callback_via_sandbox(browser)
    code = query_of(back.headers["Location"])["code"][0]
    assert browser.get(back.headers["Location"]).status_code == 303
    query = urlencode({"code": code, "state": _fresh_state(browser), "iss": _issuer(ports)})
    response = browser.get("/callback?" + query)
    assert response.status_code == 400
    assert _error_code(response) == "invalid_grant"
    assert "expired or was already used" in response.text
    assert_no_leaks(sandbox, browser, caplog)


def test_forged_code_is_refused_by_pagero(browser, sandbox, ports):
    query = urlencode({"code": "forged", "state": _fresh_state(browser), "iss": _issuer(ports)})
    response = browser.get("/callback?" + query)
    assert response.status_code == 400
    assert _error_code(response) == "invalid_grant"


def test_expired_code_is_refused_by_pagero(browser, sandbox):
    back = _callback_via_sandbox(browser)
    sandbox.advance_clock(3600)
    response = browser.get(back.headers["Location"])
    assert response.status_code == 400
    assert _error_code(response) == "invalid_grant"


def test_wrong_client_secret_is_a_configuration_error(make_app, new_browser, sandbox, caplog):
    make_app(PAGERO_CLIENT_SECRET="not-the-secret")
    browser = new_browser()
    response = browser.get(_callback_via_sandbox(browser).headers["Location"])
    assert response.status_code == 502
    assert _error_code(response) == "invalid_client"
    assert "PAGERO_CLIENT_SECRET" in response.text
    assert "not-the-secret" not in caplog.text and "not-the-secret" not in response.text


def test_token_endpoint_unreachable_gives_502_within_the_timeout(make_app, new_browser, sandbox):
    closed = free_port()
    make_app(PAGERO_TOKEN_URL=f"http://localhost:{closed}/oauth/v2/oauth-token")
    browser = new_browser()
    back = _callback_via_sandbox(browser)
    started = time.monotonic()
    response = browser.get(back.headers["Location"])
    assert time.monotonic() - started < 2.5  # the connect timeout is 2 s
    assert response.status_code == 502
    assert _error_code(response) == "token_endpoint_unavailable"
    assert "could not connect" in response.text


def test_slow_token_endpoint_gives_504_after_the_read_timeout(make_app, new_browser, sandbox):
    make_app(PAGERO_HTTP_READ_TIMEOUT="0.5")
    sandbox.faults.add("token_slow")
    browser = new_browser()
    back = _callback_via_sandbox(browser)
    started = time.monotonic()
    response = browser.get(back.headers["Location"])
    assert time.monotonic() - started < 2.5
    assert response.status_code == 504
    assert _error_code(response) == "token_endpoint_timeout"
    assert "login service did not answer in time" in response.text  # the title
    assert "could not be reached" not in response.text


@pytest.mark.parametrize(
    ("fault", "code"),
    [("token_malformed", "malformed_token_response"), ("token_500", "token_endpoint_unavailable")],
)
def test_broken_token_endpoint_gives_502(browser, sandbox, fault, code, caplog):
    sandbox.faults.add(fault)
    response = browser.get(_callback_via_sandbox(browser).headers["Location"])
    assert response.status_code == 502
    assert _error_code(response) == code
    assert "could not be reached" not in response.text  # it was reached, and answered
    assert "Traceback" not in response.text
    assert_no_leaks(sandbox, browser, caplog)


def test_callback_errors_answer_problem_json_to_scripts(browser, sandbox):
    browser.open_login()
    response = browser.get("/callback?state=nope", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:pagero-client:error:unknown_state"
    assert body["status"] == 400


def test_callback_page_is_never_cached_and_sends_no_referrer(browser, sandbox):
    back = _callback_via_sandbox(browser)
    response = browser.get(back.headers["Location"])
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert urlsplit(response.headers["Location"]).query == ""
