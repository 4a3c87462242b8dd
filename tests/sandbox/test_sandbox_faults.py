"""Fault scenarios: each switch makes the sandbox fail the way a real server can."""

from __future__ import annotations

import time

import pytest

from sandbox.faults import WRONG_ISSUER

DOCUMENTS = "/document/v1/documents"


def test_wrong_iss_fault_sends_a_different_issuer_on_success_and_error(sso, state):
    state.faults.add("wrong_iss")
    assert sso.redirect_params(sso.login())["iss"] == WRONG_ISSUER
    assert sso.redirect_params(sso.authorize(scope="bogus"))["iss"] == WRONG_ISSUER
    assert WRONG_ISSUER != sso.ISSUER


def test_missing_iss_fault_drops_iss_from_redirects(sso, state):
    state.faults.add("missing_iss")
    params = sso.redirect_params(sso.login())
    assert "iss" not in params and "code" in params
    assert "iss" not in sso.redirect_params(sso.authorize(response_type="token"))


def test_faults_can_be_set_from_configuration(make_sso):
    driver = make_sso(SANDBOX_FAULTS="missing_iss, api_503")
    assert driver.state.faults == {"missing_iss", "api_503"}
    assert "iss" not in driver.redirect_params(driver.login())


def test_token_slow_fault_delays_the_token_endpoint(sso, state):
    code = sso.code()
    state.faults.add("token_slow")
    started = time.monotonic()
    response = sso.exchange(code)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_token_500_fault_answers_html_server_error(sso, state):
    code = sso.code()
    state.faults.add("token_500")
    response = sso.exchange(code)
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert state.counts["authorization_code"] == 0


def test_token_malformed_fault_answers_200_with_non_json(sso, state):
    code = sso.code()
    state.faults.add("token_malformed")
    response = sso.exchange(code)
    assert response.status_code == 200
    assert not response.is_json
    with pytest.raises(ValueError):
        response.get_json(force=True)


def test_refresh_invalid_grant_fault_refuses_every_refresh(sso, state):
    body = sso.tokens()
    state.faults.add("refresh_invalid_grant")
    response = sso.refresh(body["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert state.counts["refresh_token_rejected"] == 1
    state.faults.clear()
    assert sso.refresh(body["refresh_token"]).status_code == 200


def test_api_401_fault_refuses_live_tokens_as_invalid(sso, state):
    token = sso.tokens()["access_token"]
    state.faults.add("api_401")
    response = sso.api(DOCUMENTS, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert state.counts["api"] == 0


def test_api_503_fault_answers_json_service_unavailable(sso, state):
    token = sso.tokens()["access_token"]
    state.faults.add("api_503")
    response = sso.api(DOCUMENTS, token)
    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable"
    assert response.headers["Retry-After"] == "1"
