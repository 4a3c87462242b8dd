"""In-memory records the authorization server keeps, shaped for Authlib's model mixins.

Authlib's grants talk to storage through small mixin interfaces (``ClientMixin``,
``AuthorizationCodeMixin``, ``TokenMixin``); these dataclasses implement them so the grant
classes stay thin. All mutation goes through :class:`sandbox.state.SandboxState`, which holds
the lock.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list

from sandbox.users import User

#: Pagero's documented scopes (Step 1): ``all`` is the default, ``openid`` adds an id_token.
SUPPORTED_SCOPES = ("all", "openid")
DEFAULT_SCOPE = "all"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class Client(ClientMixin):
    """The one registered confidential client."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]

    @property
    def client_metadata(self) -> dict[str, list[str]]:
        """What Authlib's RP-initiated logout endpoint reads to match post-logout URIs."""
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # Pagero's Step 1 makes redirect_uri required, so there is no default to fall back
        # on; Authlib then refuses a missing one without redirecting (RFC 6749 §4.1.2.1).
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # Pagero: "all" is the default when no scope is requested. Unknown scopes never get
        # here: the server rejects them with invalid_scope first (RFC 6749 §3.3).
        if not scope:
            return DEFAULT_SCOPE
        return list_to_scope([s for s in scope_to_list(scope) if s in SUPPORTED_SCOPES])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match, as agreed at registration (RFC 6749 §3.1.2.3, RFC 9700 §4.1.1).
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Pagero accepts HTTP Basic and form-body credentials for the same client (Step 3).
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


@dataclass(frozen=True)
class Login:
    """A user's live login at the sandbox SSO, as the ``pagero_sandbox_sso`` cookie names it."""

    sid: str
    user: User
    #: When the user typed their password; the id_token's ``auth_time`` (OIDC Core §2).
    auth_time: int


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    """An issued authorization code and everything it is bound to (RFC 6749 §4.1.2)."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    login: Login
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    #: Set on first presentation; a second presentation is a replay (RFC 6749 §4.1.2).
    used: bool = False
    #: The grant family its tokens belong to, so a replay can revoke them.
    family_id: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.login.auth_time


@dataclass
class GrantFamily:
    """Every token descending from one authorization code.

    Refresh-token rotation keeps adding to the family; revoking the family (on revocation
    of a refresh token, a replayed code or a reused refresh token) kills all of them at once
    (RFC 9700 §4.14.2, RFC 7009 §2.1).
    """

    family_id: str
    client_id: str
    login: Login
    scope: str
    revoked: bool = False
    tokens: list[str] = field(default_factory=list)


@dataclass
class Token(TokenMixin):
    """One access token or refresh token."""

    value: str
    kind: str  # "access_token" or "refresh_token"
    family: GrantFamily
    scope: str
    issued_at: float
    expires_at: float
    revoked: bool = False
    #: A rotated refresh token: presenting it again means it leaked.
    used: bool = False

    @property
    def login(self) -> Login:
        return self.family.login

    def check_client(self, client: ClientMixin) -> bool:
        return self.family.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - self.issued_at)

    def has_expired(self, now: float) -> bool:
        # Takes "now" because the sandbox clock can be advanced by tests.
        return now >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked or self.family.revoked
