"""What /api-proxy hands the browser: whatever the API answers, never a page of this app.

The API's answers are not the app's to trust: a document a partner sent, a compromised or
broken upstream. Opened at /api-proxy/... (a link, a typed URL, a page's script), such an
answer is same-origin with the app; if a browser ran it as a page, its script could read
the anti-forgery token from /session and send calls through the proxy as the user. So:

* every answer there carries a CSP sandbox and ``nosniff``, whatever its type;
* a type browsers and the proxy could read differently (a list, a repeated header,
  unparsable) is never passed on: the answer is opaque bytes, to download;
* a header no server should send (a control character) is a clean 502, never a crash;
* the app's own scripts come only from ``/static/js/``, never from ``/api-proxy/...``.
"""

from __future__ import annotations

import urllib3

from app.proxy import rules as api_proxy
from pagero_oauth import errors

DOCS = "/api-proxy/document/v1/documents"
CSRF = {"X-CSRF": "1"}
#: A document of no origin that runs nothing, loads nothing and cannot be framed.
SANDBOX_POLICY = (
    "sandbox; default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def upload(browser, body: bytes, content_type: str) -> str:
    """Send a document through the proxy; its id (the sandbox keeps small ones whole)."""
    sent = browser.post(DOCS, data=body, headers={**CSRF, "Content-Type": content_type})
    assert sent.status_code == 201, sent.text
    return sent.json()["id"]


def assert_sandboxed(response) -> None:
    assert response.headers["Content-Security-Policy"] == SANDBOX_POLICY, response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_every_answer_of_the_api_is_sandboxed_whatever_its_type(browser, sandbox):
    assert_sandboxed(browser.get(DOCS))  # the app's own 401, before the login
    browser.login()
    listing = browser.get(DOCS)
    assert listing.status_code == 200
    assert_sandboxed(listing)  # JSON
    first = listing.json()["items"][0]["id"]
    document = browser.get(f"{DOCS}/{first}/targetdocument", headers={"Accept": "*/*"})
    assert document.headers["Content-Type"].startswith("application/xml")
    assert_sandboxed(document)
    assert_sandboxed(browser.get(f"{DOCS}/no-such-document/targetdocument"))  # the API's 404
    style = upload(browser, b'<xsl:stylesheet version="1.0"/>', "text/xsl")
    answer = browser.get(f"{DOCS}/{style}/file")
    # A type Chromium renders as a page (XSLT can run script) that no list of "active
    # content" held: passed on as it is, and sandboxed like every other.
    assert answer.headers["Content-Type"] == "text/xsl"
    assert_sandboxed(answer)
    sandbox.faults.add("api_503")
    failed = browser.get(DOCS)
    assert failed.status_code == 503
    assert_sandboxed(failed)  # an error answer relayed from the API


def test_the_apps_pages_run_scripts_only_from_static_js(browser, sandbox, app_url):
    browser.login()
    for path in ("/", "/profile", "/documents", "/explorer", "/session", "/nope"):
        csp = browser.get(path).headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        # 'self' would take /api-proxy/... too: a script the API answered with.
        assert directives["script-src"] == f"{app_url}/static/js/", path


AMBIGUOUS_TYPES = [
    "text/plain, text/html",  # Chromium takes the last of a list: HTML
    "text/plain;,text/html",
    "text/plain,text/html;charset=utf-8",
    'text/html; charset="utf-8',  # unterminated quoted string
    "text/html;;charset=utf-8 x",
    "html",
    "text/ html",
]


def test_an_ambiguous_content_type_is_never_passed_on(browser, sandbox):
    browser.login()
    page = b"<html><script>document.title = 'ran'</script></html>"
    for content_type in AMBIGUOUS_TYPES:
        sent = upload(browser, page, content_type)
        answer = browser.get(f"{DOCS}/{sent}/file")
        assert answer.status_code == 200, content_type
        assert answer.headers["Content-Type"] == "application/octet-stream", content_type
        assert answer.headers["Content-Disposition"] == "attachment", content_type
        assert answer.content == page  # the bytes are the user's, unchanged
        assert_sandboxed(answer)


def test_a_repeated_content_type_is_never_passed_on(browser, sandbox):
    browser.login()
    sent = upload(browser, b"<script>alert(1)</script>", "text/plain")
    kept = sandbox.upload_files[sent]
    kept.headers = [
        ("Content-Type", "text/plain"),
        ("Content-Type", "text/html"),  # the API says two things; Chromium takes the last
        ("Content-Disposition", "inline"),
    ]
    answer = browser.get(f"{DOCS}/{sent}/file")
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Disposition"] == "attachment"
    assert_sandboxed(answer)
    # One plain type passes as it is.
    kept.headers = [("Content-Type", "text/plain; charset=utf-8")]
    plain = browser.get(f"{DOCS}/{sent}/file")
    assert plain.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Content-Disposition" not in plain.headers
    assert_sandboxed(plain)


def test_an_answer_header_with_a_control_character_is_a_clean_502(browser, sandbox, caplog):
    browser.login()
    sent = upload(browser, b"hello", "text/plain")
    for header in [("Content-Type", "text/plain\x0bx"), ("Content-Language", "en\x0b")]:
        sandbox.upload_files[sent].headers = [header]
        caplog.clear()
        answer = browser.get(f"{DOCS}/{sent}/file")
        assert answer.status_code == 502, header
        assert answer.headers["Content-Type"] == "application/problem+json"
        problem = answer.json()
        assert problem["type"] == "urn:pagero-client:error:api_malformed_answer"
        assert problem["header"] == header[0]
        assert_sandboxed(answer)
        assert "X-Request-ID" in answer.headers
        assert not any("\x0b" in v for v in answer.headers.values())
        assert any("api_malformed_answer" in r.getMessage() for r in caplog.records)
    # The connection that brought the broken answer is not reused: the next call is fine.
    assert browser.get(DOCS).status_code == 200


def test_the_apis_405_keeps_its_allow_header(browser, sandbox):
    browser.login()
    sent = upload(browser, b"hello", "text/plain")
    answer = browser._send("DELETE", f"{DOCS}/{sent}/file", headers=CSRF)
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
    assert_sandboxed(answer)


class _Answer:
    """What response_headers reads of an upstream answer, with headers as given."""

    def __init__(self, *headers: tuple[str, str]):
        self.headers = urllib3.HTTPHeaderDict()
        for name, value in headers:
            self.headers.add(name, value)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_length_said_twice_is_one_length_anything_else_is_refused(client_app):
    settings = client_app.config["PAGERO_SETTINGS"]
    twice = _Answer(("Content-Length", "8"), ("Content-Length", "8"))
    assert api_proxy.response_headers(settings, twice)["Content-Length"] == "8"
    for bad in ("8, 9", "eight", "\u00b2", "-1"):
        answer = _Answer(("Content-Length", bad))
        try:
            api_proxy.response_headers(settings, answer)
        except errors.ApiMalformedAnswer as exc:
            assert exc.details == {"header": "Content-Length"}
        else:
            raise AssertionError(f"Content-Length {bad!r} was passed on")
        assert answer.closed  # its body is never read: the connection goes


def test_a_location_outside_the_api_or_said_twice_is_dropped(client_app):
    settings = client_app.config["PAGERO_SETTINGS"]
    base = settings.api_base_url
    inside = _Answer(("Location", f"{base}/document/v1/documents/1"))
    assert api_proxy.response_headers(settings, inside)["Location"] == (
        "/api-proxy/document/v1/documents/1"
    )
    for answer in (
        _Answer(("Location", "https://elsewhere.example/x")),
        _Answer(("Location", f"{base}/a"), ("Location", "https://elsewhere.example/x")),
    ):
        assert "Location" not in api_proxy.response_headers(settings, answer)
