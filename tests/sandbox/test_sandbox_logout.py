"""RP-initiated logout at the sandbox SSO."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def _logout(sso, **params):
    return sso.client.get("/oauth/v2/oauth-session/logout", query_string=params)


def test_logout_with_id_token_hint_redirects_with_state_and_ends_the_login(sso):
    body = sso.tokens(scope="openid")
    response = _logout(
        sso,
        id_token_hint=body["id_token"],
        post_logout_redirect_uri=sso.POST_LOGOUT_URI,
        state="bye",
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location._replace(query="").geturl() == sso.POST_LOGOUT_URI
    assert parse_qs(location.query) == {"state": ["bye"]}
    # The SSO login is gone: authorizing shows the form again.
    assert sso.authorize().status_code == 200


def test_logout_without_id_token_hint_still_redirects_to_a_registered_uri(sso):
    sso.login()
    response = _logout(sso, post_logout_redirect_uri=sso.POST_LOGOUT_URI, state="s")
    assert response.status_code == 302
    assert response.headers["Location"] == sso.POST_LOGOUT_URI + "?state=s"
    assert sso.authorize().status_code == 200


def test_logout_rejects_unregistered_post_logout_redirect_uri_without_redirecting(sso):
    sso.login()
    response = _logout(sso, post_logout_redirect_uri="http://evil.example/")
    assert response.status_code == 400
    assert "Location" not in response.headers
    # A refused logout request ends nothing.
    assert sso.authorize().status_code == 302


def test_logout_rejects_a_forged_id_token_hint(sso):
    response = _logout(
        sso,
        id_token_hint="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        post_logout_redirect_uri=sso.POST_LOGOUT_URI,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_logout_without_redirect_uri_shows_logged_out_page(sso):
    sso.login()
    response = _logout(sso)
    assert response.status_code == 200
    assert "You are logged out" in response.get_data(as_text=True)
    assert sso.authorize().status_code == 200


def test_logout_keeps_tokens_already_issued(sso):
    body = sso.tokens()
    _logout(sso)
    assert sso.api("/document/v1/documents", body["access_token"]).status_code == 200
