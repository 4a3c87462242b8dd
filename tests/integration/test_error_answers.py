"""Every failure the app can see is its own answer: a page or problem+json with the app's
security headers, never the server's bare 500, and never a query string in a log line.

Under the Dockerfile's gunicorn and in-process (werkzeug's server): a session cookie of
raw bytes, an API answer header holding a control character, a method a route does not
take (405 with ``Allow``, RFC 9110 section 15.5.6), and gunicorn's own error lines.
"""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import urlsplit

import pytest

from tests.browser import Browser
from tests.servers import app_against_sandbox

DOCS = "/api-proxy/document/v1/documents"
CSRF = {"X-CSRF": "1"}
#: A query value that looks like a secret: it must reach no log line.
SECRET_QUERY = "api_key=Qx7-not-for-logs-4f2e"
RAW_BYTES_COOKIE = b"pagero_session=\xff\xfe"


def raw_get(
    base_url: str, target: bytes, *headers: bytes, method: bytes = b"GET"
) -> tuple[int, dict[str, str], bytes]:
    """A request sent byte for byte (requests would encode the cookie); (status, headers,
    body)."""
    where = urlsplit(base_url)
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + where.netloc.encode()]
    lines += [b"Accept: application/json", b"Connection: close", *headers]
    with socket.create_connection((where.hostname, where.port), timeout=15) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), found, body


def assert_apps_own_problem(status: int, headers: dict[str, str], body: bytes, code: str):
    assert headers["content-type"] == "application/problem+json", (status, headers, body)
    assert json.loads(body)["type"] == f"urn:pagero-client:error:{code}"
    assert headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert len(headers["x-request-id"]) == 32


# -- in-process ---------------------------------------------------------------------------


def test_a_session_cookie_of_raw_bytes_is_no_session(client_app, app_url, sandbox):
    target = f"{DOCS}?{SECRET_QUERY}".encode()
    status, headers, body = raw_get(app_url, target, b"Cookie: " + RAW_BYTES_COOKIE)
    assert status == 401
    assert_apps_own_problem(status, headers, body, "login_required")


def test_a_cookie_that_is_no_session_id_is_no_session(client_app, app_url, sandbox):
    for cookie in (b"pagero_session=\xc3\xbf", b"pagero_session=../../x", b"pagero_session="):
        status, headers, body = raw_get(app_url, DOCS.encode(), b"Cookie: " + cookie)
        assert status == 401, cookie
        assert_apps_own_problem(status, headers, body, "login_required")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/api-proxy/x", {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}),
        ("PUT", "/", {"GET", "HEAD"}),
        ("PUT", "/profile", {"GET", "HEAD"}),
        ("DELETE", "/session", {"GET", "HEAD"}),
        ("POST", "/healthz", {"GET", "HEAD"}),
        ("GET", "/logout", {"POST"}),
    ],
)
@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_every_405_says_which_methods_the_route_takes(client_app, method, path, allowed, accept):
    answer = client_app.test_client().open(path, method=method, headers={"Accept": accept})
    assert answer.status_code == 405
    listed = {m.strip() for m in answer.headers["Allow"].split(",")}
    assert allowed <= listed and method not in listed, listed
    assert answer.headers.getlist("Allow") == [answer.headers["Allow"]]  # once
    if path.startswith(("/api-proxy", "/session")) or accept == "application/json":
        assert answer.mimetype == "application/problem+json"
    else:
        assert answer.mimetype == "text/html"
    assert "Content-Security-Policy" in answer.headers
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_gunicorns_error_lines_carry_no_query_string(tmp_path):
    """What gunicorn writes when an answer fails ("Error handling request GET /x?...")
    or a request line is refused: the query string never reaches the file."""
    from gunicorn.config import Config

    from config.access_log import AccessLogger

    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    logger = AccessLogger(cfg)
    try:
        raise ValueError(f"failed on /api-proxy/x?{SECRET_QUERY}")
    except ValueError:
        logger.exception("Error handling request %s %s", "GET", f"/api-proxy/x?{SECRET_QUERY}")
    logger.warning(
        f"Invalid request from ip=127.0.0.1: Invalid Request Line 'GET /x?{SECRET_QUERY}'"
    )
    for handler in logging.getLogger("gunicorn.error").handlers:
        handler.flush()
    text = (tmp_path / "error.log").read_text()
    assert "Error handling request GET /api-proxy/x?[query-hidden]" in text
    assert "Traceback" in text and "ValueError" in text  # the traceback stays, redacted
    assert "GET /x?[query-hidden]'" in text
    assert SECRET_QUERY.split("=")[1] not in text


# -- under gunicorn -----------------------------------------------------------------------


@pytest.fixture
def gunicorn_url(ports, sandbox, tmp_path):
    with app_against_sandbox(ports, tmp_path):
        yield f"http://localhost:{ports['gunicorn']}", tmp_path / "gunicorn.log"


def test_under_gunicorn_failures_are_the_apps_own_answers(gunicorn_url, sandbox):
    url, log_path = gunicorn_url
    secret = SECRET_QUERY.encode()

    # A session cookie that is not UTF-8: no session, a 401.
    answer = raw_get(url, DOCS.encode() + b"?" + secret, b"Cookie: " + RAW_BYTES_COOKIE)
    assert answer[0] == 401
    assert_apps_own_problem(*answer, "login_required")

    # An API answer header with a control character: the app's 502, not gunicorn's 500.
    browser = Browser(url)
    browser.login()
    sent = browser.post(DOCS, data=b"hello", headers={**CSRF, "Content-Type": "text/plain"})
    document = sent.json()["id"]
    sandbox.upload_files[document].headers = [("Content-Type", "text/plain\x0bx")]
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies).encode()
    target = f"{DOCS}/{document}/file?{SECRET_QUERY}".encode()
    answer = raw_get(url, target, b"Cookie: " + cookie)
    assert answer[0] == 502
    assert_apps_own_problem(*answer, "api_malformed_answer")
    status, headers, _ = raw_get(url, target, b"Cookie: " + cookie, method=b"HEAD")
    assert status == 502 and headers["content-type"] == "application/problem+json"
    assert browser.get(DOCS).status_code == 200  # the worker is fine

    # A request line gunicorn itself refuses: its own 400 (the app never saw it), and its
    # log line without the query string.
    answer = raw_get(url, b"/x?" + secret + b" junk")
    assert answer[0] == 400

    log = log_path.read_text()
    assert "Invalid request from ip=" in log  # the line was written...
    assert SECRET_QUERY.split("=")[1] not in log  # ...without the query
    assert "Error handling request" not in log
    assert "Traceback" not in log
