"""Refreshing the access token: proactive, reactive, single flight, and no stale writes."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.browser import Browser
from tests.factories import REFRESH_EVERY_CALL
from tests.leaks import assert_no_leaks
from tests.servers import app_against_sandbox

DOCS = "/api-proxy/document/v1/documents"


def _expire_at_pagero(sandbox) -> None:
    """Pagero's clock moves past the access token's life; the app still thinks it is
    valid, so the API's ``401 invalid_token`` is the first it hears of it."""
    sandbox.advance_clock(601)


def test_expiring_access_token_is_refreshed_before_the_api_call(
    make_app, new_browser, sandbox, caplog
):
    # A margin a second under the token's life makes every call see an expiring token.
    make_app(**REFRESH_EVERY_CALL)
    browser = new_browser()
    browser.login()
    for expected_refreshes in (1, 2):
        answer = browser.get(DOCS)
        assert answer.status_code == 200
        assert sandbox.counts["refresh_token"] == expected_refreshes  # rotation honoured
    assert_no_leaks(sandbox, browser, caplog)


def test_api_401_invalid_token_refreshes_once_and_retries(browser, sandbox, sandbox_recorder):
    browser.login()
    _expire_at_pagero(sandbox)
    sandbox_recorder.clear()
    answer = browser.get(DOCS)
    assert answer.status_code == 200
    assert sandbox.counts["refresh_token"] == 1
    calls = sandbox_recorder.to("/api/document/v1/documents")
    assert len(calls) == 2  # the refused call and its retry
    assert calls[0].headers["Authorization"] != calls[1].headers["Authorization"]


def test_small_body_is_replayed_after_a_reactive_refresh(browser, sandbox):
    browser.login()
    _expire_at_pagero(sandbox)
    response = browser.post(DOCS, data=b"<Invoice/>", headers={"X-CSRF": "1"})
    assert response.status_code == 201
    assert sandbox.counts["refresh_token"] == 1


def test_streamed_upload_is_not_replayed_but_the_token_is_renewed(browser, sandbox):
    browser.login()
    _expire_at_pagero(sandbox)

    def chunks():
        for _ in range(3):
            yield b"x" * (1024 * 1024)

    response = browser.post(DOCS, data=chunks(), headers={"X-CSRF": "1"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["type"] == "urn:pagero-client:error:retry_after_token_renewal"
    assert sandbox.counts["refresh_token"] == 1
    again = browser.post(DOCS, data=chunks(), headers={"X-CSRF": "1"})
    assert again.status_code == 201


def test_still_refused_after_refresh_passes_the_401_through(browser, sandbox):
    browser.login()
    sandbox.faults.add("api_401")
    response = browser.get(DOCS)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert sandbox.counts["refresh_token"] == 1  # one refresh, one retry, then give up


def test_refused_refresh_logs_the_user_out_with_a_login_hint(make_app, new_browser, sandbox):
    make_app(**REFRESH_EVERY_CALL)
    browser = new_browser()
    browser.login()
    sandbox.faults.add("refresh_invalid_grant")
    answer = browser.get(DOCS)
    assert answer.status_code == 401
    body = answer.json()
    assert body["type"] == "urn:pagero-client:error:login_expired"
    assert body["login_url"].endswith("/login")
    assert browser.get("/profile").status_code == 401  # tokens cleared


def test_refresh_with_token_endpoint_down_is_502_and_keeps_the_tokens(
    make_app, new_browser, sandbox
):
    make_app(**REFRESH_EVERY_CALL)
    browser = new_browser()
    browser.login()
    sandbox.faults.add("token_500")
    assert browser.get(DOCS).status_code == 502
    sandbox.faults.clear()
    assert browser.get(DOCS).status_code == 200


def _burst(browser: Browser, n: int) -> list[int]:
    barrier = threading.Barrier(n)

    def call(_):
        barrier.wait()
        return browser.get(DOCS).status_code

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


def test_concurrent_requests_cause_exactly_one_refresh(browser, sandbox):
    browser.login()
    _expire_at_pagero(sandbox)
    assert _burst(browser, 12) == [200] * 12
    assert sandbox.counts["refresh_token"] == 1
    assert sandbox.counts["refresh_token_rejected"] == 0


def test_single_flight_holds_across_gunicorn_worker_processes(ports, sandbox, tmp_path):
    with app_against_sandbox(ports, tmp_path, workers=4):
        browser = Browser(f"http://localhost:{ports['gunicorn']}")
        browser.login()
        for round_ in (1, 2):
            _expire_at_pagero(sandbox)
            assert _burst(browser, 16) == [200] * 16
            assert sandbox.counts["refresh_token"] == round_
        assert sandbox.counts["refresh_token_rejected"] == 0


def test_a_slow_request_never_writes_an_older_pair_over_a_newer_one(browser, sandbox):
    browser.login()
    docs = browser.get(DOCS + "?limit=100").json()["items"]
    (large,) = [d for d in docs if d.get("large")]
    slow = browser.get(
        f"{DOCS}/{large['id']}/targetdocument", headers={"Accept": "*/*"}, stream=True
    )
    first = next(slow.iter_content(1024))  # request A is under way with the old pair
    _expire_at_pagero(sandbox)
    assert browser.get(DOCS).status_code == 200  # request B refreshes: new pair
    assert len(first) + sum(len(c) for c in slow.iter_content(65536)) == 2 * 1024 * 1024
    # Had A written the old pair back, this call would present a used refresh token
    # (or an expired access token) and be logged out.
    _expire_at_pagero(sandbox)
    assert browser.get(DOCS).status_code == 200
    assert sandbox.counts["refresh_token"] == 2
    assert sandbox.counts["refresh_token_rejected"] == 0


def test_refreshed_id_token_that_fails_validation_ends_the_session(make_app, new_browser, sandbox):
    make_app(**REFRESH_EVERY_CALL)
    browser = new_browser()
    browser.login(scope="all openid")
    sandbox.faults.add("id_token_wrong_aud")
    answer = browser.get(DOCS)
    assert answer.status_code == 401
    assert answer.json()["type"] == "urn:pagero-client:error:login_expired"
    assert browser.get("/profile").status_code == 401


def test_refresh_with_openid_keeps_the_identity(make_app, new_browser, sandbox):
    make_app(**REFRESH_EVERY_CALL)
    browser = new_browser()
    browser.login("alice", "alice", scope="all openid")
    assert browser.get(DOCS).status_code == 200
    assert sandbox.counts["refresh_token"] == 1
    assert browser.get("/session").json()["user"]["preferred_username"] == "alice"


def test_a_margin_as_long_as_the_tokens_life_is_capped_with_one_warning(
    make_app, new_browser, sandbox, caplog
):
    # The sandbox's tokens live 600 s: with a 600 s margin each would be "expiring" from
    # birth and every call would refresh. Capped at half the life, none of these does.
    make_app(PAGERO_REFRESH_MARGIN="600")
    browser = new_browser()
    browser.login()
    for _ in range(3):
        assert browser.get(DOCS).status_code == 200
    assert sandbox.counts["refresh_token"] == 0
    warnings = [r for r in caplog.records if "PAGERO_REFRESH_MARGIN" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"  # once, not per call
    assert "half their life" in warnings[0].getMessage()


def test_a_token_record_written_by_a_newer_version_still_serves_the_login(
    make_app, new_browser, sandbox
):
    """A rolling deploy: a newer version's worker added a field to the token record; this
    version's workers leave it out instead of ending the user's login."""
    app = make_app()
    browser = new_browser()
    browser.login()
    folder = Path(app.extensions["pagero"].stores.tokens.directory)
    (path,) = [p for p in folder.glob("*.json") if not p.name.startswith("logins-")]
    envelope = json.loads(path.read_bytes())
    envelope["tokens"]["a_field_from_a_newer_version"] = "anything"
    path.write_text(json.dumps(envelope))
    assert browser.get(DOCS).status_code == 200
    assert browser.get("/session").json()["authenticated"] is True
