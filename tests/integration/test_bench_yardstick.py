"""``bench/bare_proxy.py``, the benchmarks' yardstick, relays what the API says.

Its figures are only a fair ceiling for ``/api-proxy`` if it does the same call and
hands back the same answer; ``make bench`` itself is not part of the suite.
"""

from __future__ import annotations

import importlib
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.slow_api import serve_in_thread as slow_api


@pytest.fixture
def load_bare_proxy(monkeypatch):
    """The yardstick's Flask test client, for an API at ``base_url``."""

    def load(base_url: str, bearer: str | None = None):
        monkeypatch.setenv("PAGERO_API_BASE_URL", base_url)
        if bearer:
            monkeypatch.setenv("BARE_PROXY_BEARER", bearer)
        sys.modules.pop("bench.bare_proxy", None)
        module = importlib.import_module("bench.bare_proxy")
        return module.app.test_client()

    yield load
    sys.modules.pop("bench.bare_proxy", None)


def test_the_yardstick_relays_the_apis_answer_through_the_apps_own_pool(load_bare_proxy):
    from pagero_oauth.http import FreshResendPool

    with slow_api(0) as api:
        answer = load_bare_proxy(api).get("/api-proxy/document/v1/documents")
        assert answer.status_code == 200
        assert answer.content_type.startswith("application/json")
        assert answer.get_json()  # the stand-in API's documents
        module = sys.modules["bench.bare_proxy"]
        assert isinstance(module._api, FreshResendPool)
        module._api.close()  # its kept-alive connection, before the API stops


def test_the_yardstick_keeps_the_base_path_and_query_and_sends_the_given_token(
    load_bare_proxy,
):
    """As bench/report.py drives it against the sandbox's API under /api."""
    seen = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers["Authorization"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = load_bare_proxy(f"http://127.0.0.1:{server.server_port}/api", "a-token")
        assert client.get("/api-proxy/document/v1/documents?limit=5").status_code == 200
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("/api/document/v1/documents?limit=5", "Bearer a-token")]


def test_the_yardstick_answers_a_liveness_probe_without_calling_the_api(load_bare_proxy):
    """``make bench-slow`` polls it beside the app's, as the floor of a probe's latency."""
    client = load_bare_proxy("http://127.0.0.1:9")  # nothing listens there: no call is made
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.text == "ok\n"


def test_the_stand_in_api_delays_a_call_by_the_delay_ms_in_its_query():
    """``make bench-slow`` keeps 400 calls waiting 1 to 3 s with it, each its own delay."""
    import http.client
    import time

    from urllib3.util import parse_url

    finished = []

    def call(query: str) -> None:
        conn = http.client.HTTPConnection(api.host, api.port, timeout=10)
        conn.request("GET", "/document/v1/documents" + query, headers={"Authorization": "Bearer x"})
        status = conn.getresponse().status
        finished.append((query, status, time.monotonic() - started))
        conn.close()

    with slow_api(0) as base:
        api = parse_url(base)
        started = time.monotonic()
        calls = [
            threading.Thread(target=call, args=(q,)) for q in ("?limit=5&delay_ms=600", "?limit=5")
        ]
        for thread in calls:
            thread.start()
        for thread in calls:
            thread.join()
    assert [(q, status) for q, status, _ in finished] == [
        ("?limit=5", 200),
        ("?limit=5&delay_ms=600", 200),
    ]
    assert finished[1][2] >= 0.6
