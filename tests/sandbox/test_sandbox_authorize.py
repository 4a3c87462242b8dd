"""Step 1 and 2: the authorization endpoint, the login form and the SSO session."""

from __future__ import annotations

import re

from joserfc import jwt
from joserfc.jwk import KeySet


def test_authorize_shows_login_form_with_named_fields_and_test_users(sso):
    response = sso.authorize()
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Pagero sandbox (local stand-in, not Pagero)" in html
    assert '<label for="username">' in html and 'name="username"' in html
    assert '<label for="password">' in html and 'name="password"' in html
    assert 'name="csrf_token"' in html
    assert ">Log in</button>" in html and 'value="cancel"' in html
    for company in ("Demo Company AB", "Alice Trading Ltd", "Bob Logistics GmbH"):
        assert company in html


def test_login_page_cannot_be_framed_or_cached(sso):
    response = sso.authorize()
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_authorize_escapes_the_request_carried_through_the_form(sso):
    html = sso.authorize(state='"><script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert re.search(r'action="/oauth/v2/oauth-authorize\?[^"]*&amp;', html)


def test_login_redirects_with_code_state_and_iss(sso):
    params = sso.redirect_params(sso.login())
    assert re.fullmatch(r"[A-Za-z0-9]{32}", params["code"])
    assert params["state"] == "state-123"
    assert params["iss"] == sso.ISSUER


def test_login_redirect_omits_state_when_client_sent_none(sso):
    params = sso.redirect_params(sso.login(state=None))
    assert "state" not in params and params["iss"] == sso.ISSUER


def test_login_sets_the_sandbox_sso_cookie(sso):
    response = sso.login()
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("pagero_sandbox_sso=") and "HttpOnly" in c for c in cookies)


def test_login_with_wrong_password_shows_form_again_with_message(sso, state):
    response = sso.login(password="wrong")
    assert response.status_code == 401
    assert "Wrong user name or password." in response.get_data(as_text=True)
    assert state.counts["authorization_code"] == 0


def test_login_form_without_csrf_token_is_refused(sso):
    sso.authorize()
    response = sso.client.post(
        "/oauth/v2/oauth-authorize",
        query_string={
            "response_type": "code",
            "client_id": sso.CLIENT_ID,
            "redirect_uri": sso.REDIRECT_URI,
        },
        data={"username": "demo", "password": "demo", "action": "login"},
    )
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)


def test_cancel_redirects_access_denied_with_state_and_iss(sso):
    params = sso.redirect_params(sso.login(action="cancel", password="ignored"))
    assert params["error"] == "access_denied"
    assert params["state"] == "state-123"
    assert params["iss"] == sso.ISSUER
    assert "code" not in params


def test_live_login_skips_the_form_and_redirects_with_a_code(sso):
    sso.login()
    params = sso.redirect_params(sso.authorize(state="second"))
    assert params["code"] and params["state"] == "second" and params["iss"] == sso.ISSUER


def test_prompt_login_forces_the_form_despite_a_live_login(sso):
    sso.login()
    response = sso.authorize(prompt="login")
    assert response.status_code == 200
    assert 'name="password"' in response.get_data(as_text=True)


def _auth_time(state, token_response) -> int:
    jwks = KeySet.import_key_set(state.keys.public_jwks())
    return jwt.decode(token_response["id_token"], jwks).claims["auth_time"]


def test_prompt_login_reauthentication_gives_a_fresh_auth_time(sso, state):
    first = sso.tokens(scope="openid")
    state.advance_clock(120)
    second = sso.tokens(scope="openid", prompt="login")
    assert _auth_time(state, second) - _auth_time(state, first) >= 120


def test_sso_skip_keeps_the_original_auth_time(sso, state):
    first = sso.tokens(scope="openid")
    state.advance_clock(120)
    code = sso.redirect_params(sso.authorize(scope="openid"))["code"]
    second = sso.exchange(code).get_json()
    assert _auth_time(state, second) == _auth_time(state, first)


def test_prompt_none_without_login_redirects_login_required(sso):
    params = sso.redirect_params(sso.authorize(prompt="none"))
    assert params["error"] == "login_required"
    assert params["state"] == "state-123" and params["iss"] == sso.ISSUER


def test_prompt_none_with_live_login_redirects_with_code(sso):
    sso.login()
    assert "code" in sso.redirect_params(sso.authorize(prompt="none"))


def test_authorize_rejects_unknown_client_without_redirecting(sso):
    response = sso.authorize(client_id="someone-else")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_client" in response.get_data(as_text=True)


def test_authorize_rejects_missing_client_id_without_redirecting(sso):
    response = sso.authorize(client_id=None)
    assert response.status_code == 400 and "Location" not in response.headers


def test_authorize_rejects_unregistered_redirect_uri_without_redirecting(sso):
    for uri in ("http://localhost:5000/callback/", "http://evil.example/callback"):
        response = sso.authorize(redirect_uri=uri)
        assert response.status_code == 400
        assert "Location" not in response.headers
        assert "Pagero sandbox (local stand-in, not Pagero)" in response.get_data(as_text=True)


def test_the_unregistered_redirect_uri_page_lists_the_registered_ones_and_how_to_add_one(sso):
    page = sso.authorize(redirect_uri="http://localhost:8000/callback").get_data(as_text=True)
    assert "Registered redirect URIs" in page
    assert f"<code>{sso.REDIRECT_URI}</code>" in page
    assert "SANDBOX_REDIRECT_URIS" in page and "PAGERO_REDIRECT_URI" in page
    other = sso.authorize(client_id="someone-else").get_data(as_text=True)
    assert "Registered redirect URIs" not in other  # only where the redirect URI is the problem


def test_authorize_rejects_missing_redirect_uri_without_redirecting(sso):
    response = sso.authorize(redirect_uri=None)
    assert response.status_code == 400 and "Location" not in response.headers


def test_authorize_redirects_unsupported_response_type_with_state_and_iss(sso):
    params = sso.redirect_params(sso.authorize(response_type="token"))
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "state-123" and params["iss"] == sso.ISSUER


def test_authorize_redirects_invalid_scope(sso):
    params = sso.redirect_params(sso.authorize(scope="all email"))
    assert params["error"] == "invalid_scope"
    assert params["state"] == "state-123" and params["iss"] == sso.ISSUER


def test_authorize_accepts_each_documented_scope(sso):
    for scope in ("all", "openid", "all openid", None):
        sso.client.delete_cookie("pagero_sandbox_sso")
        assert "code" in sso.redirect_params(sso.login(scope=scope))


def test_authorize_refuses_plain_pkce_with_invalid_request(sso):
    verifier, _ = sso.make_pkce()
    for method in ("plain", None):
        params = sso.redirect_params(
            sso.authorize(code_challenge=verifier, code_challenge_method=method)
        )
        assert params["error"] == "invalid_request"
        assert params["iss"] == sso.ISSUER


def test_authorize_refuses_repeated_parameters_without_redirecting(sso):
    # RFC 6749 §3.1: parameters must not repeat; with two states there is none to echo.
    response = sso.client.get(
        "/oauth/v2/oauth-authorize?response_type=code&client_id=pagero-demo-client"
        "&redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Fcallback&state=a&state=b"
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert "invalid_request" in response.get_data(as_text=True)
