"""Browser tests: headless Chromium (Debian's ``chromium``, driven by Playwright) against
the app under the Dockerfile's own command, ``gunicorn -c config/gunicorn.py wsgi:app``, and
a Pagero sandbox in this process, all on loopback.

One browser, one app and one sandbox serve the whole session; each test gets fresh
browser contexts (cookie jars). After each test, everything its browsers saw is checked
against every secret the sandbox ever issued (:mod:`tests.e2e.invariants`).

Screenshots and network logs (HAR) go to ``test-artifacts/``. With
``UPDATE_DOCS_SCREENSHOTS=1`` the steps marked for the README are also copied to
``docs/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, sync_playwright

from sandbox import create_sandbox
from sandbox.settings import DEFAULTS
from sandbox.state import EXTENSION_KEY
from tests.e2e.journey import Journey
from tests.servers import LiveServer, dockerfile_command, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
GUNICORN = Path(sys.executable).parent / "gunicorn"

#: Headless, and nothing that phones home: without the last three Chromium tries to reach
#: Google's update and sync services, which fail (and would break the origin check).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str:
    """Debian's chromium (``/usr/bin/chromium``), or ``$CHROMIUM``. Missing is a failure,
    not a skip: CI must never pass without the browser tests."""
    found = shutil.which(os.environ.get("CHROMIUM") or "chromium")
    if not found:
        pytest.fail(
            "Chromium was not found, so the browser tests cannot run. Install it with "
            "`sudo bash scripts/setup.sh --dev` (runs apt-get install -y chromium) or set "
            "CHROMIUM=/path/to/chromium.",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def e2e_ports() -> dict[str, int]:
    return {"app": free_port(), "sandbox": free_port()}


@pytest.fixture(scope="session")
def e2e_sandbox(e2e_ports) -> Iterator[Flask]:
    """A sandbox of its own, so the app under gunicorn has a registered redirect URI."""
    app_base = f"http://localhost:{e2e_ports['app']}"
    sandbox = create_sandbox(
        {
            **DEFAULTS,  # every setting given, so a developer's SANDBOX_* cannot leak in
            "SANDBOX_ISSUER": None,
            "SANDBOX_PORT": str(e2e_ports["sandbox"]),
            "SANDBOX_BASE_URL": f"http://localhost:{e2e_ports['sandbox']}",
            "SANDBOX_REDIRECT_URIS": f"{app_base}/callback",
            "SANDBOX_POST_LOGOUT_REDIRECT_URIS": f"{app_base}/ {app_base}/logged-out",
        }
    )
    server = LiveServer(sandbox, e2e_ports["sandbox"]).start()
    yield sandbox
    server.stop()


@pytest.fixture(scope="session")
def e2e_app(e2e_ports, e2e_sandbox, tmp_path_factory) -> Iterator[str]:
    """The app under the Dockerfile's command (two workers), talking to the sandbox."""
    command = dockerfile_command()
    assert command[0] == "gunicorn", command
    port = e2e_ports["app"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    env.update(
        PAGERO_ENV="sandbox",
        APP_PORT=str(port),
        SANDBOX_PORT=str(e2e_ports["sandbox"]),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        INSTANCE_PATH=str(tmp_path_factory.mktemp("e2e") / "instance"),
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "e2e-gunicorn.log"
    url = f"http://localhost:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(GUNICORN), *command[1:]], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            _wait_until_serving(url, proc, log_path)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_serving(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/", timeout=2)
            return
        except requests.RequestException:  # not listening yet, or a worker still booting
            if proc.poll() is not None:
                pytest.fail("gunicorn exited: " + log_path.read_text())
            time.sleep(0.1)
    pytest.fail("gunicorn did not start: " + log_path.read_text())


@pytest.fixture(scope="session")
def new_journey(chromium, e2e_app, e2e_sandbox) -> Callable[[str], Journey]:
    """Journeys whose artifacts start afresh each session, so no stale picture survives."""
    for folder in ("screenshots", "har"):
        shutil.rmtree(ARTIFACTS / folder, ignore_errors=True)
    sandbox_url = e2e_sandbox.extensions[EXTENSION_KEY].settings.base_url
    docs = DOCS_SCREENSHOTS if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" else None
    return lambda name: Journey(chromium, e2e_app, sandbox_url, name, ARTIFACTS, docs)


@pytest.fixture
def issued_secrets(e2e_sandbox) -> Callable[[], list[str]]:
    """Every code, token and id_token the sandbox issued so far, and the client secret."""
    return e2e_sandbox.extensions[EXTENSION_KEY].issued_secrets


@pytest.fixture
def journey(request, new_journey, issued_secrets) -> Iterator[Journey]:
    """Fresh browsers for one test; when it has passed, the invariants over all they saw."""
    trip = new_journey(request.node.name)
    yield trip
    report = getattr(request.node, "rep_call", None)
    passed = report is not None and report.passed
    trip.close(failed=not passed)
    if passed:
        assert trip.problems(issued_secrets()) == {}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so ``journey`` knows whether it failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
