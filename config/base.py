"""Settings, their environment variables, and the validation run at start-up.

Why one table (``FIELDS``): the variable name, the parser, and the sentence in
docs/configuration.md all describe the same thing; keeping them side by side means a new
setting cannot be added without being parsed, validated and documented.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from . import fields as f


class ConfigError(Exception):
    """Raised at start-up when one or more variables are missing or invalid.

    ``problems`` maps each variable name to what it expects; ``str()`` gives the
    one message the operator sees.
    """

    def __init__(self, profile: str, problems: Mapping[str, str]):
        self.profile = profile
        self.problems = dict(problems)
        lines = [f"  {name}: {why}" for name, why in self.problems.items()]
        super().__init__(
            f"Invalid configuration for profile {profile!r} (PAGERO_ENV):\n" + "\n".join(lines)
        )


@dataclass(frozen=True)
class Field:
    env: str
    attr: str
    parse: Callable[[str], Any]
    doc: str
    secret: bool = False


FIELDS: tuple[Field, ...] = (
    Field("PAGERO_CLIENT_ID", "client_id", f.parse_text, "Client ID registered with Pagero."),
    Field(
        "PAGERO_CLIENT_SECRET",
        "client_secret",
        f.parse_text,
        "Client secret registered with Pagero.",
        secret=True,
    ),
    Field("PAGERO_AUTHORIZE_URL", "authorize_url", f.parse_url, "Step 1: the login page."),
    Field("PAGERO_TOKEN_URL", "token_url", f.parse_url, "Step 3: the token endpoint."),
    Field(
        "PAGERO_ISSUER",
        "issuer",
        f.parse_url,
        "Expected `iss` on the callback (RFC 9207) and in id_tokens.",
    ),
    Field("PAGERO_API_BASE_URL", "api_base_url", f.parse_base_url, "Base of the Pagero API."),
    Field(
        "PAGERO_REDIRECT_URI",
        "redirect_uri",
        f.parse_url,
        "This app's /callback URL, exactly as registered with Pagero.",
    ),
    Field("PAGERO_SCOPE", "scope", f.parse_scope, "Default scope: `all`, or `all openid`."),
    Field(
        "PAGERO_SCOPE_CHOICES",
        "scope_choices",
        f.parse_scope,
        "Scopes the home page offers to pick from.",
    ),
    Field(
        "PAGERO_TOKEN_AUTH_METHOD",
        "token_auth_method",
        f.one_of("client_secret_basic", "client_secret_post"),
        "How the app authenticates at the token endpoint.",
    ),
    Field(
        "PAGERO_REVOCATION_URL",
        "revocation_url",
        f.parse_url,
        "RFC 7009 revocation endpoint, used at logout (empty: no revocation).",
    ),
    Field(
        "PAGERO_JWKS_URI",
        "jwks_uri",
        f.parse_url,
        "Keys that sign id_tokens (empty: id_token signatures cannot be checked).",
    ),
    Field(
        "PAGERO_END_SESSION_URL",
        "end_session_url",
        f.parse_url,
        "OpenID Connect RP-initiated logout endpoint (empty: logout stays local to the app).",
    ),
    Field(
        "PAGERO_POST_LOGOUT_REDIRECT_URI",
        "post_logout_redirect_uri",
        f.parse_url,
        "Where Pagero sends the browser after logout, as registered "
        "(default: the redirect URI's origin + /logged-out).",
    ),
    Field(
        "PAGERO_LOGOUT_ID_TOKEN_HINT",
        "logout_id_token_hint",
        f.parse_bool,
        "Send the id_token as id_token_hint to the end-session endpoint (it then passes "
        "through the browser); off: client_id identifies the logout instead.",
    ),
    Field(
        "PAGERO_DISCOVERY",
        "discovery",
        f.parse_bool,
        "Read endpoints, keys and capabilities from the server metadata (OIDC Discovery).",
    ),
    Field(
        "PAGERO_METADATA_URL",
        "metadata_url",
        f.parse_url,
        "The server metadata document (default: PAGERO_ISSUER + "
        "/.well-known/openid-configuration); setting it turns discovery on.",
    ),
    Field(
        "PAGERO_USE_PKCE",
        "use_pkce",
        f.parse_bool,
        "Add PKCE S256 (RFC 7636); false: the flow without PKCE, which gives up the "
        "protection against authorization-code injection.",
    ),
    Field(
        "PAGERO_REQUIRE_ISS",
        "require_iss",
        f.parse_bool,
        "Reject a callback without `iss` (Pagero documents that it sends one).",
    ),
    Field(
        "PAGERO_STATE_MAX_AGE",
        "state_max_age",
        f.parse_positive_int,
        "Seconds a login may take from /login to /callback.",
    ),
    Field(
        "PAGERO_HTTP_CONNECT_TIMEOUT",
        "http_connect_timeout",
        f.parse_positive_float,
        "Seconds to connect to Pagero.",
    ),
    Field(
        "PAGERO_HTTP_READ_TIMEOUT",
        "http_read_timeout",
        f.parse_positive_float,
        "Seconds to wait for Pagero's answer.",
    ),
    Field(
        "PAGERO_REFRESH_MARGIN",
        "refresh_margin",
        f.parse_non_negative_int,
        "Refresh the access token this many seconds before it expires.",
    ),
    Field(
        "PAGERO_API_ALLOWED_PATHS",
        "api_allowed_paths",
        f.parse_path_prefixes,
        "Optional allow-list of API path prefixes for /api-proxy (empty: any path).",
    ),
    Field(
        "PAGERO_FLOW_TRACE",
        "flow_trace",
        f.parse_bool,
        "Record each browser session's flow steps, masked, and show them at /trace (for QA).",
    ),
    Field(
        "PAGERO_READYZ_CHECK_PAGERO",
        "readyz_check_pagero",
        f.parse_bool,
        "/readyz also checks that Pagero's token endpoint, API and JWKS answer (short "
        "timeout, cached a few seconds); /healthz never does.",
    ),
    Field(
        "PAGERO_MAX_IN_FLIGHT",
        "max_in_flight",
        f.parse_positive_int,
        "Calls one worker lets wait on Pagero at once; beyond it a fast 503 (app/in_flight.py).",
    ),
    Field(
        "PAGERO_PROXY_MAX_BODY",
        "proxy_max_body",
        f.parse_positive_int,
        "Largest request body /api-proxy forwards, in bytes.",
    ),
    Field(
        "SECRET_KEY",
        "secret_key",
        f.parse_text,
        "Flask secret (32+ characters). Sandbox: generated into instance/.",
        secret=True,
    ),
    Field(
        "SESSION_BACKEND",
        "session_backend",
        f.one_of("filesystem", "redis"),
        "Where server-side sessions and tokens live: `filesystem` (one machine) or `redis`.",
    ),
    Field(
        "REDIS_URL",
        "redis_url",
        f.parse_redis_url,
        "Redis for SESSION_BACKEND=redis: `redis://redis:6379/0` (`rediss://` for TLS), "
        "`redis+sentinel://h1:26379,h2:26379/mymaster` or `redis+cluster://h1:6379,h2:6379`.",
        secret=True,
    ),
    Field(
        "REDIS_SENTINEL_PASSWORD",
        "redis_sentinel_password",
        f.parse_text,
        "Password of the Sentinels themselves, when they require one (the data nodes' "
        "password goes in REDIS_URL).",
        secret=True,
    ),
    Field(
        "SESSION_KEY_PREFIX",
        "session_key_prefix",
        f.parse_key_prefix,
        "Prefix of every key the app writes to Redis (several apps can share one Redis).",
    ),
    Field(
        "SESSION_FILE_DIR",
        "session_file_dir",
        f.parse_text,
        "Folder of the filesystem session backend (default: instance/flask_session).",
    ),
    Field(
        "SESSION_LIFETIME",
        "session_lifetime",
        f.parse_positive_int,
        "Absolute limit: seconds a login session lasts, however active.",
    ),
    Field(
        "SESSION_IDLE_TIMEOUT",
        "session_idle_timeout",
        f.parse_positive_int,
        "Seconds without a request after which the session ends.",
    ),
    Field(
        "TRUSTED_PROXY_HOPS",
        "trusted_proxy_hops",
        f.parse_non_negative_int,
        "Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).",
    ),
    Field("LOG_LEVEL", "log_level", f.one_of("debug", "info", "warning", "error"), "Log level."),
    Field("LOG_FORMAT", "log_format", f.one_of("text", "json"), "Log lines as text or JSON."),
    Field(
        "METRICS_TOKEN",
        "metrics_token",
        f.parse_bearer_secret,
        "Bearer token a Prometheus scraper sends to /metrics (32+ random characters); "
        "unset: /metrics is a 404.",
        secret=True,
    ),
)

FIELDS_BY_ENV = {fld.env: fld for fld in FIELDS}


@dataclass(frozen=True)
class Settings:
    """The validated configuration the app runs with. Secrets are kept out of ``repr``."""

    profile: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    issuer: str
    api_base_url: str
    redirect_uri: str
    scope: str
    scope_choices: str
    token_auth_method: str
    revocation_url: str | None
    jwks_uri: str | None
    end_session_url: str | None
    post_logout_redirect_uri: str
    logout_id_token_hint: bool
    discovery: bool
    metadata_url: str | None
    use_pkce: bool
    require_iss: bool
    state_max_age: int
    http_connect_timeout: float
    http_read_timeout: float
    refresh_margin: int
    api_allowed_paths: tuple[str, ...] | None
    proxy_max_body: int
    max_in_flight: int
    flow_trace: bool
    readyz_check_pagero: bool
    secret_key: str | None = field(repr=False)
    session_backend: str
    session_file_dir: str | None
    session_lifetime: int
    session_idle_timeout: int
    trusted_proxy_hops: int
    redis_url: str | None = field(repr=False)
    redis_sentinel_password: str | None = field(repr=False)
    session_key_prefix: str
    log_level: str
    log_format: str
    metrics_token: str | None = field(repr=False)
    #: Attributes set in the environment rather than by the profile. Discovered
    #: server metadata may replace a profile's default but never one of these.
    explicit: frozenset[str] = frozenset()

    @property
    def http_timeout(self) -> tuple[float, float]:
        """(connect, read) as ``requests`` takes it."""
        return (self.http_connect_timeout, self.http_read_timeout)

    @property
    def canonical_origin(self) -> str:
        """scheme://host:port of the redirect URI: where the session cookie must live."""
        parts = urlsplit(self.redirect_uri)
        return f"{parts.scheme}://{parts.netloc}"

    def replace(self, **changes: Any) -> Settings:
        values = {fl.name: getattr(self, fl.name) for fl in fields(self)}
        values.update(changes)
        return Settings(**values)


# Values that must never protect a real deployment.
WEAK_SECRET_KEYS = {"dev", "secret", "changeme", "change-me", "sandbox", "development"}
OPTIONAL = {
    "REDIS_URL",
    "REDIS_SENTINEL_PASSWORD",
    "PAGERO_API_ALLOWED_PATHS",
    "PAGERO_REVOCATION_URL",
    "PAGERO_JWKS_URI",
    "PAGERO_END_SESSION_URL",
    "PAGERO_POST_LOGOUT_REDIRECT_URI",
    "PAGERO_METADATA_URL",
    "SECRET_KEY",
    "SESSION_FILE_DIR",
    "METRICS_TOKEN",
}


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build :class:`Settings` for the profile in ``PAGERO_ENV``.

    Order of precedence: ``overrides`` (tests), then ``environ`` (defaults to
    ``os.environ``), then the profile's defaults. Empty strings count as unset
    for optional URLs so ``PAGERO_REVOCATION_URL=`` switches revocation off.
    """
    from .profiles import PROFILES

    env = dict(os.environ if environ is None else environ)
    for key, value in (overrides or {}).items():
        env[key] = value if isinstance(value, str) else _to_env(value)

    profile_name = env.get("PAGERO_ENV", "sandbox").strip().lower() or "sandbox"
    if profile_name not in PROFILES:
        raise ConfigError(profile_name, {"PAGERO_ENV": "expected one of: " + ", ".join(PROFILES)})
    profile = PROFILES[profile_name](env)

    values: dict[str, Any] = {"profile": profile_name}
    problems: dict[str, str] = {}
    for fld in FIELDS:
        raw = env.get(fld.env)
        if raw is None:
            raw = profile.default(fld.env)
        if raw is None or (raw.strip() == "" and fld.env in OPTIONAL):
            if fld.env not in OPTIONAL:
                problems[fld.env] = "is required in this profile: " + fld.doc
            values[fld.attr] = None
            continue
        try:
            values[fld.attr] = fld.parse(raw)
        except ValueError as exc:
            problems[fld.env] = str(exc)
            values[fld.attr] = None

    problems.update(_derive_defaults(values))
    problems.update(profile.check(values, problems))
    if problems:
        raise ConfigError(profile_name, problems)
    values["explicit"] = frozenset(fld.attr for fld in FIELDS if env.get(fld.env) is not None)
    return Settings(**values)


#: OpenID Connect Discovery 1.0 section 4: the metadata lives at the issuer plus this.
WELL_KNOWN_OPENID = "/.well-known/openid-configuration"
#: The app's page for the browser's return from RP-initiated logout (app/auth.py).
LOGGED_OUT_PATH = "/logged-out"


def _derive_defaults(values: dict[str, Any]) -> dict[str, str]:
    """Defaults that follow from other values: the metadata URL from the issuer,
    the post-logout redirect URI from the redirect URI. Returns problems."""
    problems: dict[str, str] = {}
    if values.get("metadata_url") and values.get("discovery") is False:
        problems["PAGERO_METADATA_URL"] = "is set, but PAGERO_DISCOVERY=false: remove one of them"
    if values.get("discovery") and not values.get("metadata_url") and values.get("issuer"):
        values["metadata_url"] = values["issuer"].rstrip("/") + WELL_KNOWN_OPENID
    if not values.get("discovery"):
        values["metadata_url"] = None
    redirect = values.get("redirect_uri")
    if not values.get("post_logout_redirect_uri") and redirect:
        parts = urlsplit(redirect)
        values["post_logout_redirect_uri"] = f"{parts.scheme}://{parts.netloc}{LOGGED_OUT_PATH}"
    return problems


def _to_env(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
