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


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError, ValueError):
                continue  # it ended while we looked
            if parent == pid:
                found[int(entry.name)] = command
    return found


def test_demo_says_so_and_stops_the_app_when_the_sandbox_dies(demo):
    ports, proc, out = demo
    sandbox = [pid for pid, command in children(proc.pid).items() if "-m sandbox" in command]
    assert len(sandbox) == 1
    os.kill(sandbox[0], signal.SIGKILL)

    assert proc.wait(timeout=30) == 1
    assert "demo: a server stopped unexpectedly" in out.read_text()
    with pytest.raises(OSError):  # the app went with it, not left serving a dead sandbox
        Browser(f"http://localhost:{ports['APP_PORT']}").get("/", timeout=2)
