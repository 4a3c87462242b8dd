"""/api-proxy as a backend-for-frontend: methods, anti-forgery, headers, streaming, errors."""

from __future__ import annotations

import hashlib
import os

import pytest
import urllib3

from app.proxy import rules as api_proxy
from tests.leaks import assert_no_leaks

DOCS = "/api-proxy/document/v1/documents"
CSRF = {"X-CSRF": "1"}


def test_not_logged_in_gets_401_problem_with_login_url(browser, sandbox, app_url):
    response = browser.get(DOCS)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["login_url"] == f"{app_url}/login"


def test_not_logged_in_page_navigation_logs_in_and_comes_back(browser, sandbox):
    navigation = {"Accept": "text/html,*/*;q=0.8", "Sec-Fetch-Mode": "navigate"}
    response = browser.get(DOCS + "?limit=2", headers=navigation)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/api-proxy/document/v1/documents?limit%3D2"
    to_sandbox = browser.get(response.headers["Location"])
    page = browser.get(to_sandbox.headers["Location"])
    done = browser.get(browser.submit_login(page, "demo", "demo").headers["Location"])
    assert done.headers["Location"] == "/api-proxy/document/v1/documents?limit=2"
    assert browser.get(done.headers["Location"]).json()["meta"]["limit"] == 2


def test_get_adds_bearer_token_and_forwards_only_allowed_headers(
    browser, sandbox, sandbox_recorder, caplog
):
    browser.login()
    sandbox_recorder.clear()
    response = browser.get(
        DOCS + "?limit=2&offset=1",
        headers={
            "Accept": "application/json",
            "Accept-Language": "sv-SE",
            "Authorization": "Bearer forged",
            "X-Forwarded-For": "203.0.113.9",
            "X-Custom": "nope",
            "Connection": "keep-alive, X-Custom",
        },
    )
    assert response.status_code == 200
    assert response.json()["meta"]["limit"] == 2
    (upstream,) = sandbox_recorder.to("/api/document/v1/documents")
    assert upstream.query == "limit=2&offset=1"
    assert upstream.headers["Authorization"].startswith("Bearer _0XBPWQQ_")
    assert upstream.headers["Accept-Language"] == "sv-SE"
    for name in ("Cookie", "X-Forwarded-For", "X-Custom"):
        assert name not in upstream.headers
    # RFC 9110 section 7.6.1: what Connection names is for this hop, allow-listed or not.
    sandbox_recorder.clear()
    hop = {"Accept-Language": "sv-SE", "Connection": "keep-alive, Accept-Language"}
    assert browser.get(DOCS, headers=hop).status_code == 200
    (upstream,) = sandbox_recorder.to("/api/document/v1/documents")
    assert "Accept-Language" not in upstream.headers
    assert_no_leaks(sandbox, browser, caplog)


def test_upstream_cookies_never_reach_the_browser_nor_other_users(
    new_browser, client_app, sandbox, sandbox_recorder
):
    alice, bob = new_browser(), new_browser()
    alice.login("alice", "alice")
    bob.login("bob", "bob")
    first = alice.get(DOCS)
    assert "Set-Cookie" not in first.headers  # the API set AWSALB; it stops here
    sandbox_recorder.clear()
    bob.get(DOCS)
    (upstream,) = sandbox_recorder.to("/api/document/v1/documents")
    assert "Cookie" not in upstream.headers  # the shared pool remembered nothing


def test_conditional_requests_pass_through(browser, sandbox):
    browser.login()
    first = browser.get(DOCS)
    etag = first.headers["ETag"]
    second = browser.get(DOCS, headers={"If-None-Match": etag})
    assert second.status_code == 304
    assert second.content == b""
    assert first.headers["Cache-Control"] == "no-store"  # personal data is never cached


def test_head_is_forwarded(browser, sandbox, sandbox_recorder):
    browser.login()
    response = browser.http.head(browser.app_url + DOCS, timeout=10)
    assert response.status_code == 200
    assert [r.method for r in sandbox_recorder.to("/api/document/v1/documents")] == ["HEAD"]


def test_post_put_patch_delete_with_anti_forgery_header(browser, sandbox, caplog):
    browser.login()
    invoice = b"<Invoice><ID>INV-1</ID></Invoice>"
    created = browser.post(DOCS, data=invoice, headers={**CSRF, "Content-Type": "application/xml"})
    assert created.status_code == 201
    doc = created.json()
    assert doc["sha256"] == hashlib.sha256(invoice).hexdigest()
    location = created.headers["Location"]
    assert location == f"/api-proxy/document/v1/documents/{doc['id']}"  # rewritten

    patched = browser._send("PATCH", location, json={"status": "approved"}, headers=CSRF)
    assert patched.status_code == 200 and patched.json()["status"] == "approved"
    put = browser._send("PUT", location + "/status", json={"status": "paid"}, headers=CSRF)
    assert put.status_code == 200 and put.json()["status"] == "paid"
    assert browser._send("DELETE", location, headers=CSRF).status_code == 204
    gone = browser.get(location)
    assert gone.status_code == 404  # the API's own 404 and body, passed through
    assert gone.json()["error"] == "not_found"
    assert_no_leaks(sandbox, browser, caplog)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-CSRF": "0"},
        {**CSRF, "Origin": "http://evil.example"},
        {**CSRF, "Origin": "null"},
        {**CSRF, "Sec-Fetch-Site": "cross-site"},
        {**CSRF, "Sec-Fetch-Site": "same-site"},
    ],
)
def test_state_changing_calls_without_proof_of_origin_get_403(
    browser, sandbox, upstream_calls, headers
):
    browser.login()
    upstream_calls.clear()
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = browser._send(method, DOCS, data=b"x", headers=headers)
        assert response.status_code == 403, method
        assert response.json()["type"] == "urn:pagero-client:error:csrf_rejected"
    assert upstream_calls == []


def test_same_origin_fetch_is_accepted(browser, sandbox, app_url):
    browser.login()
    headers = {**CSRF, "Origin": app_url, "Sec-Fetch-Site": "same-origin"}
    assert browser.post(DOCS, data=b"<x/>", headers=headers).status_code == 201


@pytest.mark.parametrize("chunked", [False, True])
def test_large_upload_streams_through(browser, sandbox, chunked):
    browser.login()
    size = 12 * 1024 * 1024 + 17
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()

    def body():
        left = size
        while left:
            part = block[: min(left, len(block))]
            digest.update(part)
            left -= len(part)
            yield part

    class Sized:  # a file-like body: requests sends it with a Content-Length
        len = size

        def __init__(self):
            self.chunks = body()

        def read(self, _n=-1):
            return next(self.chunks, b"")

    headers = {**CSRF, "Content-Type": "application/octet-stream"}
    data = body() if chunked else Sized()
    response = browser.post(DOCS, data=data, headers=headers, timeout=60)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == size
    assert response.json()["sha256"] == digest.hexdigest()


def test_body_over_the_limit_gets_413_before_any_upstream_call(
    make_app, new_browser, sandbox, upstream_calls
):
    make_app(PAGERO_PROXY_MAX_BODY="1000")
    browser = new_browser()
    browser.login()
    upstream_calls.clear()
    response = browser.post(DOCS, data=b"x" * 1001, headers=CSRF)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert upstream_calls == []


def test_large_document_streams_back(browser, sandbox):
    browser.login()
    docs = browser.get(DOCS + "?limit=100").json()["items"]
    (large,) = [d for d in docs if d.get("large")]
    response = browser.get(
        f"{DOCS}/{large['id']}/targetdocument", headers={"Accept": "*/*"}, stream=True
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    assert int(response.headers["Content-Length"]) == 2 * 1024 * 1024
    assert sum(len(c) for c in response.iter_content(65536)) == 2 * 1024 * 1024


@pytest.mark.parametrize(("fault", "status"), [("api_401", 401), ("api_503", 503)])
def test_upstream_errors_pass_through_with_their_body(browser, sandbox, fault, status):
    browser.login()
    sandbox.faults.add(fault)
    response = browser.get(DOCS)
    assert response.status_code == status
    assert response.json()["error"] in ("invalid_token", "service_unavailable")


def test_unacceptable_accept_gets_the_apis_406(browser, sandbox):
    browser.login()
    response = browser.get(DOCS, headers={"Accept": "image/png"})
    assert response.status_code == 406


def test_api_unreachable_gives_502(make_app, new_browser, sandbox):
    make_app(PAGERO_API_BASE_URL="http://localhost:9/api")
    browser = new_browser()
    browser.login()
    response = browser.get(DOCS)
    assert response.status_code == 502
    assert response.json()["type"] == "urn:pagero-client:error:api_unavailable"


def test_api_timeout_gives_504(make_app, new_browser, sandbox):
    make_app(PAGERO_HTTP_READ_TIMEOUT="0.5")
    browser = new_browser()
    browser.login()
    sandbox.faults.add("api_slow")
    response = browser.get(DOCS)
    assert response.status_code == 504
    assert response.json()["type"] == "urn:pagero-client:error:api_timeout"


def test_an_answer_without_a_type_is_declared_opaque_bytes(client_app):
    """RFC 9110 section 8.3: never left for the framework to call it HTML."""
    settings = client_app.config["PAGERO_SETTINGS"]
    untyped = urllib3.HTTPResponse(body=b"<script>", headers={"Content-Length": "8"}, status=200)
    typed = urllib3.HTTPResponse(body=b"{}", headers={"Content-Type": "application/json"})
    assert api_proxy.response_headers(settings, untyped)["Content-Type"] == (
        "application/octet-stream"
    )
    assert api_proxy.response_headers(settings, typed)["Content-Type"] == "application/json"


def test_markup_from_the_api_is_sandboxed_like_every_answer(browser, sandbox):
    """The API's XML or HTML, opened at /api-proxy/..., must not run as this app's page
    (every type: tests/integration/test_api_proxy_answers.py)."""
    browser.login()
    listing = browser.get(DOCS, headers={"Accept": "application/json"})
    assert listing.headers["Content-Security-Policy"] == api_proxy.ANSWER_POLICY
    first = listing.json()["items"][0]["id"]
    document = browser.get(f"{DOCS}/{first}/targetdocument", headers={"Accept": "*/*"})
    assert document.status_code == 200
    assert document.headers["Content-Type"].startswith("application/xml")
    assert document.headers["Content-Security-Policy"] == api_proxy.ANSWER_POLICY
    assert document.headers["X-Content-Type-Options"] == "nosniff"
    assert document.headers["Cache-Control"] == "no-store"


def test_at_info_the_app_logs_only_the_calls_the_api_refused(make_app, new_browser, caplog):
    """gunicorn's access line records every call; the app adds one for 4xx and 5xx."""
    make_app(LOG_LEVEL="info")
    browser = new_browser()
    browser.login()
    caplog.clear()
    assert browser.get(DOCS).status_code == 200
    assert browser.get(DOCS + "/no-such-document/targetdocument").status_code == 404
    lines = [r for r in caplog.records if r.name == "app.proxy.views"]
    assert [(r.levelname, r.getMessage().split(" in ")[0]) for r in lines] == [
        ("INFO", "api GET /document/v1/documents/no-such-document/targetdocument -> 404")
    ]


def test_a_proxied_get_that_changes_nothing_writes_nothing(
    make_app, new_browser, sandbox, tmp_path
):
    """The one proxy path stays lean: reading the session and the tokens, no store write."""
    make_app(PAGERO_FLOW_TRACE="false")  # the trace (a QA tool) records each call by design
    browser = new_browser()
    browser.login()
    assert browser.get(DOCS).status_code == 200

    def files() -> dict[str, tuple[int, int]]:
        found = {}
        for folder, _dirs, names in os.walk(tmp_path / "instance"):
            for name in names:
                stat = os.stat(os.path.join(folder, name))
                found[os.path.join(folder, name)] = (stat.st_mtime_ns, stat.st_size)
        return found

    before = files()
    for _ in range(3):
        assert browser.get(DOCS).status_code == 200
    assert files() == before
