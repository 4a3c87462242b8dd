"""The sandbox over real HTTP: threaded server, access log, and ``python -m sandbox``."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.many_connections import fetch, run
from tests.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def _login_over_http(base_url: str, http: requests.Session, **params) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": "pagero-demo-client",
        "redirect_uri": "http://localhost:5000/callback",
        "state": "live",
        **params,
    }
    page = http.get(base_url + "/oauth/v2/oauth-authorize", params=query, timeout=5)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = http.post(
        page.url,
        data={"csrf_token": csrf, "username": "demo", "password": "demo", "action": "login"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def _exchange(base_url: str, code: str) -> dict:
    response = requests.post(
        base_url + "/oauth/v2/oauth-token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost:5000/callback",
        },
        auth=("pagero-demo-client", "pagero-demo-secret"),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_full_flow_over_http_uses_the_bound_port_in_every_url(live_sandbox):
    base = live_sandbox.base_url
    params = _login_over_http(base, requests.Session())
    assert params["iss"] == base + "/oauth/v2/oauth-anonymous"
    tokens = _exchange(base, params["code"])
    response = requests.get(
        base + "/api/document/v1/documents",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert response.status_code == 200 and response.json()["meta"]["total"] == 10


def test_large_document_streams_over_http(serve_live):
    size = 3 * 1024 * 1024 + 17
    with serve_live(SANDBOX_LARGE_DOCUMENT_BYTES=str(size)) as sandbox:
        base = sandbox.base_url
        tokens = _exchange(base, _login_over_http(base, requests.Session())["code"])
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        api = base + "/api/document/v1/documents"
        items = requests.get(api, headers=headers, timeout=5).json()["items"]
        doc = next(d for d in items if d["large"])
        url = f"{api}/{doc['id']}/targetdocument"
        with requests.get(url, headers=headers, stream=True, timeout=5) as response:
            assert response.headers["Content-Length"] == str(size)
            received = sum(len(chunk) for chunk in response.iter_content(65536))
    assert received == size


def test_concurrent_reuse_of_one_refresh_token_succeeds_exactly_once(live_sandbox):
    base = live_sandbox.base_url
    tokens = _exchange(base, _login_over_http(base, requests.Session())["code"])

    def refresh(_):
        return requests.post(
            base + "/oauth/v2/oauth-token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=("pagero-demo-client", "pagero-demo-secret"),
            timeout=5,
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(refresh, range(8)))
    assert statuses.count(200) == 1
    assert live_sandbox.state.counts["refresh_token"] == statuses.count(200)


def test_access_log_prints_method_path_and_status_without_query_string(live_sandbox, caplog):
    caplog.set_level(logging.INFO, logger="sandbox.access")
    params = _login_over_http(live_sandbox.base_url, requests.Session())
    lines = [r.getMessage() for r in caplog.records if r.name == "sandbox.access"]
    assert "GET /oauth/v2/oauth-authorize 200" in lines
    assert "POST /oauth/v2/oauth-authorize 302" in lines
    assert not any("?" in line or params["code"] in line for line in lines)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_python_m_sandbox_serves_prints_users_and_stops_cleanly(sandbox_free_environ, stop_signal):
    with _python_m_sandbox(sandbox_free_environ, stderr=subprocess.PIPE) as (port, process, banner):
        assert f"http://localhost:{port}" in banner
        assert "demo / demo" in banner and "Bob Logistics GmbH" in banner
        meta = requests.get(
            f"http://127.0.0.1:{port}/oauth/v2/oauth-anonymous/.well-known/openid-configuration",
            timeout=5,
        ).json()
        assert meta["issuer"] == f"http://localhost:{port}/oauth/v2/oauth-anonymous"
        requests.get(
            f"http://127.0.0.1:{port}/oauth/v2/oauth-authorize?code=leaky-query", timeout=5
        )
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Pagero sandbox stopped." in stdout
    assert "GET /oauth/v2/oauth-authorize 400" in stderr
    assert "leaky-query" not in stderr
    assert "Traceback" not in stderr


def test_python_m_sandbox_exits_2_naming_a_bad_setting(sandbox_free_environ):
    env = {**sandbox_free_environ, "SANDBOX_PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "sandbox"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "SANDBOX_PORT" in result.stderr


#: Calls held at once by ``SANDBOX_API_DELAY_MS`` in the test below.
WAITING_CALLS = 1000


@contextmanager
def _python_m_sandbox(
    environ: dict[str, str], stderr: int = subprocess.DEVNULL, **settings: str
) -> Iterator[tuple[int, subprocess.Popen, str]]:
    """``python -m sandbox`` on a free port; yields (port, process, its banner) once it
    serves, and stops it unless the test did. Its log goes nowhere unless ``stderr`` says
    (a pipe nobody reads would fill up and stall a sandbox logging a thousand calls)."""
    port = free_port()
    env = {**environ, "SANDBOX_PORT": str(port), "PYTHONUNBUFFERED": "1", **settings}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        banner = ""
        while "Ctrl-C" not in banner:
            line = process.stdout.readline()
            assert line, f"python -m sandbox exited: {process.stderr and process.stderr.read()}"
            banner += line
        yield port, process, banner
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE).group(1))


async def _call_at_once(port: int, token: str, pid: int, calls: int) -> tuple[list[int], int]:
    """``calls`` API calls on as many connections at once: their statuses, and the most
    threads the sandbox ran meanwhile."""
    path = "/api/document/v1/documents?limit=1"

    async def call() -> int:
        return (await fetch(port, path, {"Authorization": f"Bearer {token}"})).status

    most_threads = 0

    async def watch_threads() -> None:
        nonlocal most_threads
        while True:
            most_threads = max(most_threads, _threads(pid))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_threads())
    try:
        statuses = await asyncio.wait_for(asyncio.gather(*(call() for _ in range(calls))), 120)
    finally:
        watcher.cancel()
    return statuses, most_threads


def test_python_m_sandbox_keeps_a_thousand_delayed_calls_waiting_without_a_thread_each(
    sandbox_free_environ,
):
    with _python_m_sandbox(sandbox_free_environ, SANDBOX_API_DELAY_MS="1000") as (port, proc, _):
        pid = proc.pid
        base = f"http://127.0.0.1:{port}"
        token = _exchange(base, _login_over_http(base, requests.Session())["code"])
        started = time.monotonic()
        statuses, most_threads = run(
            lambda: _call_at_once(port, token["access_token"], pid, WAITING_CALLS)
        )
        elapsed = time.monotonic() - started
    assert statuses == [200] * WAITING_CALLS
    assert elapsed >= 1.0  # the delay was applied...
    assert elapsed < 60  # ...to all of them at once: one after another is 1000 s
    assert most_threads < 50  # a waiting call is a greenlet, not a thread
