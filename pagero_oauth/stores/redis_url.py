"""The forms ``REDIS_URL`` takes, read once: one server, Sentinel or Cluster.

``redis://``, ``rediss://`` and ``unix://`` go to redis-py's ``from_url`` as they are;
``redis+sentinel://`` and ``redis+cluster://`` list several nodes, which ``from_url``
cannot read, so :func:`split_redis_url` does (:mod:`pagero_oauth.stores.redis_client`
connects, ``config`` validates with :func:`parse_redis_url` at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

#: The forms REDIS_URL takes, said in every message about one.
REDIS_URL_FORMS = (
    "redis://host:port/db, rediss://host:port/db (TLS), unix:///path/redis.sock, "
    "redis+sentinel://host:port,host:port/master-name[/db] (Sentinel) or "
    "redis+cluster://host:port,host:port (Cluster)"
)
#: Port of a node listed without one, per form.
_DEFAULT_PORTS = {"redis+sentinel": 26379, "redis+cluster": 6379}


@dataclass(frozen=True)
class RedisTarget:
    """What a ``redis+sentinel://`` or ``redis+cluster://`` URL names.

    ``redis://``, ``rediss://`` and ``unix://`` go to redis-py's own ``from_url`` as
    they are; these two forms list several nodes, which ``from_url`` cannot read.
    """

    kind: str  # "sentinel" or "cluster"
    nodes: tuple[tuple[str, int], ...] = field(repr=False)
    service: str | None = None  # the Sentinel master name
    db: int = 0
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


def parse_redis_url(raw: str) -> str:
    """Any form of :data:`REDIS_URL_FORMS`; the message names what is wrong."""
    value = raw.strip()
    scheme = value.partition("://")[0].lower() if "://" in value else ""
    if scheme in _DEFAULT_PORTS:
        split_redis_url(value)
        return value
    if scheme not in ("redis", "rediss", "unix"):
        # Never the value itself: it may hold a password.
        named = f"unknown scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(f"{named}: expected {REDIS_URL_FORMS}")
    parts = urlsplit(value)
    if scheme == "unix":
        if not parts.path:
            raise ValueError("expected the socket's path: unix:///path/redis.sock")
        return value
    if "," in parts.netloc:
        raise ValueError(
            "several hosts need redis+sentinel://host:port,host:port/master-name or "
            "redis+cluster://host:port,host:port"
        )
    if not parts.hostname:
        raise ValueError(f"expected a host: {scheme}://host:6379/0")
    _port_of(parts.netloc.rpartition("@")[2], 6379)
    _db_of(parts.path.strip("/"))
    return value


def split_redis_url(value: str) -> RedisTarget:
    """The nodes, master name, database and credentials of a Sentinel or Cluster URL."""
    scheme, _, rest = value.partition("://")
    scheme = scheme.lower()
    kind = scheme.removeprefix("redis+")
    netloc, _, path = rest.partition("/")
    if "?" in path or "?" in netloc or "#" in rest:
        raise ValueError(f"expected no ?query or #fragment in a {scheme}:// URL")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    nodes = []
    for host in hosts.split(","):
        if not host.strip():
            raise ValueError(f"expected host:port,host:port after {scheme}://, got an empty host")
        nodes.append(_node(host.strip(), _DEFAULT_PORTS[scheme]))
    segments = [unquote(s) for s in path.split("/")] if path else []
    service, db = None, 0
    if kind == "sentinel":
        if not segments or not segments[0]:
            raise ValueError(
                "expected the master's name after the sentinels: "
                "redis+sentinel://host:26379,host:26379/mymaster"
            )
        if len(segments) > 2:
            raise ValueError("expected redis+sentinel://hosts/master-name or .../master-name/db")
        service = segments[0]
        db = _db_of(segments[1]) if len(segments) == 2 else 0
    elif any(segments):
        raise ValueError("expected no /path: a Redis Cluster has only database 0")
    return RedisTarget(
        kind=kind,
        nodes=tuple(nodes),
        service=service,
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def _node(host: str, default_port: int) -> tuple[str, int]:
    if host.startswith("["):  # [IPv6]:port
        name, _, after = host[1:].partition("]")
        return name, _port_of(f"x{after}", default_port)
    name = host.rpartition(":")[0] if ":" in host else host
    if not name:
        raise ValueError(f"expected host:port, got {host!r}")
    return name, _port_of(host, default_port)


def _port_of(hostport: str, default: int) -> int:
    if hostport.endswith("]") or ":" not in hostport:
        return default
    raw = hostport.rpartition(":")[2]
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"expected a port number from 1 to 65535, got {raw!r}")
    return int(raw)


def _db_of(raw: str) -> int:
    if raw == "":
        return 0
    if not raw.isdigit():
        raise ValueError(f"expected a database number after the host (e.g. /0), got {raw!r}")
    return int(raw)
