"""What the core accepts as an endpoint URL (configuration and server metadata alike)."""

from __future__ import annotations

from urllib.parse import urlsplit


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


def is_https(url: str) -> bool:
    return urlsplit(url).scheme == "https"
