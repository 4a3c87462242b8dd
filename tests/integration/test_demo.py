"""The README's first command: the demo starts the sandbox and the app, wired together."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.browser import Browser
from tests.servers import free_port, project_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path):
    with project_script("demo.sh", tmp_path, "Pagero reference client is running", 30) as run:
        yield run


def test_demo_prints_the_url_and_a_login_works_end_to_end(demo):
    ports, proc, out = demo
    url = f"http://localhost:{ports['APP_PORT']}"
    text = out.read_text()
    assert f"Open   {url}" in text and "demo / demo" in text
    browser = Browser(url)
    assert browser.login("demo", "demo", scope="all openid").headers["Location"] == "/profile"
    assert "demo" in browser.get("/profile").text
    documents = browser.get("/api-proxy/document/v1/documents")
    assert documents.status_code == 200 and documents.json()["items"]

    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
    assert proc.wait(timeout=30) == 0
    assert "demo: stopped" in out.read_text()
    with pytest.raises(OSError):
        Browser(url).get("/", timeout=2)


def test_demo_refuses_a_busy_port(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = {**os.environ, "APP_PORT": str(busy.getsockname()[1])}
        env["SANDBOX_PORT"] = str(free_port())
        done = subprocess.run(
            ["bash", "scripts/demo.sh"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert "already in use" in done.stderr
