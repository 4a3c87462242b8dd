"""All mutable sandbox state: logins, codes, tokens, counters, faults and the clock.

One process, in memory, behind one lock, so the threaded development server is safe. Tests
reach it as ``app.extensions["pagero_sandbox"]`` to count grants, look for leaked secrets,
switch faults and move time forward without sleeping.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import Counter
from typing import Any

from flask import current_app

from sandbox import faults
from sandbox.models import AuthorizationCode, Client, GrantFamily, Login, Token
from sandbox.settings import SandboxSettings
from sandbox.signing_keys import SigningKeys
from sandbox.users import User, directory

EXTENSION_KEY = "pagero_sandbox"


class SandboxState:
    """The sandbox's memory. Every method that touches a store takes the lock."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.client = Client(
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            redirect_uris=settings.redirect_uris,
            post_logout_redirect_uris=settings.post_logout_redirect_uris,
        )
        self.keys = SigningKeys()
        #: Everyone who can log in: the test users and any ``SANDBOX_EXTRA_USERS``.
        self.users: dict[str, User] = directory(settings.extra_users)
        self.counts: Counter[str] = Counter()
        self.faults: set[str] = set(settings.faults)
        self._lock = threading.RLock()
        self._clock_offset = 0.0
        self._logins: dict[str, Login] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._families: dict[str, GrantFamily] = {}
        self._tokens: dict[str, Token] = {}
        self._secrets: list[str] = [settings.client_secret]
        #: Documents sent through the API (POST), by id; only their metadata is kept.
        self.uploads: dict[str, dict] = {}
        #: The small ones' bodies and answer headers (sandbox.uploads.UploadedFile), by id.
        self.upload_files: dict[str, Any] = {}

    # -- test introspection ------------------------------------------------------------

    def now(self) -> float:
        """The sandbox's notion of the current time (wall clock plus any test offset)."""
        return time.time() + self._clock_offset

    def access_token_ttl(self) -> int:
        """Seconds a new access token lives (the ``short_access_tokens`` fault shortens it)."""
        if faults.SHORT_ACCESS_TOKENS in self.faults:
            return faults.SHORT_ACCESS_TOKEN_TTL
        return self.settings.access_token_ttl

    def advance_clock(self, seconds: float) -> None:
        """Move "now" forward for every expiry check, so tests expire things without sleeping."""
        with self._lock:
            self._clock_offset += seconds

    def issued_secrets(self) -> list[str]:
        """Every code, access token, refresh token and id_token ever issued, and the client
        secret: tests grep the client's logs and pages for each of them."""
        with self._lock:
            return list(self._secrets)

    def rotate_signing_key(self, keep_kid: bool = False) -> str:
        """Sign id_tokens with a new key from now on; the old key stays in the JWKS, unless
        ``keep_kid`` replaces it under the same kid. Returns the signing kid."""
        return self.keys.rotate(keep_kid=keep_kid)

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def reset(self) -> None:
        """Forget logins, codes, tokens, counters, faults and the clock offset (not keys or
        configuration), so one sandbox can serve many tests."""
        with self._lock:
            self._logins.clear()
            self._codes.clear()
            self._families.clear()
            self._tokens.clear()
            self.counts.clear()
            self.faults.clear()
            self.uploads.clear()
            self.upload_files.clear()
            self._clock_offset = 0.0

    def record_secret(self, value: str) -> None:
        with self._lock:
            self._secrets.append(value)

    # -- SSO logins --------------------------------------------------------------------

    def start_login(self, user: User) -> Login:
        """A fresh login (new id, so a pre-login session id is never reused)."""
        login = Login(sid=secrets.token_urlsafe(24), user=user, auth_time=int(self.now()))
        with self._lock:
            self._logins[login.sid] = login
        return login

    def get_login(self, sid: str | None) -> Login | None:
        if not sid:
            return None
        with self._lock:
            return self._logins.get(sid)

    def end_login(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._logins.pop(sid, None)

    # -- authorization codes (RFC 6749 §4.1.2) -----------------------------------------

    def save_code(self, code: AuthorizationCode) -> None:
        with self._lock:
            self._codes[code.code] = code
            self._secrets.append(code.code)

    def claim_code(self, value: str, client_id: str) -> AuthorizationCode | None:
        """Take a code for exchange, atomically, so it can succeed at most once.

        A code presented a second time is a replay: RFC 6749 §4.1.2 says the server SHOULD
        revoke every token already issued from it, and we do. Returns None for unknown,
        foreign, expired or replayed codes (all ``invalid_grant``).
        """
        with self._lock:
            code = self._codes.get(value)
            if code is None or code.client_id != client_id:
                return None
            if code.used:
                if code.family_id:
                    self._revoke_family(code.family_id)
                else:
                    # The first exchange has not stored its tokens yet; mark the code so
                    # that family is born revoked.
                    code.family_id = ""
                return None
            code.used = True
            if self.now() >= code.expires_at:
                return None
            return code

    # -- tokens ------------------------------------------------------------------------

    def store_tokens(
        self,
        *,
        access_token: str,
        refresh_token: str | None,
        scope: str,
        code: AuthorizationCode | None = None,
        parent: Token | None = None,
    ) -> GrantFamily:
        """Store a token pair: a new family for a code exchange, the parent's on refresh."""
        now = self.now()
        with self._lock:
            if parent is not None:
                family = parent.family
            else:
                assert code is not None
                family = GrantFamily(
                    family_id=uuid.uuid4().hex,
                    client_id=code.client_id,
                    login=code.login,
                    scope=code.scope,
                    # "" means the code was replayed while this exchange was in flight.
                    revoked=code.family_id == "",
                )
                code.family_id = family.family_id
                self._families[family.family_id] = family
            pairs = [("access_token", access_token, self.access_token_ttl())]
            if refresh_token:
                pairs.append(("refresh_token", refresh_token, self.settings.refresh_token_ttl))
            for kind, value, ttl in pairs:
                self._tokens[value] = Token(
                    value=value,
                    kind=kind,
                    family=family,
                    scope=scope,
                    issued_at=now,
                    expires_at=now + ttl,
                )
                family.tokens.append(value)
                self._secrets.append(value)
            return family

    def find_token(self, value: str) -> Token | None:
        with self._lock:
            return self._tokens.get(value)

    def claim_refresh_token(self, value: str, client_id: str) -> Token | None:
        """Take a refresh token for rotation, atomically, so it is used at most once.

        Presenting a refresh token that was already rotated means two parties hold it; like
        Curity, the sandbox then revokes the whole family (RFC 9700 §4.14.2). Returns None
        for unknown, foreign, expired, revoked and reused tokens (all ``invalid_grant``).
        """
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.kind != "refresh_token":
                return None
            if token.family.client_id != client_id:
                return None
            if token.used:
                token.family.revoked = True
                return None
            if token.is_revoked() or token.has_expired(self.now()):
                return None
            token.used = True
            return token

    def check_access_token(self, value: str) -> tuple[Token | None, str]:
        """The live access token with this value, or None and why it is not acceptable."""
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.kind != "access_token":
                return None, "The access token is unknown"
            if token.is_revoked():
                return None, "The access token was revoked"
            if token.has_expired(self.now()):
                return None, "The access token expired"
            return token, ""

    def revoke(self, token: Token) -> None:
        """RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens of the
        same grant; revoking an access token revokes just that token."""
        with self._lock:
            if token.kind == "refresh_token":
                token.family.revoked = True
            else:
                token.revoked = True

    def _revoke_family(self, family_id: str) -> None:
        family = self._families.get(family_id)
        if family is not None:
            family.revoked = True


def current_state() -> SandboxState:
    """The state of the sandbox app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
