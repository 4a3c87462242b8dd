"""Deployment hardening: headers, cookies, proxies, request ids, logs, timeouts, probes."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest

from app import create_app, sessions
from app.logging_setup import JsonFormatter, redact
from tests.browser import parse_forms


def _app(tmp_path, **config):
    return create_app({"INSTANCE_PATH": str(tmp_path), **config})


def test_every_response_carries_the_security_headers(browser, sandbox):
    browser.login()
    for path in ("/", "/profile", "/documents", "/explorer", "/session", "/nope"):
        response = browser.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store", path
        assert "Strict-Transport-Security" not in response.headers  # plain http here


def test_templates_have_no_inline_script_or_style():
    from pathlib import Path

    for page in Path(__file__).parents[2].joinpath("templates").glob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), page.name
        assert "<style" not in text and " style=" not in text, page.name
        assert "http://" not in text and "https://" not in text, page.name  # no CDN


def test_https_deployment_uses_host_prefixed_secure_cookie_and_hsts(tmp_path):
    # No sandbox runs here: discovery off, so /login goes to the configured login page.
    app = _app(
        tmp_path, PAGERO_REDIRECT_URI="https://app.example/callback", PAGERO_DISCOVERY="false"
    )
    client = app.test_client()
    response = client.get("/login", base_url="https://app.example")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-pagero_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_sandbox_cookie_is_not_secure_outside_https(tmp_path):
    app = _app(tmp_path, PAGERO_DISCOVERY="false")  # no sandbox runs here
    response = app.test_client().get("/login", base_url="http://localhost:5000")
    assert "Secure" not in response.headers["Set-Cookie"]


@pytest.mark.parametrize(("hops", "trusted"), [("0", False), ("1", True)])
def test_forwarded_headers_are_trusted_only_for_configured_hops(tmp_path, hops, trusted):
    app = _app(tmp_path, TRUSTED_PROXY_HOPS=hops)
    seen = {}

    @app.get("/_probe")
    def probe():
        from flask import request

        seen.update(scheme=request.scheme, remote=request.remote_addr)
        return "ok"

    app.test_client().get(
        "/_probe",
        base_url="http://localhost:5000",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"},
    )
    assert (seen["scheme"] == "https") is trusted
    assert (seen["remote"] == "198.51.100.7") is trusted


def test_request_id_is_echoed_or_made_and_never_injected(tmp_path):
    client = _app(tmp_path).test_client()
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    for hostile in ("a b", "x" * 65, "<script>", "id;rm"):
        answer = client.get("/healthz", headers={"X-Request-ID": hostile})
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"]), hostile
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])


def test_log_lines_carry_the_request_id(tmp_path):
    app = _app(tmp_path)
    handler = next(h for h in logging.getLogger("app").handlers if h.get_name())
    stream = io.StringIO()
    original = handler.setStream(stream)
    try:
        app.test_client().get(
            "/profile", headers={"X-Request-ID": "req-42", "Accept": "application/json"}
        )
    finally:
        handler.setStream(original)
    lines = [line for line in stream.getvalue().splitlines() if "login_required" in line]
    assert lines and all("[req-42]" in line for line in lines)


def test_a_request_cannot_forge_a_log_line(tmp_path):
    """A decoded %0A in the path is written escaped; a traceback keeps its lines."""
    app = _app(tmp_path)
    handler = next(h for h in logging.getLogger("app").handlers if h.get_name())
    stream = io.StringIO()
    original = handler.setStream(stream)
    forged = "2026-11-27 14:21:00,000 INFO app.auth.views [0] login completed (FORGED)"
    try:
        answer = app.test_client().get("/api-proxy/x%0A" + forged.replace(" ", "%20"))
        assert answer.status_code == 400
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("app.test").exception("failed at %s", "line\nbreak")
    finally:
        handler.setStream(original)
    lines = stream.getvalue().splitlines()
    assert not any(line.startswith(forged) for line in lines), lines
    assert any("bad_api_path" in line and "\\n2026-11-27" in line for line in lines), lines
    assert any(line.endswith("failed at line\\nbreak") for line in lines)
    assert "Traceback (most recent call last):" in lines  # on a line of its own


def test_json_log_format_is_one_redacted_object_per_line():
    record = logging.LogRecord(
        "app.test", logging.INFO, __file__, 1, "sent Authorization: Bearer %s", ("abc.def",), None
    )
    record.request_id = "r-1"
    line = JsonFormatter(secrets=("topsecret",)).format(record)
    entry = json.loads(line)
    assert entry["request_id"] == "r-1" and entry["level"] == "INFO"
    assert "abc.def" not in line and "[redacted]" in entry["message"]


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer _0XBPWQQ_2a66dd33-e108-4dc3-b653-e71b9feae02e",
        "GET /callback?code=0F7ijeaW4BCwhvyg6ozY9PeLsFF6KUi1&state=abc",
        "refresh_token=_1XBPWQQ_e61b091b-9139-4268-a7c7-765d2d418d52",
        "id_token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl",
        "{'client_secret': 'pagero-demo-secret'}",
    ],
)
def test_redaction_removes_tokens_codes_and_secrets(text):
    cleaned = redact(text, secrets=("pagero-demo-secret",))
    for secret in (
        "_0XBPWQQ_2a66",
        "0F7ijeaW4BCwhvyg",
        "_1XBPWQQ_e61b",
        "eyJzdWIiOiJ1MSJ9",
        "pagero-demo-secret",
    ):
        assert secret not in cleaned


def test_idle_timeout_ends_the_session_and_deletes_its_tokens(make_app, new_browser, sandbox):
    app = make_app(SESSION_IDLE_TIMEOUT="1")
    browser = new_browser()
    browser.login()
    assert browser.get("/profile").status_code == 200
    time.sleep(1.3)
    assert browser.get("/profile").status_code == 401
    assert _files(app) == []  # the token file went with the session


def test_an_active_session_outlives_an_idle_timeout_shorter_than_a_minute(
    make_app, new_browser, sandbox
):
    make_app(SESSION_IDLE_TIMEOUT="4")
    browser = new_browser()
    browser.login()
    started = time.monotonic()
    while time.monotonic() - started < 7:  # well past the idle timeout, never idle for long
        assert browser.get("/profile").status_code == 200
        time.sleep(0.4)
    time.sleep(4.5)
    assert browser.get("/profile").status_code == 401  # and idle still ends it


def test_the_last_seen_write_interval_follows_a_short_idle_timeout():
    assert sessions.seen_write_interval(3600) == sessions.SEEN_WRITE_INTERVAL == 60
    assert sessions.seen_write_interval(30) == 7.5


def test_absolute_lifetime_ends_even_an_active_session(make_app, new_browser, sandbox):
    make_app(SESSION_LIFETIME="2", SESSION_IDLE_TIMEOUT="2")
    browser = new_browser()
    browser.login()
    for _ in range(4):
        time.sleep(0.6)
        last = browser.get("/profile").status_code
    assert last == 401


def _files(app):
    from pathlib import Path

    # Token files; pending logins and used states are "logins-*.json" beside them.
    folder = Path(app.extensions["pagero"].stores.tokens.directory)
    return [p for p in folder.glob("*.json") if not p.name.startswith("logins-")]


def test_logout_deletes_the_session_file_server_side(make_app, new_browser, sandbox):
    app = make_app()
    browser = new_browser()
    browser.login()
    assert len(_files(app)) == 1
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    browser.post("/logout", data=form.fields)
    assert _files(app) == []


def test_probes_and_headers_never_wait_for_the_metadata(tmp_path, upstream_calls):
    client = _app(tmp_path, PAGERO_DISCOVERY="true").test_client()
    assert client.get("/healthz").status_code == 200
    static = client.get("/static/css/app.css")
    assert static.status_code == 200 and "form-action" in static.headers["Content-Security-Policy"]
    assert upstream_calls == []


def test_only_a_static_file_may_be_cached_not_a_redirect_under_static(tmp_path):
    client = _app(tmp_path).test_client()
    # Werkzeug builds this redirect from the Host header: a shared cache must not keep it.
    moved = client.get("/static//css/app.css", headers={"Host": "evil.example"})
    assert moved.status_code == 308 and moved.headers["Cache-Control"] == "no-store"
    assert client.get("/static/css/app.css").headers.get("Cache-Control") != "no-store"


def test_health_probes(tmp_path):
    client = _app(tmp_path).test_client()
    live = client.get("/healthz")
    assert live.status_code == 200 and live.json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.json["checks"]["session_store"] == "ok"
    assert ready.json["checks"]["token_store"] == "ok"
    assert "Set-Cookie" not in live.headers and "Set-Cookie" not in ready.headers


def test_abandoned_sessions_and_tokens_are_swept_from_disk(make_app, new_browser, sandbox):
    from pathlib import Path

    app = make_app()
    new_browser().login()  # then abandoned: never comes back
    session_dir = Path(app.instance_path) / "flask_session"

    def session_files():
        return [p for p in session_dir.iterdir() if p.is_file() and p.name != "__wz_cache_count"]

    assert session_files() and _files(app)
    app.session_interface.sweep()
    app.extensions["pagero"].stores.tokens.sweep()
    assert session_files() and _files(app)  # still live: kept
    later = time.time() + 28800 + 3600  # past the lifetime and the idle timeout
    app.session_interface.sweep(now=later)
    app.extensions["pagero"].stores.tokens.sweep(now=later)
    assert session_files() == []
    assert _files(app) == []
    # Login records (the used state, for a day) and a file a dead worker had claimed.
    folder = Path(app.extensions["pagero"].stores.tokens.directory)
    assert list(folder.glob("logins-*.json"))
    leftover = folder / ("0" * 64 + ".json.0123456789abcdef.taken")
    leftover.write_bytes(b"{}")
    app.extensions["pagero"].stores.tokens.sweep(now=time.time() + 2 * 86400)
    assert list(folder.glob("logins-*.json")) == [] and not leftover.exists()
