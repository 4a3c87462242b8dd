"""Sandbox settings: mapping, then environment, then defaults; every bad value named."""

from __future__ import annotations

import os

import pytest

from sandbox import create_sandbox
from sandbox.settings import SandboxConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SANDBOX_"):
            monkeypatch.delenv(name)


def test_defaults_match_the_documented_values():
    settings = load_settings()
    assert settings.host == "127.0.0.1" and settings.port == 5001
    assert settings.base_url == "http://localhost:5001"
    assert settings.issuer == "http://localhost:5001/oauth/v2/oauth-anonymous"
    assert settings.client_id == "pagero-demo-client"
    assert settings.client_secret == "pagero-demo-secret"
    assert settings.redirect_uris == ("http://localhost:5000/callback",)
    assert settings.post_logout_redirect_uris == ("http://localhost:5000/logged-out",)
    assert (settings.access_token_ttl, settings.refresh_token_ttl, settings.code_ttl) == (
        600,
        86400,
        60,
    )
    assert settings.large_document_bytes == 200 * 1024 * 1024
    assert settings.faults == frozenset() and settings.slow_seconds == 5


def test_environment_is_read_when_the_mapping_lacks_a_key(monkeypatch):
    monkeypatch.setenv("SANDBOX_PORT", "6001")
    monkeypatch.setenv("SANDBOX_CLIENT_ID", "from-env")
    settings = load_settings({"SANDBOX_CLIENT_ID": "from-mapping"})
    assert settings.port == 6001
    assert settings.base_url == "http://localhost:6001"
    assert settings.client_id == "from-mapping"


def test_redirect_uris_split_on_commas_and_spaces():
    settings = load_settings(
        {"SANDBOX_REDIRECT_URIS": "http://a.test/cb, http://b.test/cb http://c.test/cb"}
    )
    assert settings.redirect_uris == ("http://a.test/cb", "http://b.test/cb", "http://c.test/cb")


def test_secret_key_is_random_per_process_unless_set():
    assert load_settings().secret_key != load_settings().secret_key
    assert load_settings({"SANDBOX_SECRET_KEY": "k"}).secret_key == "k"


def test_every_bad_setting_is_named_in_one_error():
    with pytest.raises(SandboxConfigError) as caught:
        load_settings(
            {
                "SANDBOX_PORT": "http",
                "SANDBOX_CODE_TTL": "0",
                "SANDBOX_FAULTS": "api_401,gremlins",
                "SANDBOX_REDIRECT_URIS": "callback",
                "SANDBOX_SLOW_SECONDS": "soon",
            }
        )
    message = str(caught.value)
    for name in (
        "SANDBOX_PORT",
        "SANDBOX_CODE_TTL",
        "SANDBOX_FAULTS",
        "SANDBOX_REDIRECT_URIS",
        "SANDBOX_SLOW_SECONDS",
    ):
        assert name in message
    assert "gremlins" in message


def test_create_sandbox_uses_the_sso_cookie_name_and_exposes_state():
    app = create_sandbox({"SANDBOX_FAULTS": "token_500"})
    assert app.config["SESSION_COOKIE_NAME"] == "pagero_sandbox_sso"
    assert app.extensions["pagero_sandbox"].faults == {"token_500"}
