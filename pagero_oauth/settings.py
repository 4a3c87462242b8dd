"""What the core reads from its settings: a Protocol, so ``pagero_oauth/`` can be copied
alone. The project's ``config.Settings`` (a frozen dataclass) satisfies it; any object
with these attributes does.
"""

from __future__ import annotations

from typing import Any, Protocol


class Settings(Protocol):
    """The settings the core reads (names as in config/variables.py)."""

    client_id: str
    client_secret: str
    token_auth_method: str
    redirect_uri: str
    scope: str
    use_pkce: bool
    require_iss: bool
    issuer: str
    state_max_age: int
    # Endpoints: explicit, else from the server metadata (discovery).
    authorize_url: str | None
    token_url: str | None
    jwks_uri: str | None
    revocation_url: str | None
    end_session_url: str | None
    post_logout_redirect_uri: str
    logout_id_token_hint: bool
    discovery: bool
    metadata_url: str | None
    #: Attributes set in the environment rather than by a profile (discovery never
    #: replaces one of these).
    explicit: frozenset[str]
    http_connect_timeout: float
    http_read_timeout: float
    max_in_flight: int
    refresh_margin: int
    session_lifetime: int
    session_idle_timeout: int
    # The stores (pagero_oauth.stores.build).
    session_backend: str
    session_file_dir: str | None
    session_key_prefix: str
    redis_url: str | None
    redis_sentinel_password: str | None
    flow_trace: bool

    @property
    def http_timeout(self) -> tuple[float, float]: ...

    def replace(self, **changes: Any) -> Settings: ...
