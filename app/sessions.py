"""Server-side sessions and the token store, on the filesystem or in Redis.

``SESSION_BACKEND=filesystem`` (one machine, any number of workers) or
``redis`` (any number of instances sharing one Redis). Flask-Session keeps the
session, the core's stores (:func:`pagero_oauth.stores.build`) keep the tokens beside it,
in the same place.

What this module adds to Flask-Session:

* a store that cannot be reached is a clear 503 (page or problem+json), never
  a stack trace: opening the session fails soft, saving it turns the answer
  into a 503 so the browser is never told "done" about something not stored;
* absolute and idle timeouts (``SESSION_LIFETIME``, ``SESSION_IDLE_TIMEOUT``):
  the store's own expiry follows the idle timeout (each write renews it, and an
  active session is written at most once per :func:`seen_write_interval`), the
  absolute limit is checked on every request;
* every session sealed at rest with the stores' sealer, and never read with ``pickle``
  (:mod:`app.session_sealing`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, request, session
from flask_session.base import ServerSideSessionInterface
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSessionInterface

from config import ConfigError, Settings
from pagero_oauth import errors
from pagero_oauth.stores import Store
from pagero_oauth.stores.base import slot_tag
from pagero_oauth.stores.redis import RedisStore
from pagero_oauth.stores.redis_client import REDIS_ERRORS, startup_problem
from pagero_oauth.tokens import ENDED_BY, LOGIN_AT, SEEN_AT, TOKEN_KEY

from . import metrics
from .error_pages import render_error
from .extension import pagero
from .session_sealing import RawBytes, SealedSerializer

log = logging.getLogger(__name__)

#: How often an active session's "last seen" time is written (seconds), at most:
#: a shorter SESSION_IDLE_TIMEOUT shortens it (:func:`seen_write_interval`).
SEEN_WRITE_INTERVAL = 60


#: What a store operation raises when its backend cannot serve it.
STORE_ERRORS = (*REDIS_ERRORS, OSError)


def _unavailable() -> errors.SessionStoreUnavailable:
    return errors.SessionStoreUnavailable(
        "The app cannot reach its session store right now, so it cannot tell who you are. "
        "Please try again in a moment."
    )


class _ResilientSessions:
    """Mixin for a Flask-Session interface: a store outage becomes a 503, not a crash."""

    token_store: Store

    def open_session(self, app: Flask, request) -> Any:
        try:
            return super().open_session(app, request)
        except STORE_ERRORS as exc:
            failed = type(exc).__name__
            metrics.store_error(exc, pagero.configured.session_backend, "session_open")
        log.error("session store unreachable while opening: %s", failed)
        empty = self.session_class(sid=self._generate_sid(self.sid_length))
        empty.store_unavailable = True
        return empty

    def save_session(self, app: Flask, session_obj: Any, response: Response) -> None:
        if getattr(session_obj, "store_unavailable", False):
            return
        try:
            super().save_session(app, session_obj, response)
        except STORE_ERRORS as exc:
            log.error("session store unreachable while saving: %s", type(exc).__name__)
            metrics.store_error(exc, pagero.configured.session_backend, "session_save")
            _turn_into_unavailable(response)


class ResilientCacheLibSessions(_ResilientSessions, CacheLibSessionInterface):
    """Filesystem sessions, each file a sealed session (:mod:`app.session_sealing`).

    cachelib deletes an expired file only when it is read again, and (with
    ``threshold=0``, so live sessions are never evicted) never prunes: an abandoned
    session's file would stay forever. So every :data:`SWEEP_EVERY`-th write, on
    average, also deletes the expired files."""

    SWEEP_EVERY = 500

    def _retrieve_session_data(self, store_id: str) -> dict | None:
        raw = self.cache.get(store_id)
        return self.serializer.decode(raw) if isinstance(raw, bytes) and raw else None

    def _upsert_session(self, session_lifetime, session_obj, store_id) -> None:
        self.cache.set(
            store_id,
            self.serializer.encode(session_obj),
            timeout=int(session_lifetime.total_seconds()),
        )
        if secrets.randbelow(self.SWEEP_EVERY) == 0:
            self.sweep()

    def sweep(self, now: float | None = None) -> None:
        # cachelib's own expiry pass (private, but stable since cachelib 0.1).
        self.cache._remove_expired(time.time() if now is None else now)


class ResilientRedisSessions(_ResilientSessions, RedisSessionInterface):
    """Redis sessions, read together with the tokens they lead to.

    A login's tokens are stored under the session's id (:meth:`TokenKeeper.save
    <pagero_oauth.keeper.TokenKeeper.save>`), and both keys carry the id's
    :func:`~pagero_oauth.stores.base.slot_tag` as their hash tag
    (``pagero:{tag}:session``, ``pagero:{tag}:tokens``), so one MGET brings the
    session and its tokens, on one server or a cluster: an API call costs one Redis
    round trip instead of two. The session id itself never appears in a key. A
    session whose tokens live under another key still works; :meth:`app.extension.Pagero.tokens`
    then reads them itself.
    """

    token_store: RedisStore

    def __init__(self, client, **options: Any) -> None:
        # RedisSessionInterface.__init__ replaces any client that is not a redis.Redis
        # with a default one on localhost: a RedisCluster is not one.
        ServerSideSessionInterface.__init__(self, **options)
        self.client = client

    def _get_store_id(self, sid: str) -> str:
        return self.token_store.tagged(slot_tag(sid), "session")

    def _retrieve_session_data(self, store_id: str) -> dict | None:
        tag = store_id.partition("{")[2].partition("}")[0]  # the prefix has no braces
        raw, raw_tokens = self.client.mget([store_id, self.token_store.tagged(tag)])
        pagero.prefetched(tag, raw_tokens)
        return self.serializer.decode(raw) if raw else None


def _turn_into_unavailable(response: Response) -> None:
    """The session was not stored: whatever the view answered did not take effect."""
    if response.is_streamed:
        return
    page = render_error(_unavailable())
    response.status_code = page.status_code
    response.set_data(page.get_data())
    response.headers["Content-Type"] = page.headers["Content-Type"]
    response.headers["Retry-After"] = "1"
    response.headers.pop("Location", None)
    response.headers.pop("Set-Cookie", None)


def init_app(app: Flask, settings: Settings) -> Store:
    """Bind the session interface beside the stores for ``settings.session_backend``
    (:func:`pagero_oauth.stores.build` chooses; the sessions follow)."""
    # Each write renews the store's expiry; an active session is written at least
    # every seen_write_interval (a minute at most), so idle + a minute bounds an
    # abandoned one, and a session just past its idle timeout is still there to be
    # ended by _enforce_timeouts, which deletes its tokens too.
    app.permanent_session_lifetime = settings.session_idle_timeout + SEEN_WRITE_INTERVAL
    common = {
        "app": app,
        "key_prefix": settings.session_key_prefix + "session:",
        "use_signer": False,
        "permanent": True,
        "sid_length": 32,
        "serialization_format": "msgpack",
    }
    built = pagero.stores
    store = built.tokens
    if built.redis is not None:
        if problem := startup_problem(settings, built.redis):
            raise ConfigError(settings.profile, {"REDIS_URL": problem})
        app.session_interface = ResilientRedisSessions(
            client=built.redis, **{**common, "key_prefix": settings.session_key_prefix}
        )
        app.session_interface.token_store = store  # _get_store_id names keys with it
    else:
        from cachelib.file import FileSystemCache

        # threshold=0: never evict a live session to make room; expiry removes them.
        cache = FileSystemCache(built.session_folder, threshold=0, mode=0o600)
        cache.serializer = RawBytes()
        app.session_interface = ResilientCacheLibSessions(client=cache, **common)
    app.session_interface.token_store = store
    app.session_interface.serializer = SealedSerializer(
        app.session_interface.serializer, store.sealer
    )
    app.before_request(_enforce_timeouts)
    for error in STORE_ERRORS[:-1]:  # not OSError: only the store's own failures
        app.register_error_handler(error, _store_error)
    return store


def rejoin(session: Any, sid: str) -> None:
    """Make this request's session the existing session ``sid``: the browser's answer
    then carries ``sid``'s cookie. For a callback resent after its first attempt created
    that session (:mod:`pagero_oauth.logins`); the request's own session is deleted, as
    ``regenerate`` deletes the one it replaces."""
    interface = current_app.session_interface
    if session.sid != sid:
        interface._delete_session(interface._get_store_id(session.sid))
        session.sid = sid
    session.modified = True


def _store_error(exc: BaseException) -> Response:
    log.error("session store unreachable: %s", type(exc).__name__)
    metrics.store_error(exc, pagero.configured.session_backend)
    return render_error(_unavailable())


#: Endpoints that never use the session: probes must answer whatever the store does.
SESSIONLESS_ENDPOINTS = {"health.healthz", "health.readyz", "static", "pages.favicon"}


def _enforce_timeouts() -> None:
    """Refuse to serve from a store we could not read; end sessions past their limits."""
    if request.endpoint in SESSIONLESS_ENDPOINTS:
        return
    if getattr(session._get_current_object(), "store_unavailable", False):
        raise _unavailable()
    if TOKEN_KEY not in session:
        return
    now = time.time()
    settings = pagero.configured
    reason = timeout_reason(session, settings, now)
    if reason is not None:
        pagero.forget(session)
        session.clear()
        # Kept so that the next page says why the user is logged out (TokenKeeper.missing,
        # app/pages/views.py), rather than just "You are not logged in".
        session[ENDED_BY] = reason
        log.info("session ended by the %s timeout", reason)
        return
    if seen_write_due(session, now, settings.session_idle_timeout):
        session[SEEN_AT] = now


def timeout_reason(data: Mapping[str, Any], settings: Settings, now: float) -> str | None:
    """``"absolute"`` or ``"idle"`` when a logged-in session has outlived that limit."""
    if now - data.get(LOGIN_AT, now) > settings.session_lifetime:
        return "absolute"
    if now - data.get(SEEN_AT, now) > settings.session_idle_timeout:
        return "idle"
    return None


def seen_write_interval(idle_timeout: float) -> float:
    """Seconds between writes of an active session's "last seen" time.

    At most a minute, so a busy session costs one store write a minute; and at most a
    quarter of the idle timeout, so a user whose requests keep coming is always seen
    well within it (with a 60 s interval a 30 s idle timeout would end every session
    30 s after its last write, however active).
    """
    return min(SEEN_WRITE_INTERVAL, idle_timeout / 4)


def seen_write_due(data: Mapping[str, Any], now: float, idle_timeout: float | None = None) -> bool:
    """Whether this request must write down that the user was here (idle timeout).
    Without ``idle_timeout``, every :data:`SEEN_WRITE_INTERVAL`."""
    interval = SEEN_WRITE_INTERVAL if idle_timeout is None else seen_write_interval(idle_timeout)
    return now - data.get(SEEN_AT, now) >= interval
