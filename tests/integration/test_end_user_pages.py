"""What a person sees: a session that ended says why, the header offers Log out only to
someone logged in, times are said in the right words, the profile speaks plainly before
its technical details, and both servers have a favicon."""

from __future__ import annotations

import re
import time

import pytest

from pagero_oauth.tokens import duration
from sandbox.serving import serve_in_thread

LOG_OUT = 'action="/logout"'


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (60, "1 minute"),
        (120, "2 minutes"),
        (150, "2 minutes 30 seconds"),
        (3600, "1 hour"),
        (28800, "8 hours"),
    ],
)
def test_durations_are_said_in_words(seconds, words):
    assert duration(seconds) == words


def test_an_expired_login_says_seconds_under_a_minute(make_app, new_browser, sandbox):
    make_app(PAGERO_STATE_MAX_AGE="1")
    browser = new_browser()
    to_sandbox = browser.open_login()
    back = browser.submit_login(browser.get(to_sandbox.headers["Location"]), "demo", "demo")
    time.sleep(1.2)
    page = browser.get(back.headers["Location"])
    assert "started more than 1 second ago" in page.text
    assert "0 minutes" not in page.text


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        (
            {"SESSION_IDLE_TIMEOUT": "1", "SESSION_LIFETIME": "100"},
            "had not used the app for 1 second",
        ),
        ({"SESSION_IDLE_TIMEOUT": "1", "SESSION_LIFETIME": "1"}, "a login lasts at most 1 second"),
    ],
)
def test_a_session_ended_by_a_timeout_says_why_once_and_offers_to_log_in(
    make_app, new_browser, sandbox, settings, said
):
    make_app(**settings)
    browser = new_browser()
    assert browser.login().status_code == 303
    time.sleep(1.2)
    page = browser.get("/profile")
    assert page.status_code == 401
    assert "Your session has ended" in page.text and said in page.text
    assert 'href="/login"' in page.text and LOG_OUT not in page.text
    assert said not in browser.get("/profile").text  # said once
    # Scripts still see login_required, with the reason in the detail.
    browser = new_browser()
    browser.login()
    time.sleep(1.2)
    problem = browser.get("/api-proxy/document/v1/documents").json()
    assert problem["type"].endswith(":login_required") and said in problem["detail"]


def test_the_home_page_after_a_timeout_says_why_and_offers_no_log_out(
    make_app, new_browser, sandbox
):
    make_app(SESSION_IDLE_TIMEOUT="1")
    browser = new_browser()
    browser.login()
    assert LOG_OUT in browser.get("/").text
    time.sleep(1.2)
    home = browser.get("/")
    assert "had not used the app for 1 second" in home.text and LOG_OUT not in home.text


def test_an_anonymous_visit_writes_no_session(client_app, new_browser, sandbox):
    home = new_browser().get("/")
    assert "Set-Cookie" not in home.headers


def test_the_profile_says_who_in_plain_words_and_keeps_tokens_in_technical_details(
    client_app, new_browser, sandbox
):
    browser = new_browser()
    browser.login(scope="all openid")
    page = browser.get("/profile").text
    assert re.search(
        r"You are logged in as <strong>Dana Demo</strong>\s+of <strong>Demo Company AB</strong>",
        page,
    )
    plain, _, technical = page.partition('<details class="technical">')
    assert "<summary>Technical details" in technical
    for detail in ("Scope asked for", "RFC 6749", 'id="expiry"', "_0XBPWQQ_", "<code>sub</code>"):
        assert detail in technical and detail not in plain


def test_the_app_serves_a_favicon(client_app, new_browser, sandbox):
    browser = new_browser()
    icon = browser.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")
    assert 'rel="icon"' in browser.get("/").text
    assert "Set-Cookie" not in icon.headers


def test_the_sandbox_serves_a_favicon():
    import requests

    with serve_in_thread() as running:
        icon = requests.get(running.base_url + "/favicon.ico", timeout=5)
        assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg")
        login = requests.get(running.base_url + "/oauth/v2/oauth-authorize", timeout=5)
        assert 'rel="icon"' in login.text
