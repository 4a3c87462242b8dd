"""A whole login against the sandbox over real HTTP, for each way it may be configured:
client authentication (Basic or in the form), ``openid``, ``prompt=login``, PKCE or none, the
return path and the scopes offered; then what the logged-in user sees, and logging out.

Several logins of one browser at once (tabs, double clicks, the cap on pending logins) are in
``test_concurrent_logins.py``.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

import pytest

from tests.browser import Browser, parse_forms, query_of
from tests.leaks import assert_no_leaks
from tests.recorder import token_requests

SESSION_COOKIE = "pagero_session"


def test_login_with_client_secret_basic(browser, sandbox, sandbox_recorder, caplog):
    before = browser.get("/")  # an anonymous visit may create no session at all
    assert before.status_code == 200
    to_sandbox = browser.open_login()
    cookie_at_login = browser.http.cookies.get(SESSION_COOKIE)
    assert cookie_at_login
    params = query_of(to_sandbox.headers["Location"])
    assert params["response_type"] == ["code"]
    assert params["client_id"] == ["pagero-demo-client"]
    assert params["redirect_uri"] == [f"{browser.app_url}/callback"]
    assert params["scope"] == ["all"]
    assert len(params["state"][0]) >= 22  # 128+ bits, base64url
    assert "prompt" not in params and "nonce" not in params
    assert params["code_challenge_method"] == ["S256"]  # PKCE by default (RFC 9700 2.1.1)

    page = browser.get(to_sandbox.headers["Location"])
    back = browser.submit_login(page, "demo", "demo")
    done = browser.get(back.headers["Location"])

    assert done.status_code == 303
    assert done.headers["Location"] == "/profile"  # clean URL: no code, no state
    assert browser.http.cookies.get(SESSION_COOKIE) != cookie_at_login  # id rotated
    set_cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    profile = browser.get("/profile")
    assert profile.status_code == 200
    assert "You are logged in" in profile.text
    assert "publicid" in profile.text  # Pagero's `claims` field

    (token_request,) = token_requests(sandbox_recorder)
    scheme, _, credentials = token_request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == "pagero-demo-client:pagero-demo-secret"
    assert "client_secret" not in token_request.form
    assert token_request.form["grant_type"] == ["authorization_code"]
    assert token_request.form["redirect_uri"] == [f"{browser.app_url}/callback"]
    assert sandbox.counts["authorization_code"] == 1
    assert_no_leaks(sandbox, browser, caplog)


def test_login_with_client_secret_post(make_app, new_browser, sandbox, sandbox_recorder, caplog):
    make_app(PAGERO_TOKEN_AUTH_METHOD="client_secret_post")
    browser = new_browser()
    assert browser.login().headers["Location"] == "/profile"
    (token_request,) = token_requests(sandbox_recorder)
    assert "Authorization" not in token_request.headers
    assert token_request.form["client_id"] == ["pagero-demo-client"]
    assert token_request.form["client_secret"] == ["pagero-demo-secret"]
    assert browser.get("/profile").status_code == 200
    assert_no_leaks(sandbox, browser, caplog)


def test_login_with_openid_shows_validated_claims(browser, sandbox, caplog):
    to_sandbox = browser.open_login(scope="all openid")
    params = query_of(to_sandbox.headers["Location"])
    assert params["scope"] == ["all openid"]
    assert len(params["nonce"][0]) >= 22
    page = browser.get(to_sandbox.headers["Location"])
    browser.get(browser.submit_login(page, "alice", "alice").headers["Location"])
    profile = browser.get("/profile")
    assert "Who you are" in profile.text
    assert "alice" in profile.text  # preferred_username from the id_token
    assert "Alice Trading" in profile.text
    assert_no_leaks(sandbox, browser, caplog)


def test_prompt_login_asks_for_the_password_again(browser, sandbox):
    assert browser.login().status_code == 303
    # Without prompt, the sandbox remembers the user and answers at once.
    silent = browser.get(browser.open_login().headers["Location"])
    assert silent.status_code == 302
    assert urlsplit(silent.headers["Location"]).path == "/callback"
    # With prompt=login it shows the form although it remembers the user.
    to_sandbox = browser.open_login(prompt="login")
    assert query_of(to_sandbox.headers["Location"])["prompt"] == ["login"]
    page = browser.get(to_sandbox.headers["Location"])
    assert page.status_code == 200
    assert any("password" in form.fields for form in parse_forms(page.text))
    back = browser.submit_login(page, "demo", "demo")
    assert browser.get(back.headers["Location"]).headers["Location"] == "/profile"


def test_login_sends_a_pkce_s256_challenge_and_its_verifier_by_default(
    browser, sandbox, sandbox_recorder
):
    to_sandbox = browser.open_login()
    params = query_of(to_sandbox.headers["Location"])
    assert params["code_challenge_method"] == ["S256"]
    assert len(params["code_challenge"][0]) == 43
    page = browser.get(to_sandbox.headers["Location"])
    done = browser.get(browser.submit_login(page, "demo", "demo").headers["Location"])
    assert done.headers["Location"] == "/profile"
    (token_request,) = token_requests(sandbox_recorder)
    verifier = token_request.form["code_verifier"][0]
    assert len(verifier) >= 43
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == params["code_challenge"][0]


def test_login_without_pkce_follows_pagero_documents_flow(
    make_app, new_browser, sandbox, sandbox_recorder
):
    make_app(PAGERO_USE_PKCE="false")
    browser = new_browser()
    to_sandbox = browser.open_login()
    params = query_of(to_sandbox.headers["Location"])
    assert "code_challenge" not in params and "code_challenge_method" not in params
    page = browser.get(to_sandbox.headers["Location"])
    done = browser.get(browser.submit_login(page, "demo", "demo").headers["Location"])
    assert done.headers["Location"] == "/profile"
    (token_request,) = token_requests(sandbox_recorder)
    assert "code_verifier" not in token_request.form


def test_login_on_another_host_name_moves_to_the_redirect_uris_host(client_app, ports):
    stray = Browser(f"http://127.0.0.1:{ports['app']}")
    response = stray.get("/login?scope=all&prompt=login")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"http://localhost:{ports['app']}/login?scope=all&prompt=login"
    )
    assert not stray.http.cookies  # no session started on the wrong host


def test_login_return_path_must_be_local(browser, sandbox):
    to_sandbox = browser.open_login(next="/documents")
    page = browser.get(to_sandbox.headers["Location"])
    done = browser.get(browser.submit_login(page, "demo", "demo").headers["Location"])
    assert done.headers["Location"] == "/documents"

    to_sandbox = browser.open_login(next="//evil.example/")
    back = browser.get(to_sandbox.headers["Location"])  # remembered: straight back
    assert browser.get(back.headers["Location"]).headers["Location"] == "/profile"


def test_login_log_line_names_the_scope_sent(browser, sandbox, caplog):
    browser.open_login()
    browser.open_login(scope="all openid")
    lines = [m for r in caplog.records if (m := r.getMessage()).startswith("login started")]
    assert lines == [
        "login started (scope='all' default, prompt=None)",
        "login started (scope='all openid', prompt=None)",
    ]


@pytest.mark.parametrize("scope", ["admin", "all email"])
def test_login_refuses_scopes_the_app_does_not_offer(browser, sandbox, scope):
    response = browser.open_login(scope=scope)
    assert response.status_code == 400
    assert "Unknown scope" in response.text


def test_profile_shows_tokens_masked_never_whole(browser, sandbox, caplog):
    browser.login(scope="all openid")
    profile = browser.get("/profile")
    assert "_0XBPWQQ_" in profile.text  # the masked prefix is shown...
    for secret in sandbox.issued_secrets():
        assert secret not in profile.text  # ...but never a whole token
    assert 'id="expiry"' in profile.text


def test_documents_are_listed_through_the_proxy(browser, sandbox, caplog):
    browser.login()
    page = browser.get("/documents")
    assert page.status_code == 200
    assert "/static/js/documents.js" in page.text
    answer = browser.get("/api-proxy/document/v1/documents", headers={"Accept": "application/json"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["meta"]["total"] >= 1
    assert {item["companyId"] for item in body["items"]} == {body["items"][0]["companyId"]}
    assert sandbox.counts["api"] == 1
    assert_no_leaks(sandbox, browser, caplog)


def test_two_users_see_only_their_own_documents(new_browser, client_app, sandbox):
    alice, bob = new_browser(), new_browser()
    alice.login("alice", "alice")
    bob.login("bob", "bob")
    alice_docs = alice.get("/api-proxy/document/v1/documents").json()["items"]
    bob_docs = bob.get("/api-proxy/document/v1/documents").json()["items"]
    assert alice_docs and bob_docs
    assert not {d["id"] for d in alice_docs} & {d["id"] for d in bob_docs}


def test_logout_deletes_the_session_server_side_and_revokes(browser, sandbox, caplog):
    browser.login()
    stolen_cookie = browser.http.cookies.get(SESSION_COOKIE)
    profile = browser.get("/profile")
    form = next(f for f in parse_forms(profile.text) if f.action == "/logout")

    rejected = browser.post("/logout", data={"csrf_token": "forged"})
    assert rejected.status_code == 403
    assert browser.get("/profile").status_code == 200  # still logged in

    done = browser.post("/logout", data=form.fields)
    assert done.status_code == 303
    assert sandbox.counts["revocation"] == 2  # refresh token, then access token
    assert browser.get("/profile").status_code == 401

    replay = Browser(browser.app_url)
    replayed = replay.get("/profile", headers={"Cookie": f"{SESSION_COOKIE}={stolen_cookie}"})
    assert replayed.status_code == 401
    assert_no_leaks(sandbox, browser, caplog)


def test_logout_completes_when_revocation_endpoint_is_down(make_app, new_browser, sandbox):
    make_app(PAGERO_REVOCATION_URL="http://localhost:9/oauth/v2/oauth-revoke")
    browser = new_browser()
    browser.login()
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    assert browser.post("/logout", data=form.fields).status_code == 303
    assert browser.get("/profile").status_code == 401
