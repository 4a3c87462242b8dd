"""The token set of a logged-in user, and the session-facing ways to reach it.

Tokens live only on the server, in the token store (:mod:`app.token_store`,
which explains why they are kept apart from the session); the browser holds an
opaque session id. Nothing in this module returns a whole token to a caller
that renders or logs: use :func:`mask` for display.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import current_app, g

from pagero_oauth.stores.base import LockTimeout, decode, slot_tag

from . import errors, metrics

log = logging.getLogger(__name__)

#: The session holds only this key (its own id at login); the tokens live in the token store.
TOKEN_KEY = "token_key"  # noqa: S105 - a session key name
#: Where :func:`prefetched` leaves a record for :func:`load` (request-local).
PREFETCHED = "pagero_prefetched_tokens"
#: When this login started and when it was last used (absolute and idle timeouts).
LOGIN_AT, SEEN_AT = "login_at", "seen_at"
#: Set when a timeout ended the session: "idle" or "absolute", until a page has said so.
ENDED_BY = "ended_by"


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


def refresh_margin(tokens: TokenSet, configured: int) -> float:
    """How long before expiry ``tokens`` is refreshed: ``PAGERO_REFRESH_MARGIN``, unless
    the token lives no longer than that. Such a token would be "expiring" from the moment
    it was issued, and every API call would spend a refresh round trip (and a refresh
    token) on it; it is refreshed at half its life instead, and the operator is told,
    once per worker."""
    if tokens.lifetime is None or tokens.lifetime > configured:
        return configured
    extensions = current_app.extensions
    if not extensions.get("pagero_margin_warned"):
        extensions["pagero_margin_warned"] = True
        log.warning(
            "PAGERO_REFRESH_MARGIN (%s s) is not shorter than the access tokens' life "
            "(%g s): such tokens are refreshed at half their life instead; set "
            "PAGERO_REFRESH_MARGIN below %g",
            configured,
            tokens.lifetime,
            tokens.lifetime,
        )
    return tokens.lifetime / 2


def _store():
    return current_app.extensions["token_store"]


def current_settings():
    return current_app.config["PAGERO_SETTINGS"]


def _ttl() -> int:
    return current_settings().session_lifetime


def load(session: Mapping[str, Any]) -> TokenSet | None:
    """The logged-in user's tokens, or None. Cached for the rest of the request."""
    key = session.get(TOKEN_KEY)
    if not key:
        return None
    if "pagero_tokens" not in g:
        g.pagero_tokens = from_record(record_for(key, _store(), g.pop(PREFETCHED, None)))
    return g.pagero_tokens


def record_for(key: str, store, fetched: tuple[str, bytes | None] | None = None):
    """The token record under ``key``: the raw one the session store read along with
    the session in slot ``fetched[0]`` when it is that one (one Redis round trip),
    else the store's."""
    if fetched is not None and fetched[0] == slot_tag(key):
        return decode(fetched[1])
    return store.get(key)


def prefetched(tag: str, raw: bytes | None) -> None:
    """Keep the token record the session store read along with the session whose
    :func:`~app.token_store.slot_tag` is ``tag`` (app/session_store.py: one Redis
    round trip for both); :func:`load` uses it."""
    setattr(g, PREFETCHED, (tag, raw))


def save(session: MutableMapping[str, Any], tokens: TokenSet) -> None:
    """Store a new login's tokens under the session's id (the old login's are deleted).

    The id was just regenerated for this login, so it is fresh and secret; keying the
    tokens by it lets the Redis session store read session and tokens in one MGET.
    """
    forget(session)
    key = getattr(session, "sid", None) or secrets.token_urlsafe(32)
    _store().put(key, asdict(tokens), _ttl())
    session[TOKEN_KEY] = key
    session[LOGIN_AT] = session[SEEN_AT] = time.time()
    g.pagero_tokens = tokens


def rejoin(session: MutableMapping[str, Any], key: str, login_at: float) -> None:
    """Point the session at the tokens a login already stored under ``key`` (a resent
    callback, :mod:`app.login_state`); the login's time limits run from ``login_at``."""
    session[TOKEN_KEY] = key
    session[LOGIN_AT] = login_at
    session[SEEN_AT] = time.time()
    g.pop("pagero_tokens", None)


def forget(session: MutableMapping[str, Any]) -> TokenSet | None:
    """Delete the tokens (logout, refused refresh); return them for revocation."""
    key = session.pop(TOKEN_KEY, None)
    g.pop("pagero_tokens", None)
    if not key:
        return None
    store = _store()
    with _locked(store, key):
        old = from_record(store.get(key))
        store.delete(key)
    return old


def from_record(record: dict[str, Any] | None) -> TokenSet | None:
    """The token set a token store record holds (None for no record)."""
    return TokenSet(**record) if record else None


def require(session: MutableMapping[str, Any]) -> TokenSet:
    tokens = load(session)
    if tokens is None:
        if ended := why_ended(session):
            raise errors.SessionEnded(ended + " Log in again to continue.")
        raise errors.NotLoggedIn("You are not logged in. Log in with Pagero to continue.")
    return tokens


def why_ended(session: MutableMapping[str, Any]) -> str | None:
    """Once, after a timeout ended the session: why, in plain words (None otherwise)."""
    if ENDED_BY not in session:
        return None  # and the session stays unmodified: no write, no cookie
    reason = session.pop(ENDED_BY)
    settings = current_settings()
    if reason == "idle":
        return (
            "You were logged out because you had not used the app for "
            f"{duration(settings.session_idle_timeout)}."
        )
    if reason == "absolute":
        return (
            "You were logged out because a login lasts at most "
            f"{duration(settings.session_lifetime)}, however active."
        )
    return None


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


def fresh(session: MutableMapping[str, Any], refresh, rejected: str | None = None) -> TokenSet:
    """The session's tokens, refreshed first when needed, exactly once across workers.

    Proactive: the access token expires within ``PAGERO_REFRESH_MARGIN``
    (:func:`refresh_margin`).
    Reactive: the API just refused ``rejected`` (the access token we sent).
    ``refresh`` is :meth:`PageroClient.refresh`; a refusal (``LoginExpired``)
    deletes the tokens, any other failure keeps them for the next attempt.
    """
    settings = current_app.config["PAGERO_SETTINGS"]
    current = require(session)

    def stale(tokens: TokenSet) -> bool:
        if rejected is not None:
            return tokens.access_token == rejected
        return tokens.needs_refresh(refresh_margin(tokens, settings.refresh_margin))

    if not stale(current):
        return current
    key = session[TOKEN_KEY]
    store = _store()
    with _locked(store, key, on_busy=metrics.refresh_busy):
        # Re-read under the lock: another request (any worker, any instance)
        # may have refreshed while we waited; its pair is the one to use.
        latest = from_record(store.get(key))
        if latest is None:
            g.pop("pagero_tokens", None)
            session.pop(TOKEN_KEY, None)
            raise errors.LoginExpired("You were logged out in the meantime. Please log in again.")
        if not stale(latest):
            g.pagero_tokens = latest
            return latest
        try:
            renewed = metrics.counted_refresh(refresh, latest)
        except errors.LoginExpired:
            store.delete(key)
            session.pop(TOKEN_KEY, None)
            g.pop("pagero_tokens", None)
            raise
        store.put(key, asdict(renewed), _ttl())
    g.pagero_tokens = renewed
    return renewed


#: The longest a request waits for another request's refresh before its 503: a user
#: gets an answer within 15 s. A holder that died frees the lock sooner (the kernel
#: drops a file lock at once; a Redis lock's lease ends within ``LOCK_LEASE``).
REFRESH_WAIT_LIMIT = 14.0


def refresh_wait(settings) -> float:
    """Seconds to wait for the lock: one refresh round trip to Pagero and a second of
    queueing, but never more than :data:`REFRESH_WAIT_LIMIT`."""
    return min(settings.http_connect_timeout + settings.http_read_timeout + 1, REFRESH_WAIT_LIMIT)


@contextmanager
def _locked(store, key: str, on_busy=None) -> Iterator[None]:
    timeout = refresh_wait(current_app.config["PAGERO_SETTINGS"])
    try:
        with store.lock(key, timeout=timeout):
            yield
    except LockTimeout:
        if on_busy is not None:
            on_busy()
        raise errors.TokenRefreshBusy(
            "Another request of this session is still renewing the access token. "
            "Please try again in a moment."
        ) from None


def mask(token: str | None, keep: int = 12) -> str:
    """Enough of a token to tell two apart on screen, never enough to use one.

    Pagero's opaque tokens start with a fixed 9-character prefix
    (``_0XBPWQQ_``), so we show a few random characters after it.
    """
    if not token:
        return "(none)"
    return token[: min(keep, len(token) // 3)] + "…"
