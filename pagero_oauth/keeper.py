"""A logged-in session's tokens in the store: kept, read, forgotten, refreshed exactly once.

The session (any ``MutableMapping``; Flask-Session's in the app) holds only
:data:`~pagero_oauth.tokens.TOKEN_KEY`, the key of the tokens in the store, and the
times its limits run from. Why the tokens are not in the session itself, and why a
refresh runs under the store's lock: :mod:`pagero_oauth.stores.base`.

Nothing here caches per request: a web adapter that wants one read per request keeps
the token set it got (app/extension.py keeps it in Flask's ``g``).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from . import errors
from .observer import Observer
from .settings import Settings
from .stores.base import LockTimeout, Store
from .tokens import ENDED_BY, LOGIN_AT, SEEN_AT, TOKEN_KEY, TokenSet, duration, from_record
from .tokens import record_for as _record_for

log = logging.getLogger(__name__)

#: The longest a request waits for another request's refresh before its 503: a user
#: gets an answer within 15 s. A holder that died frees the lock sooner (the kernel
#: drops a file lock at once; a Redis lock's lease ends within ``LOCK_LEASE``).
REFRESH_WAIT_LIMIT = 14.0


def refresh_wait(settings: Settings) -> float:
    """Seconds to wait for the lock: one refresh round trip to Pagero and a second of
    queueing, but never more than :data:`REFRESH_WAIT_LIMIT`."""
    return min(settings.http_connect_timeout + settings.http_read_timeout + 1, REFRESH_WAIT_LIMIT)


class TokenKeeper:
    """The tokens of logged-in sessions, in ``store``; ``settings`` give their limits."""

    def __init__(self, store: Store, settings: Settings, observer: Observer | None = None):
        self.store = store
        self.settings = settings
        self.observer = observer or Observer()
        self._margin_warned = False

    def load(
        self, session: Mapping[str, Any], fetched: tuple[str, bytes | None] | None = None
    ) -> TokenSet | None:
        """The session's tokens, or None. ``fetched`` is a raw record the session store
        read along with the session (:func:`~pagero_oauth.tokens.record_for`)."""
        key = session.get(TOKEN_KEY)
        if not key:
            return None
        return from_record(_record_for(key, self.store, fetched))

    def save(self, session: MutableMapping[str, Any], tokens: TokenSet) -> None:
        """Store a new login's tokens under the session's id (the old login's are deleted).

        The id was just regenerated for this login, so it is fresh and secret; keying the
        tokens by it lets the Redis session store read session and tokens in one MGET.
        """
        self.forget(session)
        key = getattr(session, "sid", None) or secrets.token_urlsafe(32)
        self.store.put(key, asdict(tokens), self.settings.session_lifetime)
        session[TOKEN_KEY] = key
        session[LOGIN_AT] = session[SEEN_AT] = time.time()

    @staticmethod
    def rejoin(session: MutableMapping[str, Any], key: str, login_at: float) -> None:
        """Point the session at the tokens a login already stored under ``key`` (a resent
        callback, :mod:`pagero_oauth.logins`); the login's time limits run from ``login_at``."""
        session[TOKEN_KEY] = key
        session[LOGIN_AT] = login_at
        session[SEEN_AT] = time.time()

    def forget(self, session: MutableMapping[str, Any]) -> TokenSet | None:
        """Delete the tokens (logout, refused refresh); return them for revocation."""
        key = session.pop(TOKEN_KEY, None)
        if not key:
            return None
        with self._locked(key):
            old = from_record(self.store.get(key))
            self.store.delete(key)
        return old

    def missing(self, session: MutableMapping[str, Any]) -> errors.NotLoggedIn:
        """The error for a session without tokens: why it ended, or "not logged in"."""
        if ended := self.why_ended(session):
            return errors.SessionEnded(ended + " Log in again to continue.")
        return errors.NotLoggedIn("You are not logged in. Log in with Pagero to continue.")

    def why_ended(self, session: MutableMapping[str, Any]) -> str | None:
        """Once, after a timeout ended the session: why, in plain words (None otherwise)."""
        if ENDED_BY not in session:
            return None  # and the session stays unmodified: no write, no cookie
        reason = session.pop(ENDED_BY)
        if reason == "idle":
            return (
                "You were logged out because you had not used the app for "
                f"{duration(self.settings.session_idle_timeout)}."
            )
        if reason == "absolute":
            return (
                "You were logged out because a login lasts at most "
                f"{duration(self.settings.session_lifetime)}, however active."
            )
        return None

    def fresh(
        self,
        session: MutableMapping[str, Any],
        current: TokenSet,
        refresh: Callable[[TokenSet], TokenSet],
        rejected: str | None = None,
    ) -> TokenSet:
        """The session's tokens (``current``), refreshed first when needed, exactly once
        across workers.

        Proactive: the access token expires within ``PAGERO_REFRESH_MARGIN``
        (:meth:`refresh_margin`).
        Reactive: the API just refused ``rejected`` (the access token we sent).
        ``refresh`` is :meth:`PageroClient.refresh`; a refusal (``LoginExpired``)
        deletes the tokens, any other failure keeps them for the next attempt.
        """

        def stale(tokens: TokenSet) -> bool:
            if rejected is not None:
                return tokens.access_token == rejected
            return tokens.needs_refresh(self.refresh_margin(tokens))

        if not stale(current):
            return current
        key = session[TOKEN_KEY]
        with self._locked(key, count_busy=True):
            # Re-read under the lock: another request (any worker, any instance)
            # may have refreshed while we waited; its pair is the one to use.
            latest = from_record(self.store.get(key))
            if latest is None:
                session.pop(TOKEN_KEY, None)
                raise errors.LoginExpired(
                    "You were logged out in the meantime. Please log in again."
                )
            if not stale(latest):
                return latest
            try:
                renewed = self._counted(refresh, latest)
            except errors.LoginExpired:
                self.store.delete(key)
                session.pop(TOKEN_KEY, None)
                raise
            self.store.put(key, asdict(renewed), self.settings.session_lifetime)
        return renewed

    def refresh_margin(self, tokens: TokenSet) -> float:
        """How long before expiry ``tokens`` is refreshed: ``PAGERO_REFRESH_MARGIN``, unless
        the token lives no longer than that. Such a token would be "expiring" from the
        moment it was issued, and every API call would spend a refresh round trip (and a
        refresh token) on it; it is refreshed at half its life instead, and the operator
        is told, once per worker."""
        configured = self.settings.refresh_margin
        if tokens.lifetime is None or tokens.lifetime > configured:
            return configured
        if not self._margin_warned:
            self._margin_warned = True
            log.warning(
                "PAGERO_REFRESH_MARGIN (%s s) is not shorter than the access tokens' life "
                "(%g s): such tokens are refreshed at half their life instead; set "
                "PAGERO_REFRESH_MARGIN below %g",
                configured,
                tokens.lifetime,
                tokens.lifetime,
            )
        return tokens.lifetime / 2

    def _counted(self, refresh: Callable[[TokenSet], TokenSet], tokens: TokenSet) -> TokenSet:
        try:
            renewed = refresh(tokens)
        except errors.LoginExpired:
            self.observer.refresh_outcome("login_expired")
            raise
        except Exception:
            self.observer.refresh_outcome("error")
            raise
        self.observer.refresh_outcome("refreshed")
        return renewed

    @contextmanager
    def _locked(self, key: str, count_busy: bool = False) -> Iterator[None]:
        try:
            with self.store.lock(key, timeout=refresh_wait(self.settings)):
                yield
        except LockTimeout:
            if count_busy:
                self.observer.refresh_outcome("busy")
            raise errors.TokenRefreshBusy(
                "Another request of this session is still renewing the access token. "
                "Please try again in a moment."
            ) from None
