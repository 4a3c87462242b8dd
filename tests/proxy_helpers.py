"""Helpers for the /api-proxy tests: requests sent byte for byte."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit


def raw_request(browser, method: str, path: str, headers=None, body: bytes | None = None):
    """Send the request line byte for byte (requests would normalise dot segments)."""
    netloc = urlsplit(browser.app_url).netloc
    conn = http.client.HTTPConnection(netloc, timeout=10)
    conn.putrequest(method, path, skip_accept_encoding=True)
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies)
    all_headers = {"Cookie": cookies, "Accept": "application/json", **(headers or {})}
    if body is not None:
        all_headers["Content-Length"] = str(len(body))
    for name, value in all_headers.items():
        conn.putheader(name, value)
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    payload = json.loads(data) if data.startswith(b"{") else {}
    return response.status, payload
