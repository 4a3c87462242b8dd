"""The app under the exact command the Dockerfile runs: gunicorn -c config/gunicorn.py wsgi:app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.browser import Browser, parse_forms

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def _dockerfile_command() -> list[str]:
    line = next(x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("CMD "))
    import json

    return json.loads(line[4:])


@pytest.fixture
def gunicorn_app(ports, sandbox, tmp_path):
    command = _dockerfile_command()
    assert command[:1] == ["gunicorn"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    env.update(
        PAGERO_ENV="sandbox",
        APP_PORT=str(ports["gunicorn"]),
        SANDBOX_PORT=str(ports["sandbox"]),
        GUNICORN_BIND=f"127.0.0.1:{ports['gunicorn']}",
        GUNICORN_WORKERS="2",
        INSTANCE_PATH=str(tmp_path / "instance"),
    )
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(GUNICORN), *command[1:]], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        url = f"http://localhost:{ports['gunicorn']}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/", timeout=1)
                break
            except requests.ConnectionError:
                if proc.poll() is not None:
                    pytest.fail("gunicorn exited: " + log_path.read_text())
                time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail("gunicorn did not start: " + log_path.read_text())
        yield url, proc, log_path
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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
    assert "/callback?" not in log  # ...never its query string
    for secret in sandbox.issued_secrets():
        assert secret not in log
