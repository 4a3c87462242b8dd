"""The token set of a logged-in user: what a token response gives, and how it is shown.

Tokens live only on the server, in the store (:mod:`pagero_oauth.stores.base` says why
they are kept apart from the session; :mod:`pagero_oauth.keeper` keeps them there); the
browser holds an opaque session id. Nothing in this module returns a whole token to a
caller that renders or logs: use :func:`mask` for display.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from . import errors
from .stores.base import Store, slot_tag

#: The session holds only this key (its own id at login); the tokens live in the token store.
TOKEN_KEY = "token_key"  # noqa: S105 - a session key name
#: When this login started and when it was last used (absolute and idle timeouts).
LOGIN_AT, SEEN_AT = "login_at", "seen_at"
#: Set when a timeout ended the session: "idle" or "absolute", until a page has said so.
ENDED_BY = "ended_by"


@dataclass(frozen=True)
class TokenSet:
    """One login's tokens, as the token store keeps them (:func:`from_record`).

    A field added here needs a default: records written before it have no value for it.
    """

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
    #: The token response's ``expires_in``: the access token's whole life, in seconds.
    lifetime: float | None = None

    @property
    def scope(self) -> str:
        return self.granted_scope or self.requested_scope

    def expires_in(self, now: float | None = None) -> int | None:
        if self.expires_at is None:
            return None
        return int(self.expires_at - (time.time() if now is None else now))

    def needs_refresh(self, margin: float, now: float | None = None) -> bool:
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
    expires_at = lifetime = None
    if expires_in is not None:
        try:
            lifetime = float(expires_in)
            expires_at = now + lifetime
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
        lifetime=lifetime,
    )


def record_for(
    key: str, store: Store, fetched: tuple[str, bytes | None] | None = None
) -> dict[str, Any] | None:
    """The token record under ``key``: the raw one the session store read along with
    the session (app/sessions.py) in slot ``fetched[0]`` when it is that one (one Redis round trip),
    else the store's."""
    if fetched is not None and fetched[0] == slot_tag(key):
        return store.decode(fetched[1])
    return store.get(key)


def from_record(record: dict[str, Any] | None) -> TokenSet | None:
    """The token set a token store record holds (None for no record).

    Fields this version does not know are left out: in a rolling deploy, workers of the
    old version read records a newer one wrote, and a login must not end because a field
    was added. (The other way round holds because every field added has a default.)
    """
    if not record:
        return None
    return TokenSet(**{name: record[name] for name in _RECORD_FIELDS if name in record})


_RECORD_FIELDS = tuple(f.name for f in fields(TokenSet))


def duration(seconds: float) -> str:
    """``seconds`` in words: "45 seconds", "1 minute", "2 minutes 30 seconds", "8 hours"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [_count(n, unit) for n, unit in ((hours, "hour"), (minutes, "minute")) if n]
    if secs or not parts:
        parts.append(_count(secs, "second"))
    return " ".join(parts)


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def mask(token: str | None, keep: int = 12) -> str:
    """Enough of a token to tell two apart on screen, never enough to use one.

    Pagero's opaque tokens start with a fixed 9-character prefix
    (``_0XBPWQQ_``), so we show a few random characters after it.
    """
    if not token:
        return "(none)"
    return token[: min(keep, len(token) // 3)] + "…"
