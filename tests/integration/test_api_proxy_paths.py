"""The proxy's target never leaves PAGERO_API_BASE_URL: hostile paths get 400 first."""

from __future__ import annotations

import pytest

from tests.proxy_helpers import raw_request

HOSTILE_PATHS = [
    "../oauth/v2/oauth-token",
    "document/../../oauth/v2/oauth-token",
    "document/v1/..",
    "document/%2e%2e/%2e%2e/secret",
    "document/%2E%2E/x",
    "document/.%2e/x",
    "document/%252e%252e/x",
    "document/%25%32%65%25%32%65/x",
    "document/./v1",
    "document/%2e/v1",
    "document/.../v1",
    "document//v1",
    "/etc/passwd",
    "%2fetc/passwd",
    "//evil.example/x",
    "%2f%2fevil.example/x",
    "http://evil.example/x",
    "http:%2f%2fevil.example/x",
    "document\\..\\x",
    "document%5c..%5cx",
    "document/v1/documents%00",
    "document/v1/documents%00.json",
    "document/v1@evil.example",
    "@evil.example/x",
    "document/v1/%0d%0aX-Injected:%201",
    "document/v1/%0aX",
    "document/v1/%09tab",
    "document/v1/%20x",
    "document/v1/..%2f..%2fsecret",
    "document/v1/%2e%2e%5c",
    "document/v1/%u002e%u002e/x",
    "document/v1/%ef%bc%8e%ef%bc%8e/x",
    "document/v1/%c0%ae%c0%ae/x",
    "document/v1;/../x",
    "document/v1/%7f",
    "document/v1/..;/..;/file/v1/files",
    "document/v1/.;x/documents",
    "document/v1/;x/documents",
    "document%2Fv1%2Fdocuments",
    "document/v1%2fdocuments",
    "",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_path_gets_400_before_any_upstream_call(
    browser, sandbox, sandbox_recorder, upstream_calls, path
):
    browser.login()
    sandbox_recorder.clear()
    upstream_calls.clear()
    for method, headers in (("GET", {}), ("DELETE", {"X-CSRF": "1"})):
        status, body = raw_request(browser, method, f"/api-proxy/{path}", headers)
        assert status == 400, (method, body)
        assert body["type"] == "urn:pagero-client:error:bad_api_path"
    assert upstream_calls == []
    assert [r.path for r in sandbox_recorder.requests if r.path.startswith("/api")] == []


def test_hostile_path_table_is_big_enough():
    assert len(HOSTILE_PATHS) >= 30


@pytest.mark.parametrize(
    "path", ["document/v1/documents", "document/v1/documents/d-1/targetdocument", "a:b/c~d"]
)
def test_plain_paths_are_accepted(browser, sandbox, upstream_calls, path):
    browser.login()
    upstream_calls.clear()
    status, _ = raw_request(browser, "GET", f"/api-proxy/{path}")
    assert status != 400
    assert upstream_calls and upstream_calls[0].endswith("/api/" + path)


def test_allow_list_narrows_the_paths(make_app, new_browser, sandbox, upstream_calls):
    make_app(PAGERO_API_ALLOWED_PATHS="document/v1")
    browser = new_browser()
    browser.login()
    upstream_calls.clear()
    assert raw_request(browser, "GET", "/api-proxy/document/v1/documents")[0] == 200
    for path in ("file/v1/files/f/fileparts", "document/v10/x", "document"):
        status, body = raw_request(browser, "GET", f"/api-proxy/{path}")
        assert status == 403, path
        assert body["type"] == "urn:pagero-client:error:api_path_not_allowed"
    assert len(upstream_calls) == 1
