"""The one outgoing HTTP session per worker: pooled, cookieless, configured once.

Every call to Pagero (token endpoint, JWKS, metadata, API) goes through it, so
keep-alive connections are reused across users. Two ``requests`` defaults are
wrong for a backend that serves many users and are switched off here:

* the cookie jar: a load balancer's affinity cookie from one user's call would
  ride along on everybody's next call;
* reading proxy settings from the environment on *every* request (about a
  millisecond each on a busy machine): they are read once at start-up instead,
  and only kept live when a proxy is actually configured, so ``NO_PROXY`` keeps
  its meaning.

And one addition: a request whose kept-alive connection the server closed just
as it went out is sent once more on a new connection (:class:`ResendIfClosed`,
:class:`FreshResendPool`).
"""

from __future__ import annotations

import logging
import os
import select
import ssl
import urllib.request

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import Retry

USER_AGENT = "pagero-reference-client/1.0"

log = logging.getLogger(__name__)


class NoCookies(RequestsCookieJar):
    """A jar that keeps nothing, so no response can set state shared by all users."""

    def set_cookie(self, cookie, *args, **kwargs) -> None:
        return None

    def extract_cookies(self, response, request) -> None:
        return None


class ResendIfClosed(Retry):
    """The policy of a request that may go out once more on a new connection.

    A server (or its load balancer) closes a kept-alive connection once it has
    been idle for its keep-alive time (Node's default is 5 s). When that happens
    just as we send on it, the request fails with no status line at all. Browsers
    send such a request again on a new connection (RFC 9112 section 9.3.1 allows
    it when nothing was processed), and so does :class:`FreshResendPool`, for a
    request carrying this policy.

    Even for a token request (a POST) one more try is never worse than the user's
    next click: a code or refresh token works once, so a server that used it after
    all refuses the second try, as it would refuse the next click's. A request the
    proxy forwards for a page has no such guarantee, and only an idempotent one is
    sent again (:func:`resend_if_closed`). Timeouts and refused connections are not
    retried: they mean the server is slow or down, and waiting twice helps no one.

    urllib3 itself retries nothing under this policy (its own retry would take the
    next connection from the pool, as stale as the first after an idle spell); the
    one resend happens in the pool, on a connection opened for it.
    """


#: One more try, on a new connection, for a kept-alive one closed before the answer.
RESEND_IF_CLOSED = ResendIfClosed(0, read=False)

#: What ended a connection the peer closed: ``RemoteDisconnected`` (an empty status
#: line) is a ``ConnectionResetError``; TLS reports an EOF in its own words.
_CLOSED = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLEOFError)


def closed_before_answer(error: BaseException) -> bool:
    """The connection was reset or closed before a status line arrived.

    ``error`` is what http.client raised, or urllib3's wrapping of it:
    ``ProtocolError('Connection aborted.', RemoteDisconnected(...))`` or
    ``SSLError(SSLEOFError(...))``. A read timeout is not one: the server had the
    request and was working on it.
    """
    if isinstance(error, ProtocolError | urllib3.exceptions.SSLError):
        return any(isinstance(arg, _CLOSED) for arg in error.args)
    return isinstance(error, _CLOSED)


def _os_poll():
    """The operating system's ``poll``, even where gevent has put its own in its place.

    gevent's ``poll`` hands control to its event loop even with a zero timeout; the
    OS's answers at once and never blocks (a zero timeout), so no other greenlet
    is kept waiting by it.
    """
    try:
        from gevent.monkey import get_original
    except ImportError:  # no gevent installed: select.poll is the OS's own
        return select.poll
    return get_original("select", "poll")


_POLL = _os_poll()


class CheckedIdleConnection(HTTPConnection):
    """urllib3's connection with a cheaper answer to "did the server close it while
    it sat in the pool?", which the pool asks before every reuse.

    urllib3 answers with ``select.poll`` and a zero timeout. Under gevent's worker
    that is gevent's ``poll``: it sets up watchers and yields to the event loop,
    and on a busy proxy that cost about a twelfth of each call's CPU and sent
    the call to the back of the loop's queue (``make bench-slow``). Asking the
    OS directly gives the same answer (readable means the peer closed it or sent
    something unasked: either way it is not reused) in about a microsecond.
    """

    @property
    def is_connected(self) -> bool:
        if self.sock is None:
            return False
        poller = _POLL()
        poller.register(self.sock, select.POLLIN)
        return not poller.poll(0)


class CheckedIdleHTTPSConnection(CheckedIdleConnection, HTTPSConnection):
    pass


class FreshResendPool(urllib3.HTTPConnectionPool):
    """A keep-alive pool that sends a request again on a *new* connection when the
    kept-alive one it went out on turns out to have been closed by the server.

    Only a connection that has carried an answer before is suspected: a new one
    closed before answering is a server in trouble, not an idle timeout. And only a
    request whose policy is :data:`RESEND_IF_CLOSED` and whose body can be sent
    twice is resent. urllib3 checks a pooled connection before use (a close that
    has already arrived is seen; :class:`CheckedIdleConnection` makes that check
    cheap); this covers the close still on its way.
    """

    ConnectionCls = CheckedIdleConnection

    def _make_request(self, conn, method, url, body=None, headers=None, retries=None, **kw):
        reused = conn.sock is not None and getattr(conn, "_answered_on", None) is conn.sock
        try:
            response = super()._make_request(conn, method, url, body, headers, retries, **kw)
        except Exception as error:
            if not (
                reused
                and isinstance(retries, ResendIfClosed)
                and (body is None or isinstance(body, bytes | str))
                and closed_before_answer(error)
            ):
                raise
            log.info(
                "%s to %s sent again on a new connection: the kept-alive one was closed (%s)",
                method,
                self.host,
                type(error).__name__,
            )
            conn.close()
            response = super()._make_request(conn, method, url, body, headers, retries, **kw)
        conn._answered_on = conn.sock
        return response


class FreshResendHTTPSPool(FreshResendPool, urllib3.HTTPSConnectionPool):
    ConnectionCls = CheckedIdleHTTPSConnection


POOL_CLASSES = {"http": FreshResendPool, "https": FreshResendHTTPSPool}


class FreshResendAdapter(HTTPAdapter):
    """``requests``' adapter with :class:`FreshResendPool` pools, direct or through an
    HTTP(S) proxy (a SOCKS proxy keeps urllib3's own pools)."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager


#: RFC 9110 section 9.2.2: sending one of these twice has the effect of sending it once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def resend_if_closed(method: str, body) -> Retry | bool:
    """The retry policy for a call the proxy forwards for a page.

    Only an idempotent method is sent again: RFC 9110 section 9.2.2 forbids a proxy to
    retry a POST or PATCH by itself, because a server that read it and then lost the
    connection may have acted on it (an invoice sent twice). Such a call ends in a 502
    and the page decides. A streamed body cannot be sent twice at all. (The app's own
    token requests are resent whatever their method: see :class:`ResendIfClosed`.)
    """
    replayable = body is None or isinstance(body, bytes)
    return RESEND_IF_CLOSED if replayable and method in IDEMPOTENT_METHODS else False


def pooled_session(pool_size: int = 64) -> requests.Session:
    http = requests.Session()
    adapter = FreshResendAdapter(
        pool_connections=4, pool_maxsize=pool_size, max_retries=RESEND_IF_CLOSED
    )
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    http.headers["User-Agent"] = USER_AGENT
    http.cookies = NoCookies()
    if not urllib.request.getproxies():
        http.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            http.verify = bundle
    return http


class Route:
    """How ``http`` reaches one origin, worked out once, for calls made on urllib3 directly.

    The API proxy skips ``requests`` on its hot path, but must still go where
    ``requests`` would go and trust what it would trust: the same CA bundle
    (``REQUESTS_CA_BUNDLE``: a staging API behind a private CA) and the same
    outgoing proxy (``HTTPS_PROXY``/``HTTP_PROXY`` minus ``NO_PROXY``), so an API
    call never fails where a token request to the same network succeeds.
    ``requests`` decides both here, once per origin, instead of on every call.
    """

    def __init__(self, http: requests.Session, base_url: str):
        self.adapter = http.get_adapter(base_url)
        self.request = requests.Request("GET", base_url).prepare()
        self.proxies = dict(http.proxies)
        self.verify = http.verify
        if http.trust_env:  # a proxy is configured (pooled_session): read what requests reads
            settings = http.merge_environment_settings(base_url, {}, None, None, None)
            self.proxies = settings["proxies"]
            self.verify = settings["verify"]
        #: What the request line starts with: the base's path, or through a plain-http
        #: proxy the whole base URL (RFC 9112 section 3.2.2, absolute-form).
        self.prefix = self.adapter.request_url(self.request, self.proxies).rstrip("/")
        self._pool: urllib3.HTTPConnectionPool | None = None

    def pool(self) -> urllib3.HTTPConnectionPool:
        """The keep-alive pool for this origin, looked up once and kept.

        Asking the adapter on every call costs more than the rest of the
        lookup-free path. A pool its manager later drops from its LRU still works
        (urllib3 2 does not close dropped pools); one that was closed
        (``pool.pool is None``, e.g. by ``http.close()``) is looked up again.
        """
        pool = self._pool
        if pool is None or pool.pool is None:
            pool = self._pool = self.adapter.get_connection_with_tls_context(
                self.request, self.verify, proxies=self.proxies
            )
        return pool
