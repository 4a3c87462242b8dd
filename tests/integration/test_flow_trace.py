"""The flow trace (/trace): every step of this browser's flow, in order, masked, per
session, bounded, cleared at logout, and never in the way of a request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from app.qa import flow_trace, trace_events, trace_page
from config import load_settings
from tests.browser import Browser, parse_forms
from tests.factories import GOOD_KEY, REFRESH_EVERY_CALL, production_settings
from tests.leaks import assert_no_leaks
from tests.servers import free_port

DOCS = "/api-proxy/document/v1/documents"


def trace_of(browser: Browser, until: Callable[[list[dict]], bool] = bool, wait: float = 5):
    """The browser's trace as JSON. Events are written after each response has gone
    out, so wait until ``until`` holds (or ``wait`` seconds pass)."""
    deadline = time.monotonic() + wait
    while True:
        answer = browser.get("/trace", headers={"Accept": "application/json"})
        assert answer.status_code == 200
        events = answer.json()["events"]
        if until(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def kinds(events: list[dict]) -> list[str]:
    return [e["kind"] for e in events]


def has(*wanted: str) -> Callable[[list[dict]], bool]:
    return lambda events: all(k in kinds(events) for k in wanted)


def in_order(seen: list[str], expected: list[str]) -> bool:
    it = iter(seen)
    return all(any(k == want for k in it) for want in expected)


def fields(event: dict) -> dict[str, str]:
    return dict(event["fields"])


def one(events: list[dict], kind: str) -> dict:
    (found,) = [e for e in events if e["kind"] == kind]
    return found


def log_out(browser: Browser):
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    return browser.post("/logout", data=form.fields)


def test_trace_shows_each_step_of_an_openid_login_and_an_api_call_in_order(
    browser, sandbox, ports, caplog
):
    assert browser.login(scope="all openid").status_code == 303
    assert browser.get(DOCS).status_code == 200
    events = trace_of(browser, has("api_call"))
    assert in_order(
        kinds(events),
        ["authorize", "callback", "token_request", "token_response", "jwks", "logged_in"],
    )
    assert kinds(events)[-1] == "api_call"

    authorize = fields(one(events, "authorize"))
    assert authorize["response_type"] == "code"
    assert authorize["client_id"] == "pagero-demo-client"
    assert authorize["redirect_uri"] == f"http://localhost:{ports['app']}/callback"
    assert authorize["scope"] == "all openid"
    assert authorize["state"].endswith("…") and authorize["nonce"].endswith("…")

    callback = one(events, "callback")
    assert [(name, ok) for name, ok, _ in callback["checks"]] == [("state", True), ("iss", True)]
    assert fields(callback)["code"].endswith("…")
    assert fields(callback)["iss"].endswith("/oauth/v2/oauth-anonymous")

    request = fields(one(events, "token_request"))
    assert request["header Authorization"] == "Basic [redacted]"
    assert request["grant_type"] == "authorization_code"
    assert request["code"].endswith("…") and request["redirect_uri"] == authorize["redirect_uri"]

    response = one(events, "token_response")
    assert response["ok"] and response["status"] == 200 and response["ms"] >= 0
    answer = fields(response)
    assert answer["token_type"] == "bearer" and answer["expires_in"] == "600"
    assert answer["access_token"].startswith("_0XBPWQQ_") and answer["access_token"].endswith("…")
    assert answer["refresh_token"].endswith("…") and answer["id_token"].endswith("…")

    api = one(events, "api_call")
    assert api["status"] == 200 and api["summary"] == "GET /document/v1/documents → 200"
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert_no_leaks(sandbox, browser, caplog)  # the trace's JSON and page included


def test_trace_page_is_a_sequence_diagram_linked_to_the_document_and_the_code(
    browser, sandbox, caplog
):
    browser.login()
    trace_of(browser, has("logged_in"))
    page = browser.get("/trace")
    assert page.status_code == 200
    html = page.text
    for lane in ("Browser", "This app", "Pagero SSO", "Pagero API"):
        assert f"<span>{lane}</span>" in html
    assert 'class="arrow span-2-3 right front"' in html  # Step 1, through the browser
    assert 'class="arrow span-2-3 left"' in html  # the token response, server to server
    assert 'href="#doc-step-3"' in html and 'id="doc-step-3"' in html
    assert "Step 3: Exchanging to a token" in html
    assert "PageroClient.exchange_code()" in html and "pagero_oauth/client.py" in html
    assert "style=" not in html and "<script" not in html  # the CSP allows neither
    assert 'href="/trace"' in browser.get("/profile").text  # in the navigation
    assert_no_leaks(sandbox, browser, caplog)


def test_client_secret_in_the_form_is_redacted(make_app, new_browser, sandbox, caplog):
    make_app(PAGERO_TOKEN_AUTH_METHOD="client_secret_post")
    browser = new_browser()
    browser.login()
    request = fields(one(trace_of(browser, has("token_request")), "token_request"))
    assert request["client_secret"] == "[redacted]"
    assert request["client_id"] == "pagero-demo-client"
    assert "header Authorization" not in request
    assert_no_leaks(sandbox, browser, caplog)


def test_reactive_refresh_shows_the_refused_call_the_refresh_and_the_retry(browser, sandbox):
    browser.login()
    sandbox.advance_clock(601)  # Pagero's clock: the access token has expired
    assert browser.get(DOCS).status_code == 200
    events = trace_of(browser, lambda ev: kinds(ev).count("api_call") == 2)
    tail = [(e["kind"], e["status"]) for e in events[-4:]]
    assert tail == [
        ("api_call", 401),
        ("refresh_request", None),
        ("refresh_response", 200),
        ("api_call", 200),
    ]
    refresh = fields(events[-3])
    assert refresh["grant_type"] == "refresh_token" and refresh["refresh_token"].endswith("…")


def test_refused_refresh_shows_invalid_grant_and_the_login_expired_page(
    make_app, new_browser, sandbox
):
    make_app(**REFRESH_EVERY_CALL)
    browser = new_browser()
    browser.login()
    sandbox.faults.add("refresh_invalid_grant")
    assert browser.get(DOCS).status_code == 401
    events = trace_of(browser, has("error"))
    assert one(events, "refresh_response")["error"] == "invalid_grant"
    assert one(events, "error")["error"] == "login_expired"


def test_wrong_issuer_fails_the_iss_check_and_no_token_request_is_made(browser, sandbox):
    sandbox.faults.add("wrong_iss")
    assert browser.login().status_code == 400
    events = trace_of(browser, has("error"))
    callback = one(events, "callback")
    assert callback["ok"] is False and callback["error"] == "issuer_mismatch"
    state, iss = callback["checks"]
    assert state[1] is True and iss[1] is False and "issuer.invalid" in iss[2]
    assert "token_request" not in kinds(events)
    assert one(events, "error")["status"] == 400


def test_unknown_state_fails_the_state_check_first(browser, sandbox):
    browser.open_login()  # a login in progress in this browser
    assert browser.get("/callback?code=abc&state=forged").status_code == 400
    callback = one(trace_of(browser, has("callback")), "callback")
    assert callback["checks"][0][:2] == ["state", False]
    assert callback["checks"][1][:2] == ["iss", None]  # not reached


def test_a_forged_error_callback_is_not_repeated_and_fails_the_state_check(browser, sandbox):
    browser.login()  # a logged-in user opens a link an attacker sent
    said = "Account+locked%2C+call+555-0100"
    forged = f"/callback?error=access_denied&state=forged&error_description={said}&iss={said}"
    assert browser.get(forged).status_code == 400
    events = trace_of(browser, lambda ev: kinds(ev).count("callback") == 2)
    callback = [e for e in events if e["kind"] == "callback"][-1]
    assert callback["ok"] is False
    assert callback["checks"][0][:2] == ["state", False]
    assert fields(callback) == {"callback": callback["fields"][0][1]}
    assert trace_events.FOREIGN_CALLBACK in fields(callback)["callback"]
    assert "555-0100" not in str(events)
    assert "555-0100" not in browser.get("/trace").text


def test_a_forged_code_callback_repeats_none_of_its_parameters(browser, sandbox):
    browser.login()
    assert browser.get("/callback?code=abc&state=forged&iss=Call+555-0100").status_code == 400
    events = trace_of(browser, lambda ev: kinds(ev).count("callback") == 2)
    callback = [e for e in events if e["kind"] == "callback"][-1]
    assert callback["checks"][0][:2] == ["state", False]
    assert "555-0100" not in str(events) and "555-0100" not in browser.get("/trace").text


def test_an_error_answer_to_this_browsers_login_is_recorded_as_it_arrived(browser, sandbox):
    page = browser.get(browser.open_login().headers["Location"])
    back = browser.submit_login(page, "", "", cancel=True).headers["Location"]
    assert browser.get(back).status_code == 400
    callback = one(trace_of(browser, has("callback")), "callback")
    assert fields(callback)["error"] == "access_denied"
    assert fields(callback)["error_description"].startswith("The resource owner")
    assert fields(callback)["iss"].endswith("/oauth/v2/oauth-anonymous")
    assert [check[:2] for check in callback["checks"]][-1] == ["error", False]


def test_wrong_client_secret_shows_invalid_client(make_app, new_browser, sandbox, caplog):
    make_app(PAGERO_CLIENT_SECRET="not-the-secret")
    browser = new_browser()
    assert browser.login().status_code == 502
    events = trace_of(browser, has("error"))
    response = one(events, "token_response")
    assert response["status"] == 401 and response["error"] == "invalid_client"
    assert one(events, "error")["error"] == "invalid_client"
    assert "not-the-secret" not in str(events)
    assert_no_leaks(sandbox, browser, caplog)


def test_a_token_call_without_an_answer_shows_what_was_sent_and_that_nothing_came(
    make_app, new_browser, sandbox, caplog
):
    dead = f"http://localhost:{free_port()}/oauth/v2/oauth-token"
    make_app(PAGERO_TOKEN_URL=dead)
    browser = new_browser()
    assert browser.login().status_code == 502
    events = trace_of(browser, has("error"))
    assert in_order(kinds(events), ["callback", "token_request", "token_response", "error"])
    request = fields(one(events, "token_request"))
    assert request["endpoint"] == f"POST {dead}"
    assert request["header Authorization"] == "Basic [redacted]"
    assert request["code"].endswith("…")
    response = one(events, "token_response")
    assert response["ok"] is False and response["status"] is None
    assert (
        response["error"] == "ConnectionError"
        and response["summary"] == "no answer (ConnectionError)"
    )
    assert one(events, "error")["error"] == "token_endpoint_unavailable"
    page = browser.get("/trace")
    assert page.status_code == 200 and "no answer (ConnectionError)" in page.text
    assert_no_leaks(sandbox, browser, caplog)


def test_a_refresh_that_timed_out_is_in_the_trace_too(make_app, new_browser, sandbox, caplog):
    make_app(PAGERO_HTTP_READ_TIMEOUT="1")
    browser = new_browser()
    browser.login()
    sandbox.advance_clock(3600)  # the access token has expired: the next call refreshes
    sandbox.faults.add("token_slow")
    assert browser.get(DOCS).status_code == 504
    events = trace_of(browser, has("refresh_response"))
    assert fields(one(events, "refresh_request"))["grant_type"] == "refresh_token"
    response = one(events, "refresh_response")
    assert response["ok"] is False and response["error"] == "ReadTimeout"
    assert response["ms"] >= 900
    assert_no_leaks(sandbox, browser, caplog)


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


def test_a_login_that_never_came_back_gets_a_hint_naming_the_redirect_uri(
    make_app, new_browser, sandbox, ports
):
    unregistered = f"http://localhost:{ports['app']}/callback/"  # not the one registered
    make_app(PAGERO_REDIRECT_URI=unregistered, PAGERO_STATE_MAX_AGE="1")
    browser = new_browser()
    to_sandbox = browser.open_login()
    assert browser.get(to_sandbox.headers["Location"]).status_code == 400  # refused there
    assert kinds(trace_of(browser, has("authorize")))[-1] == "authorize"
    time.sleep(1.2)  # past the login's lifetime
    hint = browser.get("/trace", headers={"Accept": "application/json"}).json()["hint"]
    assert hint["kind"] == "login_not_back" and hint["expired"] is True
    assert hint["redirect_uri"] == unregistered and unregistered in hint["summary"]
    checks = " ".join(hint["checks"])
    assert f"must be exactly {unregistered}" in checks
    assert "flask --app wsgi pagero doctor" in checks and "PAGERO_REDIRECT_URI registered" in checks
    assert "another host name than localhost" in checks
    page = browser.get("/trace").text
    assert 'id="trace-hint"' in page and f"redirect_uri={unregistered}" in page


def test_a_login_that_came_back_gets_no_hint(make_app, new_browser, sandbox):
    make_app(PAGERO_STATE_MAX_AGE="1")
    browser = new_browser()
    assert browser.login().status_code == 303
    trace_of(browser, has("logged_in"))
    time.sleep(1.2)
    assert browser.get("/trace", headers={"Accept": "application/json"}).json()["hint"] is None
    assert 'id="trace-hint"' not in browser.get("/trace").text


def test_the_hint_waits_a_minute_or_the_logins_lifetime_whichever_is_shorter():
    sent = {"kind": "authorize", "at": 1000.0, "fields": [["redirect_uri", "https://a/callback"]]}
    came_back = {"kind": "callback", "at": 1005.0, "fields": []}
    hint = trace_page.pending_login_hint
    assert hint([sent], 600, 1000 + 59) is None  # a person may still be logging in
    pending = hint([sent], 600, 1000 + 61)
    assert pending["expired"] is False and pending["waited_seconds"] == 61
    assert hint([sent], 600, 1000 + 601)["expired"] is True
    assert hint([sent], 30, 1000 + 31)["expired"] is True
    assert hint([sent, came_back], 600, 5000) is None
    assert hint([came_back, sent], 600, 5000)["redirect_uri"] == "https://a/callback"
    assert hint([], 600, 5000) is None
