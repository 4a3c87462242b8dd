"""Configuration of OpenID Connect: discovery per profile, the metadata URL, logout URIs."""

from __future__ import annotations

import pytest

from config import ConfigError, load_settings
from tests.factories import GOOD_KEY, production_settings

ISSUER = "https://sso.pageroonline.com/oauth/v2/oauth-anonymous"


def test_sandbox_discovers_from_the_issuer_and_returns_to_logged_out():
    settings = load_settings({"APP_PORT": "8000", "SANDBOX_PORT": "8001"})
    assert settings.discovery is True
    assert settings.metadata_url == (
        "http://localhost:8001/oauth/v2/oauth-anonymous/.well-known/openid-configuration"
    )
    assert settings.end_session_url == "http://localhost:8001/oauth/v2/oauth-session/logout"
    assert settings.post_logout_redirect_uri == "http://localhost:8000/logged-out"


def test_production_does_not_guess_a_metadata_url():
    settings = production_settings()
    assert settings.discovery is False
    assert settings.metadata_url is None
    assert settings.end_session_url is None
    assert settings.post_logout_redirect_uri == "https://app.example.com/logged-out"


def test_production_discovery_opt_in_derives_the_url_from_the_issuer():
    settings = production_settings(PAGERO_DISCOVERY="true")
    assert settings.metadata_url == ISSUER + "/.well-known/openid-configuration"


def test_setting_the_metadata_url_turns_discovery_on():
    url = "https://sso.pageroonline.com/custom/.well-known/openid-configuration"
    settings = production_settings(PAGERO_METADATA_URL=url)
    assert settings.discovery is True and settings.metadata_url == url


def test_metadata_url_with_discovery_off_is_a_contradiction():
    with pytest.raises(ConfigError) as caught:
        production_settings(
            PAGERO_DISCOVERY="false",
            PAGERO_METADATA_URL="https://sso.example/.well-known/openid-configuration",
        )
    assert "PAGERO_DISCOVERY=false" in caught.value.problems["PAGERO_METADATA_URL"]


def test_production_refuses_http_for_logout_and_metadata_urls():
    with pytest.raises(ConfigError) as caught:
        production_settings(
            PAGERO_POST_LOGOUT_REDIRECT_URI="http://app.example.com/logged-out",
            PAGERO_END_SESSION_URL="http://sso.example/logout",
            PAGERO_METADATA_URL="http://sso.example/.well-known/openid-configuration",
        )
    assert set(caught.value.problems) == {
        "PAGERO_POST_LOGOUT_REDIRECT_URI",
        "PAGERO_END_SESSION_URL",
        "PAGERO_METADATA_URL",
    }


def test_a_bad_redirect_uri_is_reported_once_not_again_for_its_derived_logout_uri():
    with pytest.raises(ConfigError) as caught:
        production_settings(PAGERO_REDIRECT_URI="http://app.example.com/callback")
    assert "PAGERO_REDIRECT_URI" in caught.value.problems
    assert "PAGERO_POST_LOGOUT_REDIRECT_URI" not in caught.value.problems


def test_staging_allows_an_http_post_logout_uri_on_localhost_only():
    base = {
        "PAGERO_ENV": "staging",
        "PAGERO_CLIENT_ID": "c",
        "PAGERO_CLIENT_SECRET": "s",
        "SECRET_KEY": GOOD_KEY,
        "PAGERO_AUTHORIZE_URL": "https://sso.staging.example/authorize",
        "PAGERO_TOKEN_URL": "https://sso.staging.example/token",
        "PAGERO_ISSUER": "https://sso.staging.example/oauth/v2/oauth-anonymous",
        "PAGERO_API_BASE_URL": "https://api.staging.example",
        "PAGERO_REDIRECT_URI": "http://localhost:5000/callback",
    }
    assert load_settings(base).post_logout_redirect_uri == "http://localhost:5000/logged-out"
    with pytest.raises(ConfigError) as caught:
        load_settings({**base, "PAGERO_POST_LOGOUT_REDIRECT_URI": "http://qa.example/bye"})
    assert set(caught.value.problems) == {"PAGERO_POST_LOGOUT_REDIRECT_URI"}


def test_settings_remember_which_values_were_set_explicitly():
    settings = production_settings(PAGERO_REVOCATION_URL="", PAGERO_DISCOVERY="true")
    assert {"revocation_url", "discovery", "client_id"} <= settings.explicit
    assert "token_url" not in settings.explicit  # a profile default
    assert settings.revocation_url is None
