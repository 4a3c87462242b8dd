"""Parsers and checks for individual configuration values.

Each parser takes the raw string from the environment and returns the typed
value, or raises ``ValueError`` with a sentence that says what is expected.
The sentence ends up in the start-up error next to the variable's name.

URL and Redis URL forms are the protocol core's own rules (:mod:`pagero_oauth.urls`,
:mod:`pagero_oauth.stores.redis_url`): configuration and server metadata are checked alike.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pagero_oauth.stores.redis_url import parse_redis_url as parse_redis_url
from pagero_oauth.urls import is_https as is_https
from pagero_oauth.urls import parse_url as parse_url

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


def parse_secrets(raw: str) -> tuple[str, ...]:
    """Secrets separated by spaces (a secret made by ``secrets.token_hex`` has none)."""
    return tuple(raw.split())


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
