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

TLS (``rediss://``) verifies the server against the CA bundle the rest of the app uses
(``REQUESTS_CA_BUNDLE``, or ``CURL_CA_BUNDLE``), so one private CA serves Pagero's
endpoints and Redis; an ``ssl_ca_certs=`` in the URL wins. A certificate the bundle
does not trust is a start-up error (:func:`check_tls`), not a 503 on every request.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
)
from redis.sentinel import Sentinel

from .redis_url import split_redis_url

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


def connect(url: str, sentinel_password: str | None = None) -> Any:
    """A redis-py client for ``url`` (any form ``REDIS_URL`` takes)."""
    scheme = url.partition("://")[0].lower()
    if scheme in ("redis+sentinel", "redis+cluster"):
        target = split_redis_url(url)
        auth = {"username": target.username, "password": target.password}
        if target.kind == "sentinel":
            sentinels = Sentinel(
                list(target.nodes),
                sentinel_kwargs={"password": sentinel_password, **TIMEOUTS},
                **TIMEOUTS,
            )
            return sentinels.master_for(
                target.service,
                db=target.db,
                health_check_interval=30,
                max_connections=MAX_CONNECTIONS,
                **auth,
            )
        nodes = [ClusterNode(host, port) for host, port in target.nodes]
        return RedisCluster(
            startup_nodes=nodes, max_connections=MAX_CONNECTIONS, **auth, **TIMEOUTS
        )
    options: dict[str, Any] = {
        **TIMEOUTS,
        "health_check_interval": 30,
        "max_connections": MAX_CONNECTIONS,
    }
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if scheme == "rediss" and bundle and "ssl_ca_certs" not in parse_qs(urlsplit(url).query):
        options["ssl_ca_certs"] = bundle
    return redis.Redis.from_url(url, **options)


def probe_key(prefix: str) -> str:
    """The readiness probe's own key (hash-tagged: one known slot, never a session's)."""
    return f"{prefix}{{readyz}}:probe"


def check_writable(client: Any, prefix: str) -> None:
    """Write a short-lived key: raises what a session write would raise now.

    A PING is answered by a read-only replica and by a cluster that lost slots
    (``cluster-require-full-coverage``), yet neither can store a login.
    """
    client.set(probe_key(prefix), str(time.time()), px=PROBE_TTL_MS)


def failure(exc: BaseException) -> str:
    """Why a store operation failed, as ``/readyz`` and the doctor report it."""
    if _tls_refused(exc):
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
    """What must stop the start for ``settings``' Redis (:func:`check_tls`), or None.

    Run by gunicorn's master before any worker (config/gunicorn.py) and by the app
    (app/sessions.py).
    """
    if settings.session_backend != "redis" or not settings.redis_url.lower().startswith(
        "rediss://"
    ):
        return None
    if client is None:
        client = connect(settings.redis_url)
        try:
            return check_tls(client, settings.redis_url)
        finally:
            client.close()
    return check_tls(client, settings.redis_url)


def check_tls(client: Any, url: str) -> str | None:
    """At start-up, for ``rediss://``: why the server's certificate is refused, or None.

    Redis being down or slow is not a reason to refuse to start (the app answers 503
    and recovers by itself); a certificate the CA bundle does not trust never heals,
    so it is said once, at start, naming the variables to fix.
    """
    if not url.lower().startswith("rediss://"):
        return None
    try:
        client.ping()
    except REDIS_ERRORS as exc:
        if _tls_refused(exc):
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            trusted = f"the CA bundle {bundle}" if bundle else "the system's CA certificates"
            return (
                "the Redis server's TLS certificate is not trusted by "
                f"{trusted} (certificate verify failed): set REQUESTS_CA_BUNDLE to the CA "
                "that signed it, or fix the server's certificate (its names must include "
                "the host in REDIS_URL)"
            )
        log.warning("Redis did not answer at start-up (%s): 503s until it does", failure(exc))
    return None
