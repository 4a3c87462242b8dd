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
as it went out is sent once more on a new connection (:class:`ResendIfClosed`).
"""

from __future__ import annotations

import os
import urllib.request

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import Retry

USER_AGENT = "pagero-reference-client/1.0"


class NoCookies(RequestsCookieJar):
    """A jar that keeps nothing, so no response can set state shared by all users."""

    def set_cookie(self, cookie, *args, **kwargs) -> None:
        return None

    def extract_cookies(self, response, request) -> None:
        return None


class ResendIfClosed(Retry):
    """Send a request once more when its connection ended before any answer came.

    A server (or its load balancer) closes a kept-alive connection once it has
    been idle for its keep-alive time. When that happens just as we send on it,
    the request fails with no status line at all; under load this is about one
    refresh in two hundred (``make load`` against gunicorn's 2 s keep-alive).
    Browsers send such a request again on a new connection (RFC 9112 section
    9.3.1 allows it when nothing was processed), and so does this.

    Even for a token request (a POST) one more try is never worse than the user's
    next click: a code or refresh token works once, so a server that used it after
    all refuses the second try, as it would refuse the next click's. A request the
    proxy forwards for a page has no such guarantee, and only an idempotent one is
    sent again (:func:`resend_if_closed`). Timeouts and refused connections are not
    retried: they mean the server is slow or down, and waiting twice helps no one.
    """

    def increment(self, method=None, url=None, response=None, error=None, **kwargs):
        if error is not None and not closed_before_answer(error):
            return _NO_RETRY.increment(method, url, response, error, **kwargs)
        return super().increment(method, url, response, error, **kwargs)


#: What ``max_retries=0`` gives: read errors re-raised, others as MaxRetryError.
_NO_RETRY = Retry(0, read=False)
#: One more try on a connection closed before the answer, for any method.
RESEND_IF_CLOSED = ResendIfClosed(
    total=1,
    connect=0,
    read=1,
    redirect=0,
    status=0,
    other=0,
    allowed_methods=None,
    # A 503 with Retry-After is the API's answer to pass on, not ours to wait out.
    respect_retry_after_header=False,
)


def closed_before_answer(error: BaseException) -> bool:
    """The connection was reset or closed before a status line arrived."""
    return isinstance(error, ProtocolError) and any(
        isinstance(arg, ConnectionResetError | BrokenPipeError) for arg in error.args
    )


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
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=RESEND_IF_CLOSED)
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
