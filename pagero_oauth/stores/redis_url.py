"""The forms ``REDIS_URL`` takes, read once: one server, Sentinel or Cluster.

``redis://``, ``rediss://`` and ``unix://`` go to redis-py's ``from_url`` as they are;
``redis+sentinel://`` and ``redis+cluster://`` list several nodes, which ``from_url``
cannot read, so :func:`split_redis_url` does (:mod:`pagero_oauth.stores.redis_client`
connects, ``config`` validates with :func:`parse_redis_url` at start-up). Each of the
two has a TLS twin, ``rediss+sentinel://`` and ``rediss+cluster://``, as ``rediss://``
is the TLS twin of ``redis://``: the extra ``s`` is the one sign of TLS in every form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

#: The forms REDIS_URL takes, said in every message about one.
REDIS_URL_FORMS = (
    "redis://host:port/db, rediss://host:port/db (TLS), unix:///path/redis.sock, "
    "redis+sentinel://host:port,host:port/master-name[/db] (Sentinel), "
    "redis+cluster://host:port,host:port (Cluster), "
    "or rediss+sentinel:// and rediss+cluster:// for Sentinel and Cluster over TLS"
)
#: Port of a node listed without one, per form.
_DEFAULT_PORTS = {
    "redis+sentinel": 26379,
    "rediss+sentinel": 26379,
    "redis+cluster": 6379,
    "rediss+cluster": 6379,
}
#: The one query parameter the Sentinel and Cluster forms take: the CA file that
#: verifies the servers, as ``rediss://`` takes it (only with TLS: there is nothing
#: to verify without).
CA_PARAMETER = "ssl_ca_certs"


def scheme_of(url: str) -> str:
    """``url``'s scheme, lower-case: ``redis``, ``rediss+cluster``, ..."""
    return url.strip().partition("://")[0].lower()


def url_ca_certs(url: str) -> str | None:
    """The CA file a TLS ``url`` names in ``?ssl_ca_certs=``, or None."""
    if scheme_of(url) in _DEFAULT_PORTS:
        return split_redis_url(url).ssl_ca_certs
    return parse_qs(urlsplit(url).query).get(CA_PARAMETER, [None])[0]


def is_cluster(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster: ``redis+cluster://`` or ``rediss+cluster://``."""
    return scheme_of(url) in ("redis+cluster", "rediss+cluster")


def uses_tls(url: str) -> bool:
    """Whether ``url`` is one of the TLS forms: ``rediss://``, ``rediss+sentinel://``,
    ``rediss+cluster://``."""
    return scheme_of(url) in ("rediss", "rediss+sentinel", "rediss+cluster")


@dataclass(frozen=True)
class RedisTarget:
    """What a ``redis+sentinel://`` or ``redis+cluster://`` URL (or its ``rediss+`` TLS
    twin) names.

    ``redis://``, ``rediss://`` and ``unix://`` go to redis-py's own ``from_url`` as
    they are; these forms list several nodes, which ``from_url`` cannot read.
    """

    kind: str  # "sentinel" or "cluster"
    nodes: tuple[tuple[str, int], ...] = field(repr=False)
    service: str | None = None  # the Sentinel master name
    db: int = 0
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    #: TLS to every node (``rediss+``): the sentinels and the data nodes alike.
    tls: bool = False
    #: The URL's ``ssl_ca_certs=``: the CA file that wins over the app's bundle.
    ssl_ca_certs: str | None = None


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
            f"several hosts need {scheme}+sentinel://host:port,host:port/master-name or "
            f"{scheme}+cluster://host:port,host:port"
        )
    if not parts.hostname:
        raise ValueError(f"expected a host: {scheme}://host:6379/0")
    _port_of(parts.netloc.rpartition("@")[2], 6379)
    _db_of(parts.path.strip("/"))
    return value


def split_redis_url(value: str) -> RedisTarget:
    """The nodes, master name, database, credentials and TLS of a Sentinel or Cluster URL."""
    scheme, _, rest = value.partition("://")
    scheme = scheme.lower()
    tls, kind = scheme.startswith("rediss+"), scheme.partition("+")[2]
    if "#" in rest:
        raise ValueError(f"expected no #fragment in a {scheme}:// URL")
    rest, _, query = rest.partition("?")
    ca_certs = _ca_certs_of(query, scheme) if query else None
    netloc, _, path = rest.partition("/")
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
                f"{scheme}://host:26379,host:26379/mymaster"
            )
        if len(segments) > 2:
            raise ValueError(f"expected {scheme}://hosts/master-name or .../master-name/db")
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
        tls=tls,
        ssl_ca_certs=ca_certs,
    )


def _ca_certs_of(query: str, scheme: str) -> str:
    """The CA file of ``?ssl_ca_certs=/path``: the one parameter these forms take."""
    if not scheme.startswith("rediss+"):
        raise ValueError(
            f"expected no ?query in a {scheme}:// URL (?{CA_PARAMETER}= is for the TLS "
            f"form, {scheme.replace('redis+', 'rediss+')}://)"
        )
    found = parse_qs(query, keep_blank_values=True)
    others = sorted(set(found) - {CA_PARAMETER})
    if others:
        raise ValueError(
            f"expected only ?{CA_PARAMETER}=/path/ca.pem in a {scheme}:// URL, got {others[0]!r}"
        )
    (ca_certs, *more) = found[CA_PARAMETER]
    if more or not ca_certs:
        raise ValueError(f"expected one file in ?{CA_PARAMETER}=/path/ca.pem")
    return ca_certs


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
