"""The three profiles: ``sandbox`` (default), ``staging`` and ``production``.

A profile supplies defaults and the checks that only make sense for it. Every
default is a string, exactly what the environment variable would hold, so
docs/configuration.md's table and the code say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from . import fields as f

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


#: Values that must never protect a real deployment.
WEAK_SECRET_KEYS = {"dev", "secret", "changeme", "change-me", "sandbox", "development"}


class BaseProfile:
    """Defaults every profile shares. ``None`` means: no default, must be set."""

    name = "base"
    DEFAULTS: Mapping[str, str | None] = {
        "PAGERO_SCOPE": "all",
        "PAGERO_SCOPE_CHOICES": "all openid",
        "PAGERO_TOKEN_AUTH_METHOD": "client_secret_basic",
        # RFC 9700 section 2.1.1: PKCE binds each code to the login that asked for it,
        # so a stolen code put into another login's callback is refused (code
        # injection, section 4.5). Pagero supports S256 and recommends it; "false"
        # gives Pagero's document's flow without PKCE.
        "PAGERO_USE_PKCE": "true",
        # Pagero's document lists `iss` among the callback parameters, so a
        # callback without one is not from Pagero (RFC 9207 section 2.4).
        "PAGERO_REQUIRE_ISS": "true",
        # No token passes through the browser unless an operator opts in
        # (RP-Initiated Logout 1.0 section 2 allows client_id instead).
        "PAGERO_LOGOUT_ID_TOKEN_HINT": "false",
        # RFC 6749 section 10.12 leaves the lifetime of `state` to the client;
        # ten minutes covers a slow login and bounds replay.
        "PAGERO_STATE_MAX_AGE": "600",
        "PAGERO_HTTP_CONNECT_TIMEOUT": "3.05",
        "PAGERO_HTTP_READ_TIMEOUT": "10",
        "PAGERO_REFRESH_MARGIN": "60",
        # Off unless a profile knows where the metadata is: see default() and
        # ProductionProfile for why a guessed URL is not used by default.
        "PAGERO_DISCOVERY": "false",
        "PAGERO_PROXY_MAX_BODY": str(256 * 1024 * 1024),
        # Below GUNICORN_WORKER_CONNECTIONS (1000), so a worker full of calls waiting on
        # a slow Pagero still has connections for probes, pages and the 503s themselves.
        "PAGERO_MAX_IN_FLIGHT": "500",
        # The flow trace shows masked tokens and codes to the browser that owns them;
        # a QA tool, so production has it only when an operator switches it on.
        "PAGERO_FLOW_TRACE": "false",
        # Off: an instance that cannot reach Pagero can still serve pages and sessions,
        # and every instance failing readiness at once would take the whole app away.
        "PAGERO_READYZ_CHECK_PAGERO": "false",
        "SESSION_BACKEND": "filesystem",
        "SESSION_LIFETIME": "28800",
        "SESSION_IDLE_TIMEOUT": "3600",
        "SESSION_KEY_PREFIX": "pagero:",
        "TRUSTED_PROXY_HOPS": "0",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "text",
    }

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def default(self, env_name: str) -> str | None:
        if (
            env_name == "PAGERO_DISCOVERY"
            and (self.environ.get("PAGERO_METADATA_URL") or "").strip()
        ):
            # Naming the metadata document is asking for discovery.
            return "true"
        return self.DEFAULTS.get(env_name)

    def check(self, values: Mapping[str, Any], problems: Mapping[str, str]) -> dict[str, str]:
        """Cross-field and profile-specific rules; returns variable -> problem."""
        found: dict[str, str] = {}
        scope = values.get("scope")
        choices = values.get("scope_choices")
        if scope and choices and not set(scope.split()) <= set(choices.split()):
            found["PAGERO_SCOPE"] = "expected a subset of PAGERO_SCOPE_CHOICES"
        redirect = values.get("redirect_uri")
        if redirect and urlsplit(redirect).query:
            found["PAGERO_REDIRECT_URI"] = "expected a URI without ?query"
        if (
            values.get("session_backend") == "redis"
            and not values.get("redis_url")
            and "REDIS_URL" not in problems  # set, but malformed: that message stands
        ):
            found["REDIS_URL"] = "is required with SESSION_BACKEND=redis, e.g. redis://redis:6379/0"
        idle, lifetime = values.get("session_idle_timeout"), values.get("session_lifetime")
        if idle and lifetime and idle > lifetime:
            found["SESSION_IDLE_TIMEOUT"] = "expected at most SESSION_LIFETIME"
        return found

    def _check_post_logout_uri(self, values: Mapping[str, Any], local_http: bool):
        # Only when set: the default shares the redirect URI's scheme and host,
        # whose problems are reported under PAGERO_REDIRECT_URI already.
        if not (self.environ.get("PAGERO_POST_LOGOUT_REDIRECT_URI") or "").strip():
            return {}
        return self._check_app_uri(
            values, "PAGERO_POST_LOGOUT_REDIRECT_URI", "post_logout_redirect_uri", local_http
        )

    @staticmethod
    def _check_app_uri(values: Mapping[str, Any], env_name: str, attr: str, local_http: bool):
        """This app's own URIs need https, except on the tester's own machine when
        ``local_http`` (RFC 8252 section 7.3)."""
        uri = values.get(attr)
        if not uri or f.is_https(uri):
            return {}
        if local_http and urlsplit(uri).hostname in LOOPBACK_HOSTS:
            return {}
        if local_http:
            return {env_name: "expected https:// (http only on localhost)"}
        return {env_name: "expected an https:// URI in production"}


class SandboxProfile(BaseProfile):
    """Local demo against ``python -m sandbox``: works with no variables set.

    The only profile with committed credentials: they are the sandbox's own
    demo client, worthless anywhere else. Ports follow ``APP_PORT`` and
    ``SANDBOX_PORT`` so the demo can move both without touching anything else.
    """

    name = "sandbox"

    def __init__(self, environ: Mapping[str, str]):
        super().__init__(environ)
        app_url = f"http://localhost:{environ.get('APP_PORT', '5000')}"
        sso = f"http://localhost:{environ.get('SANDBOX_PORT', '5001')}"
        self.DEFAULTS: Mapping[str, str | None] = {
            **BaseProfile.DEFAULTS,
            "PAGERO_CLIENT_ID": "pagero-demo-client",
            "PAGERO_CLIENT_SECRET": "pagero-demo-secret",
            "PAGERO_AUTHORIZE_URL": f"{sso}/oauth/v2/oauth-authorize",
            "PAGERO_TOKEN_URL": f"{sso}/oauth/v2/oauth-token",
            "PAGERO_REVOCATION_URL": f"{sso}/oauth/v2/oauth-revoke",
            "PAGERO_ISSUER": f"{sso}/oauth/v2/oauth-anonymous",
            "PAGERO_JWKS_URI": f"{sso}/oauth/v2/oauth-anonymous/jwks",
            "PAGERO_END_SESSION_URL": f"{sso}/oauth/v2/oauth-session/logout",
            "PAGERO_API_BASE_URL": f"{sso}/api",
            "PAGERO_REDIRECT_URI": f"{app_url}/callback",
            # The sandbox publishes its metadata where OIDC Discovery says, under
            # the issuer, so the derived PAGERO_METADATA_URL is known to be right.
            "PAGERO_DISCOVERY": "true",
            "PAGERO_FLOW_TRACE": "true",
        }


class _RealServerProfile(BaseProfile):
    """Rules for every profile that talks to a real Pagero: TLS to it, a strong
    SECRET_KEY, and https URIs for this app (http on localhost only where
    ``LOCAL_HTTP`` allows it)."""

    LOCAL_HTTP = False

    def check(self, values, problems):
        found = super().check(values, problems)
        found.update(_require_https_endpoints(values))
        found.update(_require_strong_secret_key(values))
        found.update(
            self._check_app_uri(values, "PAGERO_REDIRECT_URI", "redirect_uri", self.LOCAL_HTTP)
        )
        found.update(self._check_post_logout_uri(values, local_http=self.LOCAL_HTTP))
        return found


class StagingProfile(_RealServerProfile):
    """QA against Pagero's staging: every endpoint and credential comes from the
    environment, so a staging run can never silently talk to production."""

    name = "staging"
    DEFAULTS: Mapping[str, str | None] = {**BaseProfile.DEFAULTS, "PAGERO_FLOW_TRACE": "true"}
    # A tester's own machine is fine over http (RFC 8252 section 7.3).
    LOCAL_HTTP = True


class ProductionProfile(_RealServerProfile):
    """Pagero Online as documented. The issuer is Curity's convention for
    Pagero's SSO and is not published by Pagero: verify it on staging.

    Discovery stays off by default: Pagero documents its endpoints, not a
    metadata URL, so ``{issuer}/.well-known/openid-configuration`` would be a
    second guess built on the first. Switch it on (``PAGERO_DISCOVERY=true`` or
    ``PAGERO_METADATA_URL``) once staging has shown the document exists and
    names the issuer you configured.
    """

    name = "production"
    DEFAULTS: Mapping[str, str | None] = {
        **BaseProfile.DEFAULTS,
        "PAGERO_AUTHORIZE_URL": "https://sso.pageroonline.com/oauth/v2/oauth-authorize",
        "PAGERO_TOKEN_URL": "https://sso.pageroonline.com/oauth/v2/oauth-token",
        "PAGERO_REVOCATION_URL": "https://sso.pageroonline.com/oauth/v2/oauth-revoke",
        "PAGERO_ISSUER": "https://sso.pageroonline.com/oauth/v2/oauth-anonymous",
        "PAGERO_JWKS_URI": "https://sso.pageroonline.com/oauth/v2/oauth-anonymous/jwks",
        "PAGERO_API_BASE_URL": "https://api.pageroonline.com",
        "LOG_LEVEL": "info",
    }


def _require_https_endpoints(values: Mapping[str, Any]) -> dict[str, str]:
    """RFC 6749 sections 3.1 and 3.2 require TLS for both endpoints; the API
    carries the bearer token, so it needs TLS just the same (RFC 6750 section 5.3)."""
    found = {}
    for env_name, attr in (
        ("PAGERO_AUTHORIZE_URL", "authorize_url"),
        ("PAGERO_TOKEN_URL", "token_url"),
        ("PAGERO_REVOCATION_URL", "revocation_url"),
        ("PAGERO_JWKS_URI", "jwks_uri"),
        ("PAGERO_END_SESSION_URL", "end_session_url"),
        ("PAGERO_METADATA_URL", "metadata_url"),
        ("PAGERO_ISSUER", "issuer"),
        ("PAGERO_API_BASE_URL", "api_base_url"),
    ):
        url = values.get(attr)
        if url and not f.is_https(url):
            found[env_name] = "expected an https:// URL outside the sandbox"
    return found


#: How to make a SECRET_KEY, said in every message about one.
HOW_TO_MAKE_A_KEY = 'make one with: python -c "import secrets; print(secrets.token_hex(32))"'


def _require_strong_secret_key(values: Mapping[str, Any]) -> dict[str, str]:
    """The key signs the session cookie; a guessable one lets anyone forge it."""
    key = values.get("secret_key")
    if key is None:
        return {
            "SECRET_KEY": f"is required outside the sandbox (32+ random characters); "
            f"{HOW_TO_MAKE_A_KEY}"
        }
    if key.lower() in WEAK_SECRET_KEYS or len(key) < 32:
        return {
            "SECRET_KEY": "expected 32+ random characters, not a default or short value; "
            + HOW_TO_MAKE_A_KEY
        }
    if why := f.low_entropy(key):
        return {"SECRET_KEY": f"expected random characters, but {why}; {HOW_TO_MAKE_A_KEY}"}
    return {}


PROFILES = {p.name: p for p in (SandboxProfile, StagingProfile, ProductionProfile)}
