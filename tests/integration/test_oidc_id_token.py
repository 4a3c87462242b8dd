"""Logins with ``openid`` against the sandbox over real HTTP: a good id_token logs the user
in and shows their claims; every spoiled one (sandbox faults) refuses the login."""

from __future__ import annotations

import re

import pytest
import requests

from tests.leaks import assert_no_leaks

JWKS = "/oauth/v2/oauth-anonymous/jwks"


def error_code(response) -> str | None:
    found = re.search(r'data-error-code="([^"]+)"', response.text)
    return found.group(1) if found else None


def issued_id_tokens(sandbox, since: int = 0) -> list[str]:
    """The id_tokens among the sandbox's secrets (JWS compact: three dot-separated parts)
    issued after the first ``since`` secrets (the list outlives each test's reset)."""
    return [s for s in sandbox.issued_secrets()[since:] if s.count(".") == 2]


def test_good_id_token_logs_in_and_the_profile_shows_its_claims(browser, sandbox, caplog):
    before = len(sandbox.issued_secrets())
    done = browser.login("alice", "alice", scope="all openid")
    assert done.status_code == 303 and done.headers["Location"] == "/profile"
    profile = browser.get("/profile").text
    assert "Who you are" in profile
    for shown in ("Alice", "alice", "Alice Trading", "Pagero public id", "publicid"):
        assert shown in profile
    (id_token,) = issued_id_tokens(sandbox, since=before)
    assert id_token not in profile  # masked, never whole
    assert id_token[:8] in profile
    assert_no_leaks(sandbox, browser, caplog)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("id_token_bad_signature", "bad_signature: the signature does not match"),
        ("id_token_wrong_aud", "aud"),
        ("id_token_wrong_iss", "iss"),
        ("id_token_expired", "expired"),
        ("id_token_wrong_nonce", "nonce does not match this login"),
        ("id_token_no_nonce", "no nonce"),
        ("id_token_unknown_kid", "kid"),
        ("id_token_alg_none", "none"),
        ("id_token_hs256", "HS256"),
    ],
)
def test_spoiled_id_token_refuses_the_login_with_a_clear_page(
    browser, sandbox, caplog, fault, reason
):
    sandbox.faults.add(fault)
    response = browser.login(scope="all openid")
    assert response.status_code == 400
    assert error_code(response) == "invalid_id_token"
    assert "The identity token failed validation" in response.text
    assert reason in response.text
    assert sandbox.counts["authorization_code"] == 1  # issued, then refused by the app
    assert browser.get("/profile").status_code == 401  # nothing was stored
    assert "invalid_id_token" in caplog.text
    assert_no_leaks(sandbox, browser, caplog)


def test_unknown_kid_fetches_the_jwks_once_more_then_refuses(
    browser, sandbox, sandbox_recorder, caplog
):
    sandbox.faults.add("id_token_unknown_kid")
    assert browser.login(scope="all openid").status_code == 400
    assert len(sandbox_recorder.to(JWKS)) == 2  # the first fetch, one refetch for the kid
    assert "fetching the JWKS again" in caplog.text


def test_rotated_signing_key_is_picked_up_with_one_refetch(
    client_app, new_browser, sandbox, sandbox_recorder, caplog
):
    first = new_browser()
    assert first.login("alice", "alice", scope="all openid").headers["Location"] == "/profile"
    sandbox.rotate_signing_key()
    second = new_browser()
    assert second.login("bob", "bob", scope="all openid").headers["Location"] == "/profile"
    third = new_browser()
    assert third.login("demo", "demo", scope="all openid").headers["Location"] == "/profile"
    assert len(sandbox_recorder.to(JWKS)) == 2  # once at first use, once after the rotation
    assert_no_leaks(sandbox, second, caplog)


def test_key_rotated_under_the_same_kid_is_picked_up_with_one_refetch(
    client_app, new_browser, sandbox, sandbox_recorder, ports, caplog
):
    first = new_browser()
    assert first.login("alice", "alice", scope="all openid").headers["Location"] == "/profile"
    kid = sandbox.keys.current_kid
    # The provider replaces its key and keeps the kid (the sandbox's admin hook, over HTTP).
    rotated = requests.post(
        f"http://localhost:{ports['sandbox']}/_sandbox/signing-key",
        json={"keep_kid": True},
        timeout=10,
    )
    assert rotated.status_code == 200 and rotated.json()["kid"] == kid
    second = new_browser()
    done = second.login("bob", "bob", scope="all openid")
    assert done.headers.get("Location") == "/profile", done.text
    third = new_browser()
    assert third.login("demo", "demo", scope="all openid").headers["Location"] == "/profile"
    assert len(sandbox_recorder.to(JWKS)) == 2  # once at first use, once after the rotation
    assert "fetching the JWKS again" in caplog.text
    assert_no_leaks(sandbox, second, caplog)


def test_keys_unreachable_refuses_the_login_without_storing_it(make_app, new_browser, sandbox):
    make_app(PAGERO_JWKS_URI="http://localhost:9/jwks")
    browser = new_browser()
    response = browser.login(scope="all openid")
    assert response.status_code == 502
    assert "keys that sign" in response.text
    assert browser.get("/profile").status_code == 401


def test_login_without_openid_has_no_id_token_and_says_where_publicid_comes_from(
    browser, sandbox, caplog
):
    before = len(sandbox.issued_secrets())
    assert browser.login().headers["Location"] == "/profile"
    profile = browser.get("/profile").text
    assert issued_id_tokens(sandbox, since=before) == []
    assert "Who you are" not in profile
    assert "its value comes in the id_token" in profile
    assert_no_leaks(sandbox, browser, caplog)
