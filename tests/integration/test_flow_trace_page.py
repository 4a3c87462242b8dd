"""The /trace page: a sequence diagram of the recorded steps, linked to Pagero's document
and to the code, and the hint it shows when a login went to Pagero and never came back."""

from __future__ import annotations

import time

from app.qa import trace_page
from tests.leaks import assert_no_leaks
from tests.trace_reader import has, kinds, trace_of


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
