"""Sandbox-only admin helpers and test introspection."""

from __future__ import annotations

import re
import time

import pytest
import requests


def test_stats_reports_counts_and_never_tokens(sso, state):
    body = sso.tokens()
    sso.refresh(body["refresh_token"])
    response = sso.client.get("/_sandbox/stats")
    assert response.get_json() == {"counts": {"authorization_code": 1, "refresh_token": 1}}
    text = response.get_data(as_text=True)
    assert not any(secret in text for secret in state.issued_secrets())


def test_faults_endpoint_replaces_the_fault_set(sso, state):
    state.faults.add("api_401")
    response = sso.client.post("/_sandbox/faults", json={"faults": ["token_500", "wrong_iss"]})
    assert response.status_code == 200
    assert state.faults == {"token_500", "wrong_iss"}
    assert sso.client.get("/_sandbox/faults").get_json() == {"faults": ["token_500", "wrong_iss"]}
    sso.client.post("/_sandbox/faults", json={"faults": []})
    assert state.faults == set()


def test_faults_endpoint_rejects_unknown_names_and_bad_bodies(sso, state):
    assert sso.client.post("/_sandbox/faults", json={"faults": ["nope"]}).status_code == 400
    assert sso.client.post("/_sandbox/faults", json=["api_401"]).status_code == 400
    assert sso.client.post("/_sandbox/faults", data="x").status_code == 400
    assert state.faults == set()


def test_signing_key_endpoint_rotates_the_key_keeping_or_changing_its_kid(sso, state):
    def published():
        return sso.client.get("/oauth/v2/oauth-anonymous/jwks").get_json()["keys"]

    kid, before = state.keys.current_kid, published()
    answer = sso.client.post("/_sandbox/signing-key", json={"keep_kid": True})
    assert answer.status_code == 200 and answer.get_json() == {"kid": kid}
    after = published()
    assert [k["kid"] for k in after] == [kid]  # the same kid, now for another key
    assert after[0]["n"] != before[0]["n"]
    answer = sso.client.post("/_sandbox/signing-key", json={})
    assert answer.get_json()["kid"] != kid  # a new kid; the old key stays published
    assert [k["kid"] for k in published()] == [kid, answer.get_json()["kid"]]


def test_signing_key_endpoint_takes_only_json(sso, state):
    kid = state.keys.current_kid
    # A cross-site form cannot send JSON without a CORS preflight the sandbox never allows.
    assert sso.client.post("/_sandbox/signing-key", data={"keep_kid": "true"}).status_code == 400
    assert sso.client.post("/_sandbox/signing-key", json={"keep_kid": "yes"}).status_code == 400
    assert sso.client.post("/_sandbox/signing-key", json=[]).status_code == 400
    assert state.keys.current_kid == kid and len(state.keys.public_jwks()["keys"]) == 1


def test_clock_endpoint_expires_codes(sso, state):
    code = sso.code()
    assert sso.client.post("/_sandbox/clock", json={"seconds": 120}).status_code == 200
    assert sso.exchange(code).get_json()["error"] == "invalid_grant"
    assert sso.client.post("/_sandbox/clock", json={"seconds": -1}).status_code == 400


@pytest.mark.parametrize("seconds", ["NaN", "Infinity", "1e308", '"120"', "true", "null"])
def test_clock_refuses_a_step_that_is_not_a_usable_number(sso, state, seconds):
    before = state.now()
    answer = sso.client.post(
        "/_sandbox/clock", data=f'{{"seconds": {seconds}}}', content_type="application/json"
    )
    assert answer.status_code == 400
    assert abs(state.now() - before) < 5  # the clock did not move
    assert sso.exchange(sso.code()).status_code == 200  # and the sandbox still works


def test_reset_forgets_tokens_logins_counts_faults_and_clock_but_keeps_keys(sso, state):
    body = sso.tokens()
    kid = state.keys.current_kid
    state.faults.add("api_503")
    state.advance_clock(1000)
    assert sso.client.post("/_sandbox/reset", json={}).status_code == 200
    assert state.counts == {} and state.faults == set()
    assert abs(state.now() - time.time()) < 5
    assert sso.api("/document/v1/documents", body["access_token"]).status_code == 401
    assert sso.authorize().status_code == 200  # the SSO login is gone too
    assert state.keys.current_kid == kid


#: Each state-changing endpoint with a body its script or page sends.
CHANGES = [
    ("/_sandbox/reset", {}),
    ("/_sandbox/faults", {"faults": ["api_503"]}),
    ("/_sandbox/clock", {"seconds": 3600}),
    ("/_sandbox/signing-key", {}),
]


def _state_of(state) -> tuple:
    return (
        dict(state.counts),
        set(state.faults),
        round(state.now() - time.time()),
        state.keys.current_kid,
    )


@pytest.mark.parametrize(("path", "body"), CHANGES)
def test_a_cross_site_form_post_changes_nothing(live_sandbox, path, body):
    state = live_sandbox.state
    state.counts["authorization_code"] = 1
    before = _state_of(state)
    form = {"faults": "api_503", "seconds": "3600"}
    # What a form on another site sends: a browser adds Origin and Sec-Fetch-Site ...
    attacked = requests.post(
        live_sandbox.base_url + path,
        data=form,
        headers={"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"},
        timeout=5,
    )
    assert attacked.status_code == 403
    # ... an old browser may send neither; a form still cannot send JSON.
    no_headers = requests.post(live_sandbox.base_url + path, data=form, timeout=5)
    assert no_headers.status_code == 400
    text_plain = requests.post(
        live_sandbox.base_url + path,
        data='{"faults": ["api_503"], "seconds": 3600}',
        headers={"Content-Type": "text/plain"},
        timeout=5,
    )
    assert text_plain.status_code == 400
    assert _state_of(state) == before


@pytest.mark.parametrize(("path", "body"), CHANGES)
@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://attacker.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
)
def test_json_that_says_it_comes_from_another_site_is_refused(live_sandbox, path, body, headers):
    state = live_sandbox.state
    state.counts["authorization_code"] = 1
    before = _state_of(state)
    answer = requests.post(live_sandbox.base_url + path, json=body, headers=headers, timeout=5)
    assert answer.status_code == 403 and answer.json()["error"] == "cross_origin_request"
    assert _state_of(state) == before


@pytest.mark.parametrize(("path", "body"), CHANGES)
def test_json_from_a_script_or_the_sandboxs_own_origin_is_accepted(live_sandbox, path, body):
    base = live_sandbox.base_url
    for headers in ({}, {"Origin": base, "Sec-Fetch-Site": "same-origin"}):
        assert requests.post(base + path, json=body, headers=headers, timeout=5).status_code == 200


def test_the_admin_pages_form_is_refused_from_another_site_even_with_its_token(live_sandbox):
    base, http = live_sandbox.base_url, requests.Session()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', http.get(base + "/_sandbox/admin", timeout=5).text
    ).group(1)
    form = {"csrf_token": token, "action": "faults", "fault": "api_503"}
    attacked = http.post(
        base + "/_sandbox/admin",
        data=form,
        headers={"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"},
        allow_redirects=False,
        timeout=5,
    )
    assert attacked.status_code == 403 and live_sandbox.state.faults == set()
    own = http.post(
        base + "/_sandbox/admin",
        data=form,
        headers={"Origin": base, "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
        timeout=5,
    )
    assert own.status_code == 303 and live_sandbox.state.faults == {"api_503"}


def test_every_state_changing_sandbox_endpoint_is_covered_above(live_sandbox):
    changing = {
        rule.rule
        for rule in live_sandbox.app.url_map.iter_rules()
        if rule.rule.startswith("/_sandbox/") and rule.methods - {"GET", "HEAD", "OPTIONS"}
    }
    assert changing == {path for path, _ in CHANGES} | {"/_sandbox/admin"}
