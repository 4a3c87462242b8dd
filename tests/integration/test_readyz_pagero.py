"""``PAGERO_READYZ_CHECK_PAGERO``: /readyz may also check that Pagero's endpoints answer;
off by default, cached so probes do not hammer Pagero, and never part of /healthz."""

from __future__ import annotations

from tests.servers import free_port

TOKEN_PATH = "/oauth/v2/oauth-token"


def test_readyz_does_not_call_pagero_by_default(make_app, new_browser, sandbox, sandbox_recorder):
    make_app(PAGERO_DISCOVERY="false")
    ready = new_browser().get("/readyz")
    assert ready.status_code == 200
    assert not any(name.startswith("pagero") for name in ready.json()["checks"])
    assert sandbox_recorder.to(TOKEN_PATH) == []


def test_readyz_answers_200_when_pagero_answers_and_asks_once_for_many_probes(
    make_app, new_browser, sandbox, sandbox_recorder
):
    make_app(PAGERO_DISCOVERY="false", PAGERO_READYZ_CHECK_PAGERO="true")
    browser = new_browser()
    for _ in range(3):
        ready = browser.get("/readyz")
        assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["pagero_token_endpoint"] == "ok" and checks["pagero_api"] == "ok"
    assert checks["pagero_jwks"] == "ok"
    assert len(sandbox_recorder.to(TOKEN_PATH)) == 1  # cached between probes


def test_readyz_answers_503_naming_a_token_endpoint_that_is_down(
    make_app, new_browser, sandbox, sandbox_recorder
):
    closed = f"http://localhost:{free_port()}{TOKEN_PATH}"
    make_app(PAGERO_READYZ_CHECK_PAGERO="true", PAGERO_TOKEN_URL=closed)
    browser = new_browser()
    ready = browser.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["pagero_token_endpoint"] == (
        f"connection_refused: PAGERO_TOKEN_URL = {closed}"
    )
    healthz = browser.get("/healthz")
    assert healthz.status_code == 200 and healthz.json() == {"status": "ok"}
