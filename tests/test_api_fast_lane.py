"""app/api_fast_lane.py: the everyday /api-proxy call answered below Flask, exactly as the
view answers it; every other request reaches the view before any upstream call.

The rest of the proxy's rules run both ways in test_api_proxy.py, test_api_proxy_paths.py
and test_token_refresh.py (``BOTH_LANES``); here: that the lane is taken when it should
be and only then, that its answers equal the view's byte for byte, and what it hands over.
"""

from __future__ import annotations

import hashlib
import logging

import pytest

from app import session_store
from app.api_fast_lane import ApiFastLane
from tests.leaks import assert_no_leaks
from tests.test_flow_trace import trace_of

DOCS = "/api-proxy/document/v1/documents"
#: Headers whose values differ from one answer to the next.
VARYING = {"date", "x-request-id"}


def flask_calls(app) -> list[str]:
    """The requests that got past the lane to Flask, from now on (a live list)."""
    lane = app.wsgi_app
    assert isinstance(lane, ApiFastLane)
    seen: list[str] = []
    flask = lane.wsgi_app

    def counting(environ, start_response):
        seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return flask(environ, start_response)

    lane.wsgi_app = counting
    return seen


def _headers(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in VARYING}


def _large_document(browser) -> str:
    docs = browser.get(DOCS + "?limit=100").json()["items"]
    (large,) = [d for d in docs if d.get("large")]
    return f"{DOCS}/{large['id']}/targetdocument"


@pytest.mark.parametrize(
    "case", ["list", "query", "not modified", "api 404", "gzip", "streamed", "api 503"]
)
def test_the_lane_answers_as_the_view_does(client_app, app_server, browser, sandbox, case):
    browser.login()
    view = client_app.wsgi_app.wsgi_app  # Flask itself, behind the lane
    path, headers = DOCS, {"Accept": "application/json"}
    if case == "query":
        path += "?limit=2&offset=1"
    elif case == "not modified":
        headers["If-None-Match"] = browser.get(DOCS).headers["ETag"]
    elif case == "api 404":
        path += "/no-such-document/targetdocument"
    elif case == "gzip":
        headers["Accept-Encoding"] = "gzip"
    elif case == "streamed":
        path, headers = _large_document(browser), {"Accept": "*/*"}
    elif case == "api 503":
        sandbox.faults.add("api_503")

    past_the_lane = flask_calls(client_app)
    through_lane = browser.get(path, headers=headers)
    assert past_the_lane == []  # answered by the lane
    app_server.app.target = view
    through_view = browser.get(path, headers=headers)

    assert through_lane.status_code == through_view.status_code
    assert through_lane.content == through_view.content
    assert _headers(through_lane) == _headers(through_view)
    assert len(through_lane.headers["X-Request-ID"]) == 32
    expected = {
        "list": 200,
        "query": 200,
        "not modified": 304,
        "api 404": 404,
        "gzip": 200,
        "streamed": 200,
        "api 503": 503,
    }[case]
    assert through_lane.status_code == expected
    if case == "streamed":
        assert len(through_lane.content) == 2 * 1024 * 1024
        digest = hashlib.sha256(through_view.content).digest()
        assert hashlib.sha256(through_lane.content).digest() == digest


def test_the_everyday_call_never_reaches_flask_and_logs_one_line(
    client_app, browser, sandbox, caplog
):
    browser.login()
    past_the_lane = flask_calls(client_app)
    caplog.clear()
    mine = browser.get(DOCS, headers={"X-Request-ID": "qa-run-7"})
    fresh = browser.get(DOCS)
    assert past_the_lane == []
    assert mine.headers["X-Request-ID"] == "qa-run-7"  # a sane incoming id is kept
    lines = [r for r in caplog.records if r.name == "app.api_proxy"]
    assert [r.getMessage().split(" in ")[0] for r in lines] == [
        "api GET /document/v1/documents -> 200"
    ] * 2
    assert [r.request_id for r in lines] == ["qa-run-7", fresh.headers["X-Request-ID"]]
    assert_no_leaks(sandbox, browser, caplog)


def test_every_other_request_reaches_the_view_before_any_upstream_call(
    make_app, new_browser, sandbox, monkeypatch
):
    app = make_app(PAGERO_API_ALLOWED_PATHS="document/v1")
    past_the_lane = flask_calls(app)
    logged_out = new_browser()
    assert logged_out.get(DOCS).status_code == 401
    browser = new_browser()
    browser.login()
    past_the_lane.clear()
    api_calls = sandbox.counts["api"]

    assert browser.get("/api-proxy/document/%2e%2e/admin").status_code == 400
    assert browser.get("/api-proxy/file/v1/files").status_code == 403  # not allowed
    assert browser.post(DOCS, json={"name": "x"}).status_code == 403  # no X-CSRF
    assert sandbox.counts["api"] == api_calls  # all refused before any upstream call
    assert browser.http.head(browser.app_url + DOCS).status_code == 200
    assert past_the_lane == [
        "GET /api-proxy/document/%2e%2e/admin".replace("%2e", "."),
        "GET /api-proxy/file/v1/files",
        "POST /api-proxy/document/v1/documents",
        "HEAD /api-proxy/document/v1/documents",
    ]

    # The session's last-seen time is due for a write: the view writes it.
    past_the_lane.clear()
    monkeypatch.setattr(session_store, "SEEN_WRITE_INTERVAL", 0)
    assert browser.get(DOCS).status_code == 200
    assert past_the_lane == ["GET /api-proxy/document/v1/documents"]


def test_a_token_due_for_refresh_goes_to_the_view_which_refreshes_once(
    make_app, new_browser, sandbox
):
    app = make_app(PAGERO_REFRESH_MARGIN="100000")  # every token is about to expire
    browser = new_browser()
    browser.login()
    past_the_lane = flask_calls(app)
    assert browser.get(DOCS).status_code == 200
    assert past_the_lane == ["GET /api-proxy/document/v1/documents"]
    assert sandbox.counts["refresh_token"] == 1


def test_a_refused_token_is_handed_to_the_view_with_the_request(
    client_app, browser, sandbox, sandbox_recorder
):
    browser.login()
    sandbox.advance_clock(601)  # Pagero's clock passes the token's life; the app's does not
    past_the_lane = flask_calls(client_app)
    sandbox_recorder.clear()
    assert browser.get(DOCS).status_code == 200
    assert past_the_lane == ["GET /api-proxy/document/v1/documents"]
    assert sandbox.counts["refresh_token"] == 1
    assert len(sandbox_recorder.to("/api/document/v1/documents")) == 2  # one try, one retry


def test_a_failure_after_the_call_gets_the_views_problem_and_one_request_id(
    make_app, new_browser, sandbox, caplog
):
    app = make_app(PAGERO_HTTP_READ_TIMEOUT="0.5")
    browser = new_browser()
    browser.login()
    past_the_lane = flask_calls(app)
    sandbox.faults.add("api_slow")
    caplog.clear()
    answer = browser.get(DOCS)
    assert answer.status_code == 504
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:pagero-client:error:api_timeout"
    assert answer.headers["Cache-Control"] == "no-store"
    assert past_the_lane == ["GET /api-proxy/document/v1/documents"]  # handed over
    (line,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "api_timeout" in line.getMessage()
    assert line.request_id == answer.headers["X-Request-ID"]


def test_the_lanes_calls_are_in_the_flow_trace(client_app, browser, sandbox):
    browser.login()
    past_the_lane = flask_calls(client_app)
    answer = browser.get(DOCS + "?limit=2")
    assert past_the_lane == []
    events = trace_of(browser, lambda events: "api_call" in [e["kind"] for e in events])
    (call,) = [e for e in events if e["kind"] == "api_call"]
    assert call["summary"] == "GET /document/v1/documents?limit=2 → 200"
    assert call["request_id"] == answer.headers["X-Request-ID"]


def test_the_lane_reads_redis_sessions(make_app, new_browser, sandbox, redis_url):
    app = make_app(SESSION_BACKEND="redis", REDIS_URL=redis_url)
    browser = new_browser()
    browser.login()
    past_the_lane = flask_calls(app)
    assert browser.get(DOCS).json()["items"]
    assert past_the_lane == []


def test_the_lane_can_be_switched_off(make_app):
    assert isinstance(make_app().wsgi_app, ApiFastLane)
    assert not isinstance(make_app(PAGERO_PROXY_FAST_LANE="false").wsgi_app, ApiFastLane)
