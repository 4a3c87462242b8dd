"""The Flask extension: builds the core client for each app, and hands views their tokens.

Thin on purpose, as Authlib's ``flask_client`` is over its ``base_client``: the protocol
is :class:`pagero_oauth.client.PageroClient`, built here from the app's settings, one
pooled HTTP session per worker (:func:`pagero_oauth.http.pooled_session`) and the stores
:func:`pagero_oauth.stores.build` chose. What this module adds is Flask's part:

* per app: the client lives in ``app.extensions``; ``pagero`` (module level, bound with
  :meth:`Pagero.init_app`) finds the current app's, so views and tests write
  ``pagero.settings``;
* per request: the session's token set is read once and kept in ``g`` (the Redis
  session store may have read it already, in the same round trip as the session:
  :meth:`Pagero.prefetched`);
* the one way to read settings: :attr:`Pagero.settings` (the server metadata applied,
  which may read it once) and :attr:`Pagero.configured` (as configured, never a call).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask, current_app, g, has_app_context

from config import ConfigError, Settings
from pagero_oauth import errors
from pagero_oauth.client import PageroClient
from pagero_oauth.discovery import Discovery
from pagero_oauth.http import Route, pooled_session
from pagero_oauth.in_flight import InFlight
from pagero_oauth.sealing import Sealer
from pagero_oauth.stores import Stores
from pagero_oauth.stores import build as build_stores
from pagero_oauth.stores.redis_client import ClusterNotReached
from pagero_oauth.tokens import TOKEN_KEY, TokenSet

from . import metrics

#: Where the core client of an app lives (the doctor and tests read it there too).
EXTENSION = "pagero_client"
#: The token set of this request, once read (the flow trace shows it after a login).
CACHED = "pagero_tokens"
#: Where :meth:`Pagero.prefetched` leaves a raw record for :meth:`Pagero.tokens`.
PREFETCHED = "pagero_prefetched_tokens"


@dataclass
class _AppState:
    client: PageroClient
    stores: Stores
    #: How the pooled session reaches the API, for the proxy's hot path on urllib3.
    api: Route
    observer: AppObserver


class AppObserver(metrics.PrometheusObserver):
    """What the core reports: counted (app/metrics.py), and a token call that got no
    answer passed to whoever listens (the flow trace)."""

    def __init__(self) -> None:
        self.unanswered: list[Callable[[Exception, float], None]] = []

    def token_call_unanswered(self, exc: Exception, started: float) -> None:
        for hook in self.unanswered:
            hook(exc, started)


class Pagero:
    """The Flask extension (one per process, bound to each app with :meth:`init_app`)."""

    def __init__(self) -> None:
        self._last: _AppState | None = None

    def init_app(self, app: Flask) -> None:
        """Build the app's client from its settings, a pooled session and its stores
        (:func:`pagero_oauth.stores.build` chooses the backend)."""
        settings: Settings = app.config["PAGERO_SETTINGS"]
        sealer = Sealer([app.config["SECRET_KEY"], *app.config["SECRET_KEY_FALLBACKS"]])
        try:
            stores = build_stores(settings, app.instance_path, sealer)
        except ClusterNotReached as exc:  # a cluster's client connects as it is built
            raise ConfigError(settings.profile, {"REDIS_URL": str(exc)}) from exc
        # As many kept-alive connections as calls may wait: none is opened to be thrown away.
        http = pooled_session(settings.max_in_flight)
        observer = AppObserver()
        client = PageroClient(settings, http=http, store=stores.tokens, observer=observer)
        state = _AppState(client, stores, Route(http, settings.api_base_url), observer)
        app.extensions[EXTENSION] = client
        app.extensions["pagero"] = state
        self._last = state

    def _state(self) -> _AppState:
        """The current app's state; outside a request, the app built last."""
        if has_app_context():
            state = current_app.extensions.get("pagero")
            if state is not None:
                return state
        if self._last is None:
            raise RuntimeError("pagero.init_app(app) has not run")
        return self._last

    # -- the core client and what it holds ------------------------------------------------

    @property
    def client(self) -> PageroClient:
        return self._state().client

    @property
    def settings(self) -> Settings:
        """The settings with the server metadata applied (may read it, once per worker)."""
        return self._state().client.settings

    @property
    def configured(self) -> Settings:
        """The settings as configured: no server metadata, never a network call."""
        return self._state().client.configured

    @property
    def discovery(self) -> Discovery | None:
        return self._state().client.discovery

    @property
    def http(self) -> requests.Session:
        return self._state().client.http

    @property
    def in_flight(self) -> InFlight:
        return self._state().client.in_flight

    @property
    def api(self) -> Route:
        return self._state().api

    @property
    def stores(self) -> Stores:
        return self._state().stores

    def on_unanswered_token_call(self, hook: Callable[[Exception, float], None]) -> None:
        """Call ``hook(exception, start time)`` for a token call that got no answer."""
        self._state().observer.unanswered.append(hook)

    # -- the session's tokens, read once per request ---------------------------------------

    def tokens(self, session: MutableMapping[str, Any]) -> TokenSet | None:
        """The logged-in user's tokens, or None. Cached for the rest of the request."""
        if not session.get(TOKEN_KEY):
            return None
        if CACHED not in g:
            setattr(g, CACHED, self.client.tokens.load(session, g.pop(PREFETCHED, None)))
        return g.get(CACHED)

    def require(self, session: MutableMapping[str, Any]) -> TokenSet:
        """The tokens, or the 401 that says why there are none (a timeout, or no login)."""
        token_set = self.tokens(session)
        if token_set is None:
            raise self.client.tokens.missing(session)
        return token_set

    def fresh(self, session: MutableMapping[str, Any], rejected: str | None = None) -> TokenSet:
        """The tokens, refreshed first when needed (:meth:`TokenKeeper.fresh`)."""
        client = self.client
        try:
            renewed = client.tokens.fresh(session, self.require(session), client.refresh, rejected)
        except errors.LoginExpired:
            g.pop(CACHED, None)
            raise
        setattr(g, CACHED, renewed)
        return renewed

    def save(self, session: MutableMapping[str, Any], token_set: TokenSet) -> None:
        """Keep a new login's tokens (:meth:`TokenKeeper.save`)."""
        self.client.tokens.save(session, token_set)
        setattr(g, CACHED, token_set)

    def rejoin(self, session: MutableMapping[str, Any], key: str, login_at: float) -> None:
        """Point the session at a resent callback's tokens (:meth:`TokenKeeper.rejoin`)."""
        self.client.tokens.rejoin(session, key, login_at)
        g.pop(CACHED, None)

    def forget(self, session: MutableMapping[str, Any]) -> TokenSet | None:
        """Delete the session's tokens; return them for revocation."""
        g.pop(CACHED, None)
        return self.client.tokens.forget(session)

    def why_ended(self, session: MutableMapping[str, Any]) -> str | None:
        return self.client.tokens.why_ended(session)

    @staticmethod
    def prefetched(tag: str, raw: bytes | None) -> None:
        """Keep the token record the session store read along with the session whose
        :func:`~pagero_oauth.stores.base.slot_tag` is ``tag`` (one Redis round trip for
        both, app/sessions.py); :meth:`tokens` uses it."""
        setattr(g, PREFETCHED, (tag, raw))


pagero = Pagero()
