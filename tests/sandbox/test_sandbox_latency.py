"""SANDBOX_API_DELAY_MS and SANDBOX_TOKEN_DELAY_MS: a sandbox as slow as a distant Pagero."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.settings import MAX_DELAY_MS, SandboxConfigError, load_settings


def test_delays_default_to_none():
    settings = load_settings({})
    assert (settings.api_delay_ms, settings.token_delay_ms) == (0, 0)


def test_delays_are_read_in_milliseconds():
    settings = load_settings({"SANDBOX_API_DELAY_MS": "250", "SANDBOX_TOKEN_DELAY_MS": "40"})
    assert (settings.api_delay_ms, settings.token_delay_ms) == (250, 40)


@pytest.mark.parametrize("value", ["-1", "0.5", "soon", "", str(MAX_DELAY_MS + 1)])
def test_a_bad_delay_is_named(value):
    with pytest.raises(SandboxConfigError) as caught:
        load_settings({"SANDBOX_API_DELAY_MS": value, "SANDBOX_TOKEN_DELAY_MS": value})
    assert "SANDBOX_API_DELAY_MS" in str(caught.value)
    assert "SANDBOX_TOKEN_DELAY_MS" in str(caught.value)


def test_token_requests_wait_the_token_delay(make_sso):
    sso = make_sso(SANDBOX_TOKEN_DELAY_MS="300")
    code = sso.code()
    started = time.monotonic()
    response = sso.exchange(code)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_api_calls_wait_the_api_delay_on_the_threaded_server(serve_live, sso):
    with serve_live(SANDBOX_API_DELAY_MS="300") as sandbox:
        token = type(sso)(sandbox.app.test_client()).tokens()["access_token"]
        started = time.monotonic()
        response = requests.get(
            sandbox.base_url + "/api/document/v1/documents",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.3
