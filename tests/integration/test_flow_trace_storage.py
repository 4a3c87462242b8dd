"""How the flow trace is kept: per browser session, bounded, cleared at logout, complete
under concurrent calls, in Redis beside the tokens, on or off by profile, and never in the
way of a request. (The trace stores themselves are tested in test_trace_store.py.)"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from app.qa import flow_trace
from config import load_settings
from tests.browser import Browser, parse_forms
from tests.factories import GOOD_KEY, production_settings
from tests.trace_reader import DOCS, has, kinds, trace_of


def log_out(browser: Browser):
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    return browser.post("/logout", data=form.fields)


def test_each_browser_sees_only_its_own_trace(browser, new_browser, sandbox):
    browser.login()
    other = new_browser()
    other.login("alice", "alice")
    mine = {e["request_id"] for e in trace_of(browser, has("logged_in"))}
    theirs = {e["request_id"] for e in trace_of(other, has("logged_in"))}
    assert mine and theirs and not mine & theirs
    assert trace_of(new_browser(), wait=0) == []  # a fresh browser has none


def test_logout_clears_the_trace(browser, sandbox):
    browser.login()
    assert trace_of(browser, has("logged_in"))
    log_out(browser)
    assert trace_of(browser, wait=0) == []  # the session no longer names it
    assert "Nothing recorded in this browser yet" in browser.get("/trace").text


def test_concurrent_api_calls_all_land_in_the_trace(browser, sandbox):
    browser.login()
    barrier = threading.Barrier(8)

    def call(_):
        barrier.wait()
        return browser.get(DOCS).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(8))) == [200] * 8
    events = trace_of(browser, lambda ev: kinds(ev).count("api_call") == 8)
    assert kinds(events).count("api_call") == 8


def test_the_trace_keeps_only_the_newest_events(browser, sandbox, monkeypatch):
    monkeypatch.setattr(flow_trace, "MAX_EVENTS", 5)
    browser.login()
    for offset in range(6):
        assert browser.get(f"{DOCS}?offset={offset}").status_code == 200
    events = trace_of(browser, lambda ev: "offset=5" in ev[-1]["summary"] if ev else False)
    assert len(events) == 5
    assert kinds(events) == ["api_call"] * 5
    assert events[0]["summary"].startswith("GET /document/v1/documents?offset=1 ")


def test_a_broken_trace_store_never_breaks_a_request(client_app, browser, sandbox, caplog):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    store = client_app.extensions[flow_trace.EXTENSION]
    store.append = broken
    assert browser.login().status_code == 303
    assert browser.get(DOCS).status_code == 200
    deadline = time.monotonic() + 5
    while "flow trace: not stored (OSError)" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "flow trace: not stored (OSError)" in caplog.text


def test_the_trace_can_be_switched_off(make_app, new_browser, sandbox):
    make_app(PAGERO_FLOW_TRACE="false")
    browser = new_browser()
    browser.login()
    assert browser.get("/trace").status_code == 404
    assert "/trace" not in browser.get("/profile").text


def test_trace_lives_in_redis_beside_the_tokens(make_app, new_browser, sandbox, redis_url):
    import redis

    make_app(SESSION_BACKEND="redis", REDIS_URL=redis_url)
    browser = new_browser()
    browser.login()
    assert browser.get(DOCS).status_code == 200
    assert has("logged_in", "api_call")(trace_of(browser, has("logged_in", "api_call")))
    client = redis.Redis.from_url(redis_url)
    (key,) = client.keys("pagero:trace:*")
    assert 0 < client.ttl(key) <= 28800
    log_out(browser)
    deadline = time.monotonic() + 5  # deleted once the logout's answer has gone out
    while client.keys("pagero:trace:*") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.keys("pagero:trace:*") == []


def test_the_trace_is_on_in_sandbox_and_staging_and_off_in_production_unless_enabled():
    staging = {
        "PAGERO_ENV": "staging",
        "PAGERO_CLIENT_ID": "c",
        "PAGERO_CLIENT_SECRET": "s",
        "PAGERO_AUTHORIZE_URL": "https://sso.staging.example/authorize",
        "PAGERO_TOKEN_URL": "https://sso.staging.example/token",
        "PAGERO_ISSUER": "https://sso.staging.example/oauth/v2/oauth-anonymous",
        "PAGERO_API_BASE_URL": "https://api.staging.example",
        "PAGERO_REDIRECT_URI": "http://localhost:5000/callback",
        "SECRET_KEY": GOOD_KEY,
    }
    assert load_settings({"PAGERO_ENV": "sandbox"}).flow_trace is True
    assert load_settings(staging).flow_trace is True
    assert production_settings().flow_trace is False
    assert production_settings(PAGERO_FLOW_TRACE="true").flow_trace is True
