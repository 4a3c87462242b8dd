"""The app under the exact command the Dockerfile runs: gunicorn -c config/gunicorn.py wsgi:app."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import time

import pytest

from tests.browser import Browser, parse_forms
from tests.servers import ROOT, app_against_sandbox, free_port, gunicorn_invocation


@pytest.fixture
def gunicorn_app(ports, sandbox, tmp_path):
    with app_against_sandbox(ports, tmp_path, workers=2) as proc:
        yield f"http://localhost:{ports['gunicorn']}", proc, tmp_path / "gunicorn.log"


def test_full_login_under_gunicorn_with_two_workers(gunicorn_app, sandbox):
    url, proc, log_path = gunicorn_app
    browser = Browser(url)
    assert browser.login(scope="all openid").headers["Location"] == "/profile"
    # Several requests land on both workers: they share the session store and key.
    for _ in range(6):
        assert browser.get("/profile").status_code == 200
    answer = browser.get("/api-proxy/document/v1/documents")
    assert answer.status_code == 200 and answer.json()["items"]
    profile = browser.get("/profile")
    form = next(f for f in parse_forms(profile.text) if f.action == "/logout")
    assert browser.post("/logout", data=form.fields).status_code == 303

    # Both workers are serving (on a busy machine the second may still be loading the app).
    deadline = time.monotonic() + 20
    while log_path.read_text().count("new connections per turn of its event loop") < 2:
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # graceful shutdown
    assert proc.wait(timeout=30) == 0
    log = log_path.read_text()
    assert '"GET /callback HTTP/1.1" 303' in log  # the access log has the path...
    assert re.search(r'"GET /profile HTTP/1.1" 200 \d+ \d+ms rid=[0-9a-f]{32}', log)
    assert "/callback?" not in log  # ...never its query string
    # Each worker takes new connections in batches (config/gunicorn.py, accept_batch).
    assert log.count("new connections per turn of its event loop") == 2
    # ... and keeps the app's start-up objects out of its garbage collections.
    assert len(re.findall(r"worker \d+: \d{4,} start-up objects left out of garbage", log)) == 2
    for secret in sandbox.issued_secrets():
        assert secret not in log


@pytest.mark.parametrize(
    ("status", "sent", "headers"),
    [
        ("200 OK", 5120, [("Content-Type", "text/html"), ("X-Request-ID", "4f0c" * 8)]),
        ("303 See Other", 0, [("Location", "/profile"), ("x-request-id", "abc")]),
        ("500 Internal Server Error", None, []),  # no id, nothing sent yet
    ],
)
def test_the_lean_access_line_is_the_line_gunicorn_would_print(status, sent, headers):
    """config/access_log.py skips gunicorn's atom dictionary; the line must not change."""
    import datetime
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from config.access_log import ACCESS_LOG_FORMAT, AccessLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", ACCESS_LOG_FORMAT)
    resp = SimpleNamespace(status=status, sent=sent, headers=headers)
    environ = {
        "REMOTE_ADDR": "10.0.0.7",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/callback?code=secret-code&state=s",
        "PATH_INFO": "/callback",
        "QUERY_STRING": "code=secret-code&state=s",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_COOKIE": "pagero_session=abc",
    }
    req = SimpleNamespace(headers=[("COOKIE", "pagero_session=abc")])
    took = datetime.timedelta(milliseconds=37, microseconds=400)
    lines = []
    for logger_class in (Logger, AccessLogger):
        logger = logger_class(cfg)
        seen = _Collect()
        logger.access_log.addHandler(seen)
        try:
            logger.access(resp, req, environ, took)
        finally:
            logger.access_log.removeHandler(seen)
        lines.append(seen.messages)
    stock, lean = lines
    assert len(lean) == 1 and lean == stock
    assert "secret-code" not in lean[0] and "pagero_session" not in lean[0]


def test_the_access_line_escapes_a_line_break_in_the_path():
    """gunicorn's own line would let /x%0D%0A... start a forged line; ours escapes it."""
    import datetime
    from types import SimpleNamespace

    from gunicorn.config import Config

    from config.access_log import AccessLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = AccessLogger(cfg)
    seen = _Collect()
    logger.access_log.addHandler(seen)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": '/x\r\n127.0.0.1 "GET /admin HTTP/1.1" 200'}
    resp = SimpleNamespace(status="404 Not Found", sent=9, headers=[])
    try:
        logger.access(resp, None, environ, datetime.timedelta(milliseconds=1))
    finally:
        logger.access_log.removeHandler(seen)
    (line,) = seen.messages
    assert "\n" not in line and "\r" not in line
    assert '/x\\r\\n127.0.0.1 "GET /admin' in line


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_bad_configuration_stops_gunicorn_with_one_message_before_any_worker(tmp_path):
    command, env = gunicorn_invocation(free_port(), PAGERO_ENV="production")
    env.pop("SECRET_KEY", None)
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert output.count("Invalid configuration for profile 'production'") == 1
    for name in ("PAGERO_CLIENT_ID", "PAGERO_CLIENT_SECRET", "PAGERO_REDIRECT_URI", "SECRET_KEY"):
        assert name in output
    assert "Traceback" not in output
    assert "Booting worker" not in output


def test_serving_variables_come_from_dotenv_too_and_the_environment_wins(tmp_path):
    """docs/configuration.md: every value may be set in .env in the working directory."""
    (tmp_path / ".env").write_text("GUNICORN_WORKERS=3\nGUNICORN_TIMEOUT=99\nAPP_PORT=5999\n")
    command, env = gunicorn_invocation(free_port(), GUNICORN_TIMEOUT="42")
    for name in ("GUNICORN_BIND", "GUNICORN_WORKERS", "APP_PORT"):
        env.pop(name, None)
    config = str(ROOT / "config" / "gunicorn.py")
    command = [command[0], "-c", config, "--chdir", str(ROOT), "--print-config", "wsgi:app"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    settings = dict(re.findall(r"^(\w+)\s+= (.*)$", done.stdout, re.MULTILINE))
    assert settings["workers"] == "3"
    assert settings["bind"] == "['0.0.0.0:5999']"
    assert settings["timeout"] == "42"


def _raw_chunked_post(url: str, cookie: str, transfer_encoding: str, body: bytes):
    """A POST to /api-proxy with a hand-written chunked body; (status, JSON answer)."""
    import json
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(url)
    head = (
        "POST /api-proxy/document/v1/documents HTTP/1.1\r\n"
        f"Host: {where.netloc}\r\nCookie: {cookie}\r\nX-CSRF: 1\r\n"
        "Accept: application/json\r\nContent-Type: application/xml\r\n"
        f"Transfer-Encoding: {transfer_encoding}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((where.hostname, where.port), timeout=15) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.partition(b"\r\n\r\n")[2] or b"{}")


def test_chunked_uploads_under_gunicorn(gunicorn_app, sandbox, caplog):
    """Any coding list ending in chunked carries a body; a malformed chunk is a 400."""
    url, _proc, log_path = gunicorn_app
    browser = Browser(url)
    browser.login()
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies)
    invoice = b"<Invoice/>"
    good = b"%x\r\n%s\r\n0\r\n\r\n" % (len(invoice), invoice)
    for coding in ("chunked", "identity, chunked"):
        status, sent = _raw_chunked_post(url, cookie, coding, good)
        assert status == 201 and sent["size"] == len(invoice), (coding, sent)
    bad = b"5 \r\nhello\r\n0\r\n\r\n"  # a space after the chunk size
    status, problem = _raw_chunked_post(url, cookie, "chunked", bad)
    assert status == 400
    assert problem["type"] == "urn:pagero-client:error:unreadable_request_body"
    assert "Traceback" not in log_path.read_text()
