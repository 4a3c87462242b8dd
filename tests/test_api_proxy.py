"""The first /api-proxy: GET with the session's bearer token, and a safe path."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.leaks import assert_no_leaks

HOSTILE_PATHS = [
    "../oauth/v2/oauth-token",
    "document/../../oauth/v2/oauth-token",
    "document/%2e%2e/%2e%2e/secret",
    "document/%252e%252e/x",
    "document/./v1",
    "document//v1",
    "document\\..\\x",
    "document/v1/documents%00",
    "document/v1@evil.example",
    "document/v1/%0d%0aX-Injected:1",
    "http:%2f%2fevil.example/x",
    "%2fetc/passwd",
]


def raw_get(browser, path: str) -> tuple[int, dict]:
    """Send the path byte for byte (requests would normalise dot segments away)."""
    netloc = urlsplit(browser.app_url).netloc
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies)
    conn = http.client.HTTPConnection(netloc, timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.putheader("Cookie", cookies)
    conn.putheader("Accept", "application/json")
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, json.loads(body) if body.startswith(b"{") else {}


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_paths_get_400_before_any_upstream_call(browser, sandbox, sandbox_recorder, path):
    browser.login()
    sandbox_recorder.clear()
    status, body = raw_get(browser, f"/api-proxy/{path}")
    assert status == 400, body
    assert body["type"] == "urn:pagero-client:error:bad_api_path"
    assert [r for r in sandbox_recorder.requests if r.path.startswith("/api")] == []


def test_not_logged_in_gets_401_problem_with_login_url(browser, sandbox, app_url):
    response = browser.get("/api-proxy/document/v1/documents")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["login_url"] == f"{app_url}/login"


def test_proxy_adds_bearer_token_and_drops_browser_cookies(
    browser, sandbox, sandbox_recorder, caplog
):
    browser.login()
    sandbox_recorder.clear()
    response = browser.get(
        "/api-proxy/document/v1/documents?limit=2&offset=1",
        headers={"Accept": "application/json", "Authorization": "Bearer forged"},
    )
    assert response.status_code == 200
    assert response.json()["meta"]["limit"] == 2
    (upstream,) = sandbox_recorder.to("/api/document/v1/documents")
    assert upstream.query == "limit=2&offset=1"
    assert upstream.headers["Authorization"].startswith("Bearer _0XBPWQQ_")
    assert "Cookie" not in upstream.headers
    assert "Set-Cookie" not in response.headers
    assert_no_leaks(sandbox, browser, caplog)


@pytest.mark.parametrize(("fault", "status"), [("api_401", 401), ("api_503", 503)])
def test_upstream_errors_pass_through_with_their_body(browser, sandbox, fault, status):
    browser.login()
    sandbox.faults.add(fault)
    response = browser.get("/api-proxy/document/v1/documents")
    assert response.status_code == status
    assert response.json()  # the API's own JSON body


def test_unacceptable_accept_gets_the_apis_406(browser, sandbox):
    browser.login()
    response = browser.get("/api-proxy/document/v1/documents", headers={"Accept": "image/png"})
    assert response.status_code == 406


def test_api_unreachable_gives_502(make_app, new_browser, sandbox):
    make_app(PAGERO_API_BASE_URL="http://localhost:9/api")
    browser = new_browser()
    browser.login()
    response = browser.get("/api-proxy/document/v1/documents")
    assert response.status_code == 502
    assert response.json()["type"] == "urn:pagero-client:error:api_unavailable"


def test_large_document_streams_through(browser, sandbox):
    browser.login()
    docs = browser.get("/api-proxy/document/v1/documents?limit=100").json()["items"]
    ids = [d["id"] for d in docs]
    sizes = []
    for doc_id in ids:
        r = browser.get(
            f"/api-proxy/document/v1/documents/{doc_id}/targetdocument",
            headers={"Accept": "*/*"},
            stream=True,
        )
        assert r.status_code == 200
        sizes.append(sum(len(c) for c in r.iter_content(65536)))
    assert max(sizes) == 2 * 1024 * 1024  # SANDBOX_LARGE_DOCUMENT_BYTES in conftest
