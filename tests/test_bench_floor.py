"""bench/floor_wsgi.py measures the app's own work without Flask, so it must do that work:
the same answer for the benchmark's call, and the app's answer for everything else."""

from __future__ import annotations

from bench.floor_wsgi import floor

DOCS = "/api-proxy/document/v1/documents?limit=5"
#: Headers whose values differ from one answer to the next.
VARYING = {"date", "x-request-id"}


def _headers(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in VARYING}


def test_the_floor_answers_the_benchmark_call_as_the_app_does(
    make_app, app_server, new_browser, sandbox
):
    app = make_app()
    browser = new_browser()
    browser.login()
    through_app = browser.get(DOCS)
    api_calls = sandbox.counts["api"]

    app_server.app.target = floor(app)
    through_floor = browser.get(DOCS)

    assert sandbox.counts["api"] == api_calls + 1  # it did call the API
    assert through_floor.status_code == through_app.status_code == 200
    assert through_floor.json() == through_app.json()
    assert _headers(through_floor) == _headers(through_app)
    assert len(through_floor.headers["X-Request-ID"]) == 32


def test_everything_else_goes_to_the_app(make_app, app_server, new_browser, sandbox, app_url):
    app_server.app.target = floor(make_app())
    logged_out = new_browser().get(DOCS)
    assert logged_out.status_code == 401
    assert logged_out.json()["login_url"] == f"{app_url}/login"

    browser = new_browser()
    browser.login()
    forged = browser.post(DOCS, json={"name": "x"})  # no X-CSRF
    assert forged.status_code == 403
    assert forged.headers["Content-Type"] == "application/problem+json"
    api_calls = sandbox.counts["api"]
    hostile = browser.get("/api-proxy/document/%2e%2e/admin")
    assert hostile.status_code == 400
    assert sandbox.counts["api"] == api_calls  # refused before any upstream call
    assert browser.get("/session").json()["authenticated"] is True
