"""The fault scenarios page QA uses (/_sandbox/admin), and the short_access_tokens fault."""

from __future__ import annotations

import re

from sandbox.faults import DESCRIPTIONS, KNOWN_FAULTS, SHORT_ACCESS_TOKEN_TTL

ADMIN = "/_sandbox/admin"


def csrf(sso) -> str:
    page = sso.client.get(ADMIN).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_page_offers_every_fault_as_a_labelled_checkbox(sso, state):
    state.faults.add("api_503")
    page = sso.client.get(ADMIN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    boxes = re.findall(
        r'<label class="check"><input type="checkbox" name="fault" value="([^"]+)"', html
    )
    assert sorted(boxes) == sorted(KNOWN_FAULTS)
    assert 'value="api_503" checked' in html and 'value="api_401">' in html
    assert sorted(n for group in DESCRIPTIONS.values() for n, _ in group) == sorted(KNOWN_FAULTS)


def test_ticked_faults_replace_the_active_set(sso, state):
    state.faults.add("api_401")
    token = csrf(sso)
    answer = sso.client.post(
        ADMIN, data={"csrf_token": token, "fault": ["wrong_iss", "token_500"], "action": "faults"}
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("?done=faults")
    assert state.faults == {"wrong_iss", "token_500"}
    assert "<code>token_500</code>, <code>wrong_iss</code>" in sso.client.get(ADMIN).get_data(
        as_text=True
    )
    sso.client.post(ADMIN, data={"csrf_token": token, "action": "faults"})  # nothing ticked
    assert state.faults == set()


def test_the_form_needs_its_anti_forgery_token_and_known_names(sso, state):
    assert sso.client.post(ADMIN, data={"fault": ["api_503"]}).status_code == 400
    token = csrf(sso)
    assert sso.client.post(ADMIN, data={"csrf_token": token, "fault": ["nope"]}).status_code == 400
    assert state.faults == set()


def test_the_clock_and_reset_buttons(sso, state):
    code = sso.code()  # a login starts a new sandbox session: take the form's token after
    token = csrf(sso)
    sso.client.post(ADMIN, data={"csrf_token": token, "action": "clock", "seconds": "120"})
    assert sso.exchange(code).get_json()["error"] == "invalid_grant"  # the code expired
    for seconds in ("-1", "nan", "inf", "1e308", "soon"):
        bad = {"csrf_token": token, "action": "clock", "seconds": seconds}
        assert sso.client.post(ADMIN, data=bad).status_code == 400, seconds
    state.faults.add("api_503")
    sso.client.post(ADMIN, data={"csrf_token": token, "action": "reset"})
    assert state.faults == set() and state.counts == {}


def test_short_access_tokens_fault_issues_tokens_that_expire_in_seconds(sso, state):
    state.faults.add("short_access_tokens")
    body = sso.tokens()
    assert body["expires_in"] == SHORT_ACCESS_TOKEN_TTL == 5
    assert sso.api("/document/v1/documents", body["access_token"]).status_code == 200
    state.advance_clock(SHORT_ACCESS_TOKEN_TTL + 1)
    refused = sso.api("/document/v1/documents", body["access_token"])
    assert refused.status_code == 401 and "expired" in refused.headers["WWW-Authenticate"]
    renewed = sso.refresh(body["refresh_token"]).get_json()
    assert renewed["expires_in"] == 5  # still short while the fault is on
    state.faults.clear()
    assert sso.refresh(renewed["refresh_token"]).get_json()["expires_in"] == 600


def test_short_access_tokens_can_be_set_from_configuration(make_sso):
    driver = make_sso(SANDBOX_FAULTS="short_access_tokens")
    assert driver.tokens()["expires_in"] == 5
