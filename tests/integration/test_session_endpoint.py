"""GET /session: what pages may know about the login (never a token)."""

from __future__ import annotations

from tests.leaks import assert_no_leaks


def test_logged_out_session_is_401_problem_json(browser, sandbox, app_url):
    response = browser.get("/session")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["login_url"] == f"{app_url}/login"


def test_session_describes_the_login_without_tokens(browser, sandbox, caplog):
    browser.login("alice", "alice", scope="all openid")
    response = browser.get("/session")
    assert response.status_code == 200
    body = response.json()
    assert body["authenticated"] is True
    assert body["user"]["preferred_username"] == "alice"
    assert body["user"]["company_name"] == "Alice Trading Ltd"
    assert "nonce" not in body["user"]
    assert body["scope"] == "all openid"
    assert body["claims"] == "publicid"
    assert 590 <= body["access_token_expires_in"] <= 600
    assert body["logout"]["url"] == "/logout" and body["logout"]["method"] == "POST"
    assert "XBPWQQ" not in response.text and "eyJ" not in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert_no_leaks(sandbox, browser, caplog)


def test_session_without_openid_has_no_user(browser, sandbox):
    browser.login()
    body = browser.get("/session").json()
    assert body["user"] is None and body["scope"] == "all"


def test_a_script_can_log_out_with_the_anti_forgery_value(browser, sandbox):
    browser.login()
    logout = browser.get("/session").json()["logout"]
    refused = browser.post(logout["url"], headers={logout["csrf_header"]: "wrong"})
    assert refused.status_code == 403
    done = browser.post(logout["url"], headers={logout["csrf_header"]: logout["csrf_token"]})
    assert done.status_code == 303
    assert browser.get("/session").status_code == 401


def test_explorer_page_is_there_for_logged_in_users(browser, sandbox):
    assert browser.get("/explorer").status_code == 401
    browser.login()
    page = browser.get("/explorer")
    assert page.status_code == 200
    assert "/static/js/explorer.js" in page.text
    assert 'id="explorer-path"' in page.text
