"""Settings and the validation run at start-up: :func:`load_settings` reads every
variable of the table (:mod:`config.variables`) over the profile's defaults
(:mod:`config.profiles`) and either returns :class:`Settings` or names every bad variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from .profiles import PROFILES
from .variables import FIELDS, OPTIONAL


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
    secret_key_fallbacks: tuple[str, ...] | None = field(repr=False)
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


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build :class:`Settings` for the profile in ``PAGERO_ENV``.

    Order of precedence: ``overrides`` (tests), then ``environ`` (defaults to
    ``os.environ``), then the profile's defaults. Empty strings count as unset
    for optional URLs so ``PAGERO_REVOCATION_URL=`` switches revocation off.
    """
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
#: The app's page for the browser's return from RP-initiated logout (app/auth/views.py).
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
