"""The first proxy's refresh: an expired access token is renewed with the refresh token."""

from __future__ import annotations

from tests.leaks import assert_no_leaks


def test_expired_access_token_is_refreshed_before_the_api_call(
    make_app, new_browser, sandbox, caplog
):
    # A margin longer than the token's life makes every call see an expiring token.
    make_app(PAGERO_REFRESH_MARGIN="100000")
    browser = new_browser()
    browser.login()
    for expected_refreshes in (1, 2):
        answer = browser.get("/api-proxy/document/v1/documents")
        assert answer.status_code == 200
        assert sandbox.counts["refresh_token"] == expected_refreshes  # rotation honoured
    assert_no_leaks(sandbox, browser, caplog)


def test_refused_refresh_logs_the_user_out_with_a_login_hint(make_app, new_browser, sandbox):
    make_app(PAGERO_REFRESH_MARGIN="100000")
    browser = new_browser()
    browser.login()
    sandbox.faults.add("refresh_invalid_grant")
    answer = browser.get("/api-proxy/document/v1/documents")
    assert answer.status_code == 401
    body = answer.json()
    assert body["type"] == "urn:pagero-client:error:login_expired"
    assert body["login_url"].endswith("/login")
    assert browser.get("/profile").status_code == 401  # tokens cleared


def test_refresh_with_token_endpoint_down_keeps_the_tokens(make_app, new_browser, sandbox):
    make_app(PAGERO_REFRESH_MARGIN="100000")
    browser = new_browser()
    browser.login()
    sandbox.faults.add("token_500")
    assert browser.get("/api-proxy/document/v1/documents").status_code == 502
    sandbox.faults.clear()
    assert browser.get("/api-proxy/document/v1/documents").status_code == 200
