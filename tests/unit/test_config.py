"""Configuration: profiles, environment overrides, and one clear start-up error."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from config import ConfigError, load_settings
from config.profiles import PROFILES
from config.variables import FIELDS
from tests.factories import GOOD_KEY, production_settings

ROOT = Path(__file__).resolve().parents[2]


def test_sandbox_profile_needs_no_variables():
    settings = load_settings({})
    assert settings.profile == "sandbox"
    assert settings.redirect_uri == "http://localhost:5000/callback"
    assert settings.authorize_url == "http://localhost:5001/oauth/v2/oauth-authorize"
    assert settings.api_base_url == "http://localhost:5001/api"
    assert settings.scope == "all"
    assert settings.token_auth_method == "client_secret_basic"
    assert settings.use_pkce is True


@pytest.mark.parametrize("profile", ["sandbox", "staging", "production"])
def test_pkce_is_on_by_default_in_every_profile(profile):
    assert PROFILES[profile]({}).default("PAGERO_USE_PKCE") == "true"


def test_sandbox_profile_follows_app_and_sandbox_ports():
    settings = load_settings({"APP_PORT": "8000", "SANDBOX_PORT": "8001"})
    assert settings.redirect_uri == "http://localhost:8000/callback"
    assert settings.token_url == "http://localhost:8001/oauth/v2/oauth-token"
    assert settings.issuer == "http://localhost:8001/oauth/v2/oauth-anonymous"


def test_production_profile_defaults_to_pageros_documented_endpoints():
    settings = production_settings()
    assert settings.authorize_url == "https://sso.pageroonline.com/oauth/v2/oauth-authorize"
    assert settings.token_url == "https://sso.pageroonline.com/oauth/v2/oauth-token"
    assert settings.revocation_url == "https://sso.pageroonline.com/oauth/v2/oauth-revoke"
    assert settings.issuer == "https://sso.pageroonline.com/oauth/v2/oauth-anonymous"
    assert settings.api_base_url == "https://api.pageroonline.com"


@pytest.mark.parametrize(
    ("env", "attr", "value"),
    [
        ("PAGERO_CLIENT_ID", "client_id", "my-client"),
        ("PAGERO_AUTHORIZE_URL", "authorize_url", "https://sso.example/authorize"),
        ("PAGERO_TOKEN_URL", "token_url", "https://sso.example/token"),
        ("PAGERO_ISSUER", "issuer", "https://sso.example"),
        ("PAGERO_API_BASE_URL", "api_base_url", "https://api.example/v"),
        ("PAGERO_REDIRECT_URI", "redirect_uri", "https://app.example/callback"),
        ("PAGERO_SCOPE", "scope", "all openid"),
        ("PAGERO_TOKEN_AUTH_METHOD", "token_auth_method", "client_secret_post"),
        ("PAGERO_REVOCATION_URL", "revocation_url", "https://sso.example/revoke"),
        ("PAGERO_USE_PKCE", "use_pkce", False),
        ("SESSION_BACKEND", "session_backend", "filesystem"),
    ],
)
def test_every_value_can_be_overridden_from_the_environment(env, attr, value):
    raw = ("true" if value else "false") if isinstance(value, bool) else value
    assert getattr(production_settings(**{env: raw}), attr) == value


def test_empty_revocation_url_switches_revocation_off():
    assert production_settings(PAGERO_REVOCATION_URL="").revocation_url is None


def test_production_names_every_bad_variable_in_one_message():
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "PAGERO_ENV": "production",
                "PAGERO_REDIRECT_URI": "http://app.example.com/callback",
                "SECRET_KEY": "dev",
                "PAGERO_TOKEN_AUTH_METHOD": "private_key_jwt",
                "PAGERO_SCOPE": 'all "quoted"',
            }
        )
    problems = caught.value.problems
    assert set(problems) == {
        "PAGERO_CLIENT_ID",
        "PAGERO_CLIENT_SECRET",
        "PAGERO_REDIRECT_URI",
        "SECRET_KEY",
        "PAGERO_TOKEN_AUTH_METHOD",
        "PAGERO_SCOPE",
    }
    message = str(caught.value)
    assert "PAGERO_REDIRECT_URI: expected an https:// URI in production" in message
    assert "client_secret_basic, client_secret_post" in message
    assert "dev" not in message.split("SECRET_KEY:")[1].split("\n")[0].split("expected")[0]


def test_no_secret_has_a_default_outside_the_sandbox():
    for profile in ("staging", "production"):
        with pytest.raises(ConfigError) as caught:
            load_settings({"PAGERO_ENV": profile})
        assert {"PAGERO_CLIENT_SECRET", "SECRET_KEY"} <= set(caught.value.problems)


def test_staging_requires_every_endpoint_and_https():
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "PAGERO_ENV": "staging",
                "PAGERO_CLIENT_ID": "c",
                "PAGERO_CLIENT_SECRET": "s",
                "SECRET_KEY": GOOD_KEY,
                "PAGERO_TOKEN_URL": "http://sso.staging.example/token",
                "PAGERO_REDIRECT_URI": "http://localhost:5000/callback",
            }
        )
    problems = caught.value.problems
    assert problems["PAGERO_TOKEN_URL"] == "expected an https:// URL outside the sandbox"
    assert {"PAGERO_AUTHORIZE_URL", "PAGERO_ISSUER", "PAGERO_API_BASE_URL"} <= set(problems)
    assert "PAGERO_REDIRECT_URI" not in problems  # http on the tester's own machine is fine


@pytest.mark.parametrize("profile", ["staging", "production"])
@pytest.mark.parametrize(
    "key",
    [
        "a" * 32,
        "ab" * 20,
        "0123456789abcdef" * 2,
        "x7Qp" * 12,
        "Zk3" + "0" * 13 + "f4b9c2d8e1a7",
        "2fa9c07d1b6e83c4" + "5" * 16,
    ],
)
def test_a_secret_key_with_little_entropy_is_refused_with_how_to_make_one(profile, key):
    with pytest.raises(ConfigError) as caught:
        production_settings(PAGERO_ENV=profile, SECRET_KEY=key)
    problem = caught.value.problems["SECRET_KEY"]
    assert 'python -c "import secrets; print(secrets.token_hex(32))"' in problem
    assert key not in str(caught.value)


def test_random_hex_and_urlsafe_keys_of_the_required_length_are_accepted():
    for _ in range(2000):
        for key in (secrets.token_hex(16), secrets.token_hex(32), secrets.token_urlsafe(24)):
            assert production_settings(SECRET_KEY=key).secret_key == key


def test_unknown_profile_is_refused():
    with pytest.raises(ConfigError, match="PAGERO_ENV: expected one of: sandbox"):
        load_settings({"PAGERO_ENV": "prod"})


def test_secrets_stay_out_of_repr():
    settings = production_settings()
    assert "s3cret-value" not in repr(settings)
    assert GOOD_KEY not in repr(settings)


def test_create_app_refuses_to_start_with_bad_configuration(tmp_path):
    with pytest.raises(ConfigError, match="PAGERO_HTTP_READ_TIMEOUT"):
        create_app({"INSTANCE_PATH": str(tmp_path), "PAGERO_HTTP_READ_TIMEOUT": "soon"})


def test_sandbox_secret_key_is_generated_once_and_shared(tmp_path):
    first = create_app({"INSTANCE_PATH": str(tmp_path)})
    second = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_dotenv_file_is_read_and_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("PAGERO_SCOPE=all openid\nPAGERO_USE_PKCE=true\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    env.update(PYTHONPATH=str(ROOT), PAGERO_USE_PKCE="false", INSTANCE_PATH=str(tmp_path / "i"))
    script = "import wsgi; s = wsgi.app.config['PAGERO_SETTINGS']; print(s.scope, s.use_pkce)"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "all openid False"


def test_the_configuration_doc_documents_every_variable():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [f.env for f in FIELDS if f"`{f.env}`" not in doc]
    assert missing == []
