"""API calls leave the way token requests do: same CA bundle, same outgoing proxy.

The proxy's hot path runs on urllib3 directly (pagero_oauth/http.py: Route); these tests
prove it still trusts ``REQUESTS_CA_BUNDLE`` (a staging API behind a private CA) and
goes through ``HTTP_PROXY`` (an egress proxy), with real TLS and a real proxy on
loopback.
"""

from __future__ import annotations

import http.client
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sandbox.tls import ensure_local_certificates

DOCS = "/api-proxy/document/v1/documents"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_outside(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _serve(server: http.server.HTTPServer) -> Iterator[http.server.HTTPServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- a private CA and an HTTPS API that only it vouches for ---------------------------


def _private_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for localhost it signed: (CA, cert, key)."""
    local = ensure_local_certificates(folder)
    return local.ca_cert, local.cert, local.key


class _ApiHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))
        body = json.dumps({"items": [], "meta": {"total": 0}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def private_ca_api(tmp_path) -> Iterator[tuple[str, Path, list]]:
    """An HTTPS API on loopback whose certificate only ``ca.pem`` vouches for."""
    ca_path, cert_path, key_path = _private_ca_and_server_cert(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ApiHandler)
    server.seen = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in _serve(server):
        yield f"https://localhost:{running.server_address[1]}/api", ca_path, running.seen


def test_api_calls_trust_the_ca_bundle_that_token_requests_trust(
    make_app, new_browser, sandbox, private_ca_api, monkeypatch
):
    api_base, ca_path, seen = private_ca_api
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_path))
    make_app(PAGERO_API_BASE_URL=api_base)
    browser = new_browser()
    browser.login()
    answer = browser.get(DOCS + "?limit=5")
    assert answer.status_code == 200, answer.text
    assert seen[-1][0] == "/api/document/v1/documents?limit=5"
    assert seen[-1][1].startswith("Bearer ")


def test_without_the_bundle_the_private_api_is_refused_not_trusted(
    make_app, new_browser, sandbox, private_ca_api
):
    api_base, _ca_path, seen = private_ca_api
    make_app(PAGERO_API_BASE_URL=api_base)
    browser = new_browser()
    browser.login()
    answer = browser.get(DOCS, headers={"Accept": "application/json"})
    assert answer.status_code == 502
    assert answer.json()["type"] == "urn:pagero-client:error:api_unavailable"
    assert seen == []  # the handshake failed: no request, no token, reached it


# -- an outgoing (egress) proxy ---------------------------------------------------------


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A plain-http forward proxy: absolute-form request line in, origin-form out."""

    def _forward(self) -> None:
        self.server.seen.append((self.command, self.path))
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        skip = {"proxy-connection", "connection", "keep-alive", "host"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_HEAD = _forward

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def egress_proxy() -> Iterator[tuple[str, list]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    server.seen = []
    for running in _serve(server):
        yield f"http://127.0.0.1:{running.server_address[1]}", running.seen


def test_api_calls_go_through_the_outgoing_proxy_like_token_requests(
    make_app, new_browser, sandbox, ports, egress_proxy, monkeypatch
):
    proxy_url, seen = egress_proxy
    monkeypatch.setenv("http_proxy", proxy_url)
    make_app()
    browser = new_browser()
    browser.http.trust_env = False  # the test's own browser goes straight to the app
    browser.login()
    answer = browser.get(DOCS + "?limit=2")
    assert answer.status_code == 200 and "items" in answer.json()
    sandbox_origin = f"http://localhost:{ports['sandbox']}"
    assert ("POST", f"{sandbox_origin}/oauth/v2/oauth-token") in seen  # requests' route
    assert ("GET", f"{sandbox_origin}/api/document/v1/documents?limit=2") in seen  # the proxy's


def test_no_proxy_keeps_the_api_on_a_direct_route(
    make_app, new_browser, sandbox, egress_proxy, monkeypatch
):
    proxy_url, seen = egress_proxy
    monkeypatch.setenv("http_proxy", proxy_url)
    monkeypatch.setenv("no_proxy", "localhost")
    make_app()
    browser = new_browser()
    browser.http.trust_env = False
    browser.login()
    assert browser.get(DOCS).status_code == 200
    assert seen == []


def test_the_api_pool_is_kept_and_looked_up_again_once_closed():
    """Route.pool() keeps its pool (no lookup per call) but never hands out a closed one."""
    from pagero_oauth.http import Route, pooled_session

    http = pooled_session()
    route = Route(http, "http://api.example.test/base")
    first = route.pool()
    assert route.pool() is first
    http.close()  # the manager forgets its pools...
    first.close()  # ...and this one is closed (as urllib3 1.x did on eviction)
    again = route.pool()
    assert again is not first and again.pool is not None
    assert route.prefix == "/base"
