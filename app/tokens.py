"""The token set of a logged-in user, as kept in the server-side session.

Tokens live only in the server-side session store; the browser holds an
opaque session id. Nothing in this module returns a whole token to a caller
that renders or logs: use :func:`mask` for display.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any

from . import errors

TOKENS_KEY = "tokens"


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    token_type: str
    expires_at: float | None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    #: What the token response said in ``scope`` (Pagero answers ``""``).
    granted_scope: str = ""
    #: What this login asked for; with Pagero's empty ``scope`` it is the best
    #: description of what was granted (RFC 6749 section 5.1: an omitted scope
    #: means "as requested").
    requested_scope: str = ""
    #: Pagero's non-standard ``claims`` field, e.g. ``"publicid"``.
    claims: str | None = None
    #: Validated id_token claims (OpenID Connect), when ``openid`` was asked.
    id_claims: dict[str, Any] | None = None
    logged_in_at: float = 0.0

    @property
    def scope(self) -> str:
        return self.granted_scope or self.requested_scope

    def expires_in(self, now: float | None = None) -> int | None:
        if self.expires_at is None:
            return None
        return int(self.expires_at - (time.time() if now is None else now))

    def needs_refresh(self, margin: int, now: float | None = None) -> bool:
        remaining = self.expires_in(now)
        return remaining is not None and remaining <= margin


def from_token_response(
    body: Mapping[str, Any],
    requested_scope: str,
    now: float | None = None,
    previous: TokenSet | None = None,
) -> TokenSet:
    """Check a token endpoint answer (RFC 6749 section 5.1) and keep what we need.

    ``token_type`` is compared case-insensitively (section 5.1 says so, and
    Pagero answers ``"bearer"``). On refresh, a response without a new
    ``refresh_token`` or ``id_token`` keeps the previous ones (section 6).
    """
    now = time.time() if now is None else now
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise errors.MalformedTokenResponse("The token endpoint's answer has no access_token.")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise errors.MalformedTokenResponse(
            "The token endpoint's answer has token_type "
            f"{token_type!r}; this app only uses bearer tokens (RFC 6750).",
        )
    expires_in = body.get("expires_in")
    expires_at = None
    if expires_in is not None:
        try:
            expires_at = now + float(expires_in)
        except (TypeError, ValueError):
            raise errors.MalformedTokenResponse(
                "The token endpoint's answer has a non-numeric expires_in."
            ) from None
    granted = body.get("scope")
    return TokenSet(
        access_token=access_token,
        token_type="bearer",  # noqa: S106 - a token type, not a password
        expires_at=expires_at,
        refresh_token=body.get("refresh_token") or (previous and previous.refresh_token),
        id_token=body.get("id_token") or (previous and previous.id_token),
        granted_scope=granted if isinstance(granted, str) else "",
        requested_scope=requested_scope,
        claims=body.get("claims") if isinstance(body.get("claims"), str) else None,
        id_claims=previous.id_claims if previous else None,
        logged_in_at=previous.logged_in_at if previous else now,
    )


def load(session: Mapping[str, Any]) -> TokenSet | None:
    data = session.get(TOKENS_KEY)
    return TokenSet(**data) if data else None


def save(session: MutableMapping[str, Any], tokens: TokenSet) -> None:
    session[TOKENS_KEY] = asdict(tokens)


def require(session: Mapping[str, Any]) -> TokenSet:
    tokens = load(session)
    if tokens is None:
        raise errors.NotLoggedIn("You are not logged in. Log in with Pagero to continue.")
    return tokens


def mask(token: str | None, keep: int = 12) -> str:
    """Enough of a token to tell two apart on screen, never enough to use one.

    Pagero's opaque tokens start with a fixed 9-character prefix
    (``_0XBPWQQ_``), so we show a few random characters after it.
    """
    if not token:
        return "(none)"
    return token[: min(keep, len(token) // 3)] + "…"
