"""The app under the exact command the Dockerfile runs: gunicorn -c config/gunicorn.py wsgi:app."""

from __future__ import annotations

import re
import signal

import pytest

from tests.browser import Browser, parse_forms
from tests.servers import gunicorn


@pytest.fixture
def gunicorn_app(ports, sandbox, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    with gunicorn(
        ports["gunicorn"],
        log_path,
        PAGERO_ENV="sandbox",
        SANDBOX_PORT=str(ports["sandbox"]),
        GUNICORN_WORKERS="2",
        INSTANCE_PATH=str(tmp_path / "instance"),
    ) as proc:
        yield f"http://localhost:{ports['gunicorn']}", proc, log_path


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

    proc.send_signal(signal.SIGTERM)  # graceful shutdown
    assert proc.wait(timeout=30) == 0
    log = log_path.read_text()
    assert '"GET /callback HTTP/1.1" 303' in log  # the access log has the path...
    assert re.search(r'"GET /profile HTTP/1.1" 200 \d+ \d+ms rid=[0-9a-f]{32}', log)
    assert "/callback?" not in log  # ...never its query string
    for secret in sandbox.issued_secrets():
        assert secret not in log
