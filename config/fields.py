"""Parsers and checks for individual configuration values.

Each parser takes the raw string from the environment and returns the typed
value, or raises ``ValueError`` with a sentence that says what is expected.
The sentence ends up in the start-up error next to the variable's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# RFC 6749 section 3.3: scope-token = 1*NQCHAR (%x21 / %x23-5B / %x5D-7E)
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false")


def parse_positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of seconds, e.g. 10") from None
    if value <= 0:
        raise ValueError("expected a number greater than 0")
    return value


def parse_positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected a whole number, e.g. 600") from None
    if value <= 0:
        raise ValueError("expected a whole number greater than 0")
    return value


def parse_non_negative_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected a whole number, e.g. 0") from None
    if value < 0:
        raise ValueError("expected a whole number of 0 or more")
    return value


def parse_url(raw: str) -> str:
    """An absolute http(s) URL without fragment (RFC 6749 section 3.1.2)."""
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an absolute http:// or https:// URL")
    if parts.fragment or value.endswith("#"):
        raise ValueError("expected a URL without a #fragment (RFC 6749 section 3.1.2)")
    if parts.username or parts.password:
        raise ValueError("expected a URL without user:password@")
    return value


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


def parse_key_prefix(raw: str) -> str:
    """A Redis key prefix. No braces: the app puts a ``{hash tag}`` after it so the keys
    of one session share a Redis Cluster slot, and a brace in the prefix would tag
    every key alike (one slot for all) or break the tag."""
    value = parse_text(raw)
    if "{" in value or "}" in value:
        raise ValueError("expected no { or }: the app adds its own {hash tag} after the prefix")
    return value


def parse_base_url(raw: str) -> str:
    """A URL the app appends API paths to: no query string, no trailing slash."""
    value = parse_url(raw)
    if urlsplit(value).query:
        raise ValueError("expected a base URL without a ?query")
    return value.rstrip("/")


def parse_scope(raw: str) -> str:
    """A space-separated scope list; Pagero knows ``all`` and ``openid``."""
    tokens = raw.split()
    if not tokens:
        raise ValueError("expected at least one scope, e.g. 'all' or 'all openid'")
    for token in tokens:
        if not _SCOPE_TOKEN.match(token):
            raise ValueError(f"scope {token!r} has characters RFC 6749 section 3.3 forbids")
    return " ".join(dict.fromkeys(tokens))


def parse_path_prefixes(raw: str) -> tuple[str, ...]:
    """API path prefixes such as ``document/v1 file/v1`` (comma or space separated)."""
    prefixes = []
    for item in raw.replace(",", " ").split():
        prefix = item.strip("/")
        if not prefix or any(seg in ("", ".", "..") for seg in prefix.split("/")):
            raise ValueError(f"expected path prefixes like 'document/v1', not {item!r}")
        prefixes.append(prefix)
    return tuple(prefixes)


def one_of(*choices: str):
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError("expected one of: " + ", ".join(choices))
        return value

    return parse


def parse_text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("expected a non-empty value")
    return value


#: RFC 6750 section 2.1's b64token: what an ``Authorization: Bearer`` value may hold.
_B64TOKEN = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")
MIN_BEARER_SECRET = 32


def parse_bearer_secret(raw: str) -> str:
    """A secret that callers send as ``Authorization: Bearer <value>``: header-safe,
    long and random (it guards an endpoint anyone who reaches the port can ask)."""
    value = raw.strip()
    how = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
    if not _B64TOKEN.match(value):
        raise ValueError(f"expected letters, digits and -._~+/ only (RFC 6750); {how}")
    if len(value) < MIN_BEARER_SECRET:
        raise ValueError(f"expected {MIN_BEARER_SECRET}+ random characters; {how}")
    if why := low_entropy(value):
        raise ValueError(f"expected random characters, but {why}; {how}")
    return value


#: A key with fewer distinct characters is not random: 32 random hex digits show
#: fewer than 8 of their 16 once in about 5 billion keys.
MIN_DISTINCT_CHARACTERS = 8
#: Longest stretch a key may repeat itself with a period up to ``MAX_PATTERN``
#: (``aaaa...``, ``abcabc...``); random hex does it once in ~10^12 keys.
MAX_REPEATED_RUN = 12
MAX_PATTERN = 16


def low_entropy(key: str) -> str | None:
    """Why ``key`` cannot be a random secret, or None. Only catches what no random
    generator produces; a key made by a person that passes is still weak."""
    if len(set(key)) < MIN_DISTINCT_CHARACTERS:
        return f"it has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    for period in range(1, MAX_PATTERN + 1):
        run = 0
        for i in range(len(key) - period):
            run = run + 1 if key[i] == key[i + period] else 0
            if run >= MAX_REPEATED_RUN:
                return "it repeats one character or a short pattern"
    return None


def is_https(url: str) -> bool:
    return urlsplit(url).scheme == "https"
