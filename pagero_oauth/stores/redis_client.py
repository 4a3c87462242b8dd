"""The Redis client behind ``SESSION_BACKEND=redis``: one node, Sentinel or Cluster.

Every form is redis-py's own support, chosen by ``REDIS_URL``:

* ``redis://``, ``rediss://`` (TLS), ``unix://``: one server, ``redis.Redis.from_url``;
* ``redis+sentinel://h1:26379,h2:26379/mymaster[/db]``: ``Sentinel.master_for``. Each
  new connection asks the sentinels where the master is, and a connection to a master
  that was demoted is dropped, so a failover needs no restart;
* ``redis+cluster://h1:6379,h2:6379``: ``RedisCluster``, which follows the slot map
  (``MOVED``/``ASK``). It reads that map when it is built, so the app needs one node of
  the cluster to answer at start-up.

Keys that one command or script touches together share a ``{hash tag}``
(:mod:`pagero_oauth.stores.redis`), so everything the app does works on a cluster.

TLS (``rediss://``, ``rediss+sentinel://``, ``rediss+cluster://``) verifies every server
it connects to (for Sentinel the sentinels and the master, for Cluster each node) against
the CA bundle the rest of the app uses (``REQUESTS_CA_BUNDLE``, or ``CURL_CA_BUNDLE``), so
one private CA serves Pagero's endpoints and Redis; an ``ssl_ca_certs=`` in the URL wins,
and with neither the system's CAs verify (:func:`ca_certs`). A certificate that is not
trusted is a start-up error (:func:`startup_problem`), not a 503 on every request.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
)
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool

from .redis_url import is_cluster, scheme_of, split_redis_url, url_ca_certs, uses_tls

log = logging.getLogger(__name__)

#: Short timeouts: a Redis outage must become a 503 quickly, not a hung worker.
TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 2}
#: Connections one worker may hold to Redis at once. A request holds at most one at a
#: time, so what bounds them is how many requests the worker serves at once
#: (``GUNICORN_WORKER_CONNECTIONS``), and the client sets no lower limit of its own: a
#: limit below it turns the excess commands into errors (redis-py's default of 100 fails
#: the 101st command in flight with ``MaxConnectionsError`` instead of waiting, and under
#: gevent a command keeps its connection until its greenlet's turn comes round again,
#: hundreds of milliseconds on a busy worker: 200 logins at once got 503s). This is
#: Redis's own default ``maxclients``, so the server's limit is met first. Connections
#: open only as they are needed.
MAX_CONNECTIONS = 10_000
#: What a store operation raises when Redis cannot serve it (RedisCluster raises a
#: few outside RedisError, e.g. when no node holds a slot).
REDIS_ERRORS = (RedisError, RedisClusterException)
#: Seconds the readiness probe's key lives: long enough to be written, short enough
#: that probes leave nothing behind.
PROBE_TTL_MS = 10_000


class ClusterNotReached(RedisError):
    """A cluster's client could not be built: it reads the slot map as it is built, so
    no node answering (or a node showing a certificate that is not trusted) stops the
    start. The message says which, in the words :func:`check_tls` uses for TLS."""


def connect(url: str, sentinel_password: str | None = None) -> Any:
    """A redis-py client for ``url`` (any form ``REDIS_URL`` takes).

    Raises :class:`ClusterNotReached` for a cluster none of whose listed nodes answers,
    or whose nodes show a certificate :func:`ca_certs` does not trust: a cluster's
    client reads the slot map as it is built. The other forms connect on first use.
    """
    scheme = scheme_of(url)
    if "+" in scheme:  # redis+sentinel, redis+cluster and their rediss+ twins
        target = split_redis_url(url)
        auth = {"username": target.username, "password": target.password}
        tls = tls_options(url) if target.tls else {}
        if target.kind == "sentinel":
            sentinels = Sentinel(
                list(target.nodes),
                # The sentinels tell where the master is: they are verified as it is.
                sentinel_kwargs={"password": sentinel_password, **TIMEOUTS, **tls},
                **TIMEOUTS,
                **tls,
            )
            return sentinels.master_for(
                target.service,
                db=target.db,
                health_check_interval=30,
                max_connections=MAX_CONNECTIONS,
                **auth,
            )
        nodes = [ClusterNode(host, port) for host, port in target.nodes]
        try:
            return RedisCluster(
                startup_nodes=nodes, max_connections=MAX_CONNECTIONS, **auth, **TIMEOUTS, **tls
            )
        except REDIS_ERRORS as exc:
            if _tls_refused(exc):
                raise ClusterNotReached(_not_trusted(url)) from exc
            raise ClusterNotReached(
                f"no node of the Redis Cluster in REDIS_URL answered ({type(exc).__name__}): "
                "the app reads the cluster's slot map as it starts, so at least one listed "
                "node must answer then"
            ) from exc
    options: dict[str, Any] = {
        **TIMEOUTS,
        "health_check_interval": 30,
        "max_connections": MAX_CONNECTIONS,
    }
    if scheme == "rediss" and (bundle := ca_certs(url)):
        options["ssl_ca_certs"] = bundle  # the same as the URL's ssl_ca_certs=, if it has one
    return redis.Redis.from_url(url, **options)


def ca_certs(url: str) -> str | None:
    """The CA file that verifies the certificates of a TLS ``url``, one rule for every form.

    The URL's ``ssl_ca_certs=`` first (a CA for Redis alone), else the bundle the app
    verifies Pagero with (:func:`_app_bundle`), else None: the system's CAs. (redis-py
    loads the system's CAs in any case; a file adds to them.)
    """
    return url_ca_certs(url) or _app_bundle()


def _app_bundle() -> str | None:
    """``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``: the order requests reads them in."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def tls_options(url: str) -> dict[str, Any]:
    """redis-py's TLS arguments for the Sentinel and Cluster forms (``rediss+``).

    ``rediss://`` gets the same from ``from_url``; these forms are built from their
    parts, so the verification is said here rather than left to the defaults. Each
    certificate must chain to :func:`ca_certs` and name the host connected to: one in
    ``REDIS_URL`` for a sentinel or the node the slot map is first read from, the
    address the sentinels or the slot map give out for the data nodes.
    """
    return {
        "ssl": True,
        "ssl_ca_certs": ca_certs(url),
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
    }


def probe_key(prefix: str) -> str:
    """The readiness probe's own key (hash-tagged: one known slot, never a session's)."""
    return f"{prefix}{{readyz}}:probe"


def check_writable(client: Any, prefix: str) -> None:
    """Write a short-lived key: raises what a session write would raise now.

    A PING is answered by a read-only replica and by a cluster that lost slots
    (``cluster-require-full-coverage``), yet neither can store a login.
    """
    client.set(probe_key(prefix), str(time.time()), px=PROBE_TTL_MS)


def failure(exc: BaseException, client: Any = None) -> str:
    """Why a store operation failed, as ``/readyz`` and the doctor report it.

    With the ``client`` that failed: when Sentinel found no master, each sentinel is
    asked once, directly, whether it refused our certificate check, because redis-py
    reports a sentinel it could not use only as "no master found", without the reason.
    """
    if _tls_refused(exc):
        return "tls_certificate_not_trusted"
    if isinstance(exc, MasterNotFoundError) and _a_sentinel_refuses_certificate(client):
        return "tls_certificate_not_trusted"
    if isinstance(exc, ReadOnlyError):
        return "read_only"
    if isinstance(exc, (ClusterDownError, SlotNotCoveredError)) or any(
        sign in str(exc) for sign in ("CLUSTERDOWN", "not covered")
    ):
        return "cluster_down"  # a slot has no node: its keys can be neither read nor written
    if isinstance(exc, ResponseError):
        return "write_refused"
    return "unreachable"


def _tls_refused(exc: BaseException) -> bool:
    seen = 0
    while exc is not None and seen < 10:  # the SSL error sits in the chain
        if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def startup_problem(settings: Any, client: Any = None) -> str | None:
    """What must stop the start for ``settings``' Redis, or None: a certificate that is
    not trusted (:func:`check_tls`), or a cluster none of whose nodes answers
    (:class:`ClusterNotReached`; one node or Sentinel down is no reason: 503s until it
    is back).

    Run by gunicorn's master before any worker (config/gunicorn.py), without a client,
    and by the app (app/sessions.py) with its own.
    """
    if settings.session_backend != "redis":
        return None
    if client is None:
        if not uses_tls(settings.redis_url) and not is_cluster(settings.redis_url):
            return None  # nothing to check before the first request
        try:
            client = connect(settings.redis_url)
        except ClusterNotReached as exc:
            return str(exc)
        try:
            return check_tls(client, settings.redis_url)
        finally:
            client.close()
    return check_tls(client, settings.redis_url)


def check_tls(client: Any, url: str) -> str | None:
    """At start-up, for the TLS forms: why a server's certificate is refused, or None.

    Redis being down or slow is not a reason to refuse to start (the app answers 503
    and recovers by itself); a certificate the CA bundle does not trust never heals,
    so it is said once, at start, naming the variables to fix. For Sentinel each
    sentinel is asked first (:func:`_refuses_certificate`), then the master it names.
    """
    if not uses_tls(url):
        return None
    if _a_sentinel_refuses_certificate(client):
        return _not_trusted(url)
    try:
        client.ping()
    except REDIS_ERRORS as exc:
        if _tls_refused(exc):
            return _not_trusted(url)
        log.warning("Redis did not answer at start-up (%s): 503s until it does", failure(exc))
    return None


def _a_sentinel_refuses_certificate(client: Any) -> bool:
    """Whether one of the sentinels a ``master_for`` client asks where the master is
    refuses our certificate check (:func:`_refuses_certificate`); False for other clients."""
    pool = getattr(client, "connection_pool", None)  # a RedisCluster has one per node
    if not isinstance(pool, SentinelConnectionPool):
        return False
    return any(_refuses_certificate(sentinel) for sentinel in pool.sentinel_manager.sentinels)


def _refuses_certificate(server: Any) -> bool:
    """One connection to ``server``, tried once: was its certificate refused?

    Asked of each sentinel directly, because a master's client reports a sentinel it
    could not use only as ``MasterNotFoundError``, without the reason; and once, because
    redis-py's retries would spend seconds per sentinel on what never heals.
    """
    pool = server.connection_pool
    connection = pool.connection_class(**{**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)})
    try:
        connection.connect()
    except REDIS_ERRORS as exc:
        return _tls_refused(exc)
    finally:
        connection.disconnect()
    return False


def _not_trusted(url: str) -> str:
    """What to fix, naming the CA that was used: the URL's, the app's bundle or the system's."""
    if own := url_ca_certs(url):
        trusted, fix = f"the ssl_ca_certs= file {own} in REDIS_URL", "set ssl_ca_certs="
    elif bundle := _app_bundle():
        trusted, fix = f"the CA bundle {bundle}", "set REQUESTS_CA_BUNDLE"
    else:
        trusted, fix = "the system's CA certificates", "set REQUESTS_CA_BUNDLE"
    return (
        f"the Redis server's TLS certificate is not trusted by {trusted} (certificate "
        f"verify failed): {fix} to the CA that signed it, or fix the server's certificate "
        "(its names must include the host in REDIS_URL and, for Sentinel and Cluster, the "
        "address each node is announced as)"
    )
