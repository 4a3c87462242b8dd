"""The flow trace (/trace), step by step: what each step of a login, an API call and a
refresh records, in order and masked, and what a failing step records (a refused check, an
error answer, a forged callback, a token endpoint that does not answer).

How the trace is kept (per session, bounded, cleared, switched on) is in
test_flow_trace_storage.py, the page and its hints in test_flow_trace_page.py."""

from __future__ import annotations

from app.qa import trace_events
from tests.factories import REFRESH_EVERY_CALL
from tests.leaks import assert_no_leaks
from tests.servers import free_port
from tests.trace_reader import DOCS, has, kinds, trace_of


def in_order(seen: list[str], expected: list[str]) -> bool:
    it = iter(seen)
    return all(any(k == want for k in it) for want in expected)


def fields(event: dict) -> dict[str, str]:
    return dict(event["fields"])


def one(events: list[dict], kind: str) -> dict:
    (found,) = [e for e in events if e["kind"] == kind]
    return found


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
