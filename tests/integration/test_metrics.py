"""Prometheus metrics (app/metrics.py) in one process: that /metrics needs its bearer
token, what is counted, and that labels stay bounded and secret-free. That gunicorn's
workers add up in one scrape is in test_metrics_gunicorn.py."""

from __future__ import annotations

import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests

from app import metrics
from tests.factories import REFRESH_EVERY_CALL
from tests.leaks import find_leaks
from tests.metrics_scraper import TOKEN, Samples, parse, scrape, scrape_text, value
from tests.servers import free_port

DOCS = "/api-proxy/document/v1/documents"


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def _issuer(ports) -> str:
    return f"http://localhost:{ports['sandbox']}/oauth/v2/oauth-anonymous"


# -- protection ----------------------------------------------------------------------------


def test_metrics_is_not_found_without_a_configured_token(make_app, app_url):
    make_app()
    assert requests.get(f"{app_url}/metrics", timeout=10).status_code == 404
    answer = requests.get(
        f"{app_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert answer.status_code == 404


def test_metrics_answers_only_the_configured_bearer_token(make_app, app_url):
    make_app(METRICS_TOKEN=TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer " + secrets.token_urlsafe(32)},
        {"Authorization": "Basic " + TOKEN},
        {"Authorization": "Bearer " + TOKEN[:-1]},
    ):
        refused = requests.get(f"{app_url}/metrics", headers=headers, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "pagero_client_" not in refused.text
    ok = requests.get(
        f"{app_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert ok.status_code == 200
    assert ok.headers["Content-Type"].startswith("text/plain")
    assert ok.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in ok.headers  # a scrape never creates a session
    assert "pagero_client_logins_started_total" in ok.text


def test_metrics_token_must_be_long_random_and_header_safe(make_app):
    from config import ConfigError, load_settings

    for bad in ("short", "a" * 40, "with space " + TOKEN, TOKEN + '"'):
        try:
            load_settings(overrides={"METRICS_TOKEN": bad})
        except ConfigError as exc:
            assert "METRICS_TOKEN" in exc.problems
            assert bad not in str(exc)  # the secret is never repeated in the message
        else:
            raise AssertionError(f"accepted {bad!r}")
    assert load_settings(overrides={"METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
    assert TOKEN not in repr(load_settings(overrides={"METRICS_TOKEN": TOKEN}))


# -- what is counted, in-process --------------------------------------------------------


def test_scrape_counts_logins_proxied_calls_and_failed_callbacks_with_bounded_labels(
    make_app, app_url, new_browser, sandbox, ports
):
    make_app(METRICS_TOKEN=TOKEN)
    before = scrape(app_url)
    browser = new_browser()
    assert browser.login().status_code == 303
    marker = secrets.token_hex(8)
    assert browser.get(f"{DOCS}?limit=2&note={marker}").status_code == 200
    stranger = new_browser()
    stranger.open_login()
    forged_state = "forged-" + secrets.token_hex(8)
    query = {"code": "x", "state": forged_state, "iss": _issuer(ports)}
    assert stranger.get("/callback?" + urlencode(query)).status_code == 400
    # Anyone can put any error code into a link to /callback: it must not become a label.
    made_up = "made_up_" + secrets.token_hex(6)
    query = {"error": made_up, "state": forged_state, "iss": _issuer(ports)}
    assert stranger.get("/callback?" + urlencode(query)).status_code == 400

    text = scrape_text(app_url)
    after = parse(text)
    assert moved(before, after, "pagero_client_logins_started_total") == 2
    assert moved(before, after, "pagero_client_logins_completed_total") == 1
    assert moved(before, after, "pagero_client_logins_failed_total", reason="unknown_state") == 1
    assert moved(before, after, "pagero_client_logins_failed_total", reason="other") == 1
    assert moved(before, after, "pagero_client_proxied_calls_total", method="GET", status="200")
    assert moved(before, after, "pagero_client_token_endpoint_seconds_count") == 1
    assert moved(before, after, "pagero_client_api_seconds_count") == 1
    assert value(after, "pagero_client_in_flight", upstream="api") == 0

    _assert_labels_bounded(after)
    session_ids = [c.value for b in (browser, stranger) for c in b.http.cookies]
    for secret in [forged_state, made_up, TOKEN, *session_ids]:
        assert secret not in text
    assert marker not in text and "document/v1" not in text  # no path, no query
    assert find_leaks(sandbox.issued_secrets(), [("scrape", text)]) == []


def _assert_labels_bounded(samples: Samples) -> None:
    allowed = {
        "reason": metrics.known_reasons() | {"other"},
        "outcome": set(metrics.REFRESH_OUTCOMES),
        "method": metrics.PROXY_METHODS | {"other"},
        "upstream": set(metrics.UPSTREAMS.values()) | {"other"},
        "backend": {"filesystem", "redis"},
    }
    status = re.compile(r"^(\d{3}|\dxx)$")
    operation = re.compile(r"^(session_open|session_save|other|(tokens|logins|traces)_[a-z]+)$")
    for name, labels in samples:
        if not name.startswith("pagero_client_"):
            continue
        for key, label in labels:
            if key == "le":
                continue
            if key == "status":
                assert status.match(label), (name, label)
            elif key == "operation":
                assert operation.match(label), (name, label)
            else:
                assert label in allowed[key], (name, key, label)


def test_refreshes_are_counted_by_outcome(make_app, app_url, new_browser, sandbox):
    make_app(METRICS_TOKEN=TOKEN, **REFRESH_EVERY_CALL)
    browser = new_browser()
    browser.login()
    before = scrape(app_url)
    assert browser.get(DOCS).status_code == 200
    sandbox.faults.add("token_500")
    assert browser.get(DOCS).status_code == 502
    sandbox.faults.clear()
    sandbox.faults.add("refresh_invalid_grant")
    assert browser.get(DOCS).status_code == 401
    after = scrape(app_url)
    name = "pagero_client_token_refreshes_total"
    assert moved(before, after, name, outcome="refreshed") == 1
    assert moved(before, after, name, outcome="error") == 1
    assert moved(before, after, name, outcome="login_expired") == 1
    assert moved(before, after, name, outcome="busy") == 0
    assert moved(before, after, "pagero_client_token_endpoint_seconds_count") == 3


def test_a_refresh_that_cannot_get_the_lock_is_counted_busy(
    make_app, app_url, new_browser, sandbox
):
    # The lock wait is connect + read timeout + 5 s (pagero_oauth/tokens.py): keep it short.
    app = make_app(
        METRICS_TOKEN=TOKEN,
        **REFRESH_EVERY_CALL,
        PAGERO_HTTP_CONNECT_TIMEOUT="0.5",
        PAGERO_HTTP_READ_TIMEOUT="0.5",
    )
    browser = new_browser()
    browser.login()
    token_key = next(c.value for c in browser.http.cookies if c.name == "pagero_session")
    before = scrape(app_url)
    with app.extensions["pagero"].stores.tokens.lock(
        token_key, timeout=5
    ):  # another request's refresh
        answer = browser.get(DOCS)
    assert answer.status_code == 503
    assert answer.json()["type"] == "urn:pagero-client:error:token_refresh_busy"
    after = scrape(app_url)
    assert moved(before, after, "pagero_client_token_refreshes_total", outcome="busy") == 1
    assert moved(before, after, "pagero_client_token_refreshes_total", outcome="refreshed") == 0


def test_in_flight_calls_and_refusals_are_visible(make_app, app_url, new_browser, sandbox):
    make_app(METRICS_TOKEN=TOKEN, PAGERO_MAX_IN_FLIGHT="1")
    browser = new_browser()
    browser.login()
    before = scrape(app_url)
    assert value(before, "pagero_client_in_flight_limit") == 1
    sandbox.faults.add("api_slow")  # the API answers after SANDBOX_SLOW_SECONDS (3 s)
    slow = ThreadPoolExecutor(1).submit(browser.get, DOCS)
    waiting, deadline = before, time.monotonic() + 3
    while value(waiting, "pagero_client_in_flight", upstream="api") < 1:
        assert time.monotonic() < deadline, "the slow call never showed as in flight"
        time.sleep(0.05)
        waiting = scrape(app_url)
    assert browser.get(DOCS).status_code == 503  # the worker's one slot is taken
    assert slow.result(timeout=10).status_code == 200
    after = scrape(app_url)
    assert value(after, "pagero_client_in_flight", upstream="api") == 0
    assert moved(before, after, "pagero_client_in_flight_refused_total", upstream="api") == 1
    assert moved(before, after, "pagero_client_proxied_calls_total", method="GET", status="503")
    api_slow = moved(before, after, "pagero_client_api_seconds_sum")
    assert api_slow >= 2.5  # the slow call's time was observed


def test_store_errors_are_counted_and_metrics_still_answer(make_app, app_url, new_browser):
    # Nothing listens on this port: every Redis call fails as in an outage.
    make_app(
        METRICS_TOKEN=TOKEN,
        SESSION_BACKEND="redis",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    before = scrape(app_url)  # no cookie, no session: a scrape never touches the store
    assert new_browser().get("/login").status_code == 503
    after = scrape(app_url)
    errors = {
        dict(labels)["operation"]: count - value(before, name, **dict(labels))
        for (name, labels), count in after.items()
        if name == "pagero_client_store_errors_total" and dict(labels)["backend"] == "redis"
    }
    assert errors.get("logins_put") == 1, errors  # Step 1's pending login could not be kept
    assert moved(
        before, after, "pagero_client_logins_failed_total", reason="session_store_unavailable"
    )
