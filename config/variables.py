"""Every environment variable the app reads, in one table (``FIELDS``).

Why one table: the variable name, the parser, and the sentence in
docs/configuration.md all describe the same thing; keeping them side by side means a new
setting cannot be added without being parsed, validated and documented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import fields as f


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
        "Calls one worker lets wait on Pagero at once; beyond it a fast 503 "
        "(pagero_oauth/in_flight.py).",
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
        "SECRET_KEY_FALLBACKS",
        "secret_key_fallbacks",
        f.parse_secrets,
        "Former SECRET_KEYs, space-separated: records sealed with one still open "
        "while a new SECRET_KEY rolls out.",
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
        "Redis for SESSION_BACKEND=redis: `redis://redis:6379/0`, "
        "`redis+sentinel://h1:26379,h2:26379/mymaster` or `redis+cluster://h1:6379,h2:6379`; "
        "`rediss://`, `rediss+sentinel://`, `rediss+cluster://` for TLS.",
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
    "SECRET_KEY_FALLBACKS",
    "SESSION_FILE_DIR",
    "METRICS_TOKEN",
}
