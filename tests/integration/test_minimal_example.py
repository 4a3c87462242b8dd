"""examples/minimal.py against the sandbox: the pattern in one file logs in, calls the API,
and refuses what the full app refuses at the callback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from tests.browser import Browser, query_of
from tests.proxy_helpers import raw_request
from tests.servers import ROOT, free_port

EXAMPLE = ROOT / "examples" / "minimal.py"
DOCS = "/api-proxy/document/v1/documents"


def example_environ(ports, tmp_path) -> dict[str, str]:
    sso = f"http://localhost:{ports['sandbox']}"
    return {
        "PAGERO_CLIENT_ID": "pagero-demo-client",
        "PAGERO_CLIENT_SECRET": "pagero-demo-secret",
        "PAGERO_AUTHORIZE_URL": f"{sso}/oauth/v2/oauth-authorize",
        "PAGERO_TOKEN_URL": f"{sso}/oauth/v2/oauth-token",
        "PAGERO_ISSUER": f"{sso}/oauth/v2/oauth-anonymous",
        "PAGERO_API_BASE_URL": f"{sso}/api",
        "PAGERO_REDIRECT_URI": f"http://localhost:{ports['app']}/callback",
        "SECRET_KEY": "minimal-example-test-key-0123456789abcdef",
        "SESSION_FILE_DIR": str(tmp_path / "sessions"),
    }


@pytest.fixture
def browser(app_server, sandbox, ports, tmp_path, monkeypatch) -> Browser:
    """A browser against examples/minimal.py, served on the app port the sandbox knows."""
    for name, value in example_environ(ports, tmp_path).items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("minimal_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app_server.app.target = module.app
    return Browser(f"http://localhost:{ports['app']}")


def _callback_url(browser: Browser) -> str:
    """Log in at the sandbox and return the callback URL it sends the browser to."""
    to_sandbox = browser.get("/login")
    assert to_sandbox.status_code == 302
    sent = query_of(to_sandbox.headers["Location"])
    assert sent["code_challenge_method"] == ["S256"] and sent["response_type"] == ["code"]
    page = browser.get(to_sandbox.headers["Location"])
    return browser.submit_login(page, "demo", "demo").headers["Location"]


def _with(url: str, **changes: str | None) -> str:
    params = {k: v[0] for k, v in query_of(url).items()}
    params.update(changes)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return url.split("?")[0] + "?" + query


def test_minimal_example_logs_in_and_calls_the_api_with_the_stored_token(browser, sandbox):
    assert browser.get(DOCS).status_code == 401  # not logged in yet
    done = browser.get(_callback_url(browser))
    assert done.status_code == 302 and done.headers["Location"] == "/"
    answer = browser.get(DOCS, headers={"Accept": "application/json"})
    assert answer.status_code == 200 and "items" in answer.json()
    assert answer.headers["Content-Security-Policy"].startswith("sandbox")
    cookies = " ".join(c.value for c in browser.http.cookies)
    assert not [s for s in sandbox.issued_secrets() if s in cookies]  # only a session id


def test_minimal_example_refuses_a_replayed_callback(browser, sandbox):
    url = _callback_url(browser)
    assert browser.get(url).status_code == 302
    again = browser.get(url)
    assert again.status_code == 400
    assert again.json()["type"].endswith(":unknown_state")


@pytest.mark.parametrize("iss", ["https://attacker.example/oauth", None])
def test_minimal_example_checks_iss_before_the_exchange(browser, sandbox, iss):
    url = _callback_url(browser)
    answer = browser.get(_with(url, iss=iss))
    assert answer.status_code == 400
    assert answer.json()["type"].endswith(":issuer_mismatch")
    assert sandbox.counts["authorization_code"] == 0  # the code never reached the token endpoint
    assert browser.get(url).status_code == 400  # and the state is used up


def test_minimal_example_refuses_an_unknown_state(browser, sandbox):
    url = _callback_url(browser)
    answer = browser.get(_with(url, state="forged"))
    assert answer.status_code == 400
    assert answer.json()["type"].endswith(":unknown_state")
    other = Browser(browser.app_url)  # another browser cannot use this login's answer
    assert other.get(url).status_code == 400


def test_minimal_example_refuses_a_path_that_leaves_the_api(browser, sandbox):
    browser.get(_callback_url(browser))
    assert browser.get(DOCS).status_code == 200
    for path in ("/api-proxy/a/../../oauth", "/api-proxy/a//b", "/api-proxy/%2e%2e/x"):
        status, _payload = raw_request(browser, "GET", path)  # sent byte for byte
        assert status == 400, path


def test_minimal_example_runs_with_flask_run(ports, tmp_path):
    port = free_port()
    env = {**example_environ(ports, tmp_path), "PATH": str(ROOT / ".venv" / "bin")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", str(EXAMPLE), "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/login", timeout=2, allow_redirects=False
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert answer.status_code == 302
        assert urlsplit(answer.headers["Location"]).path == "/oauth/v2/oauth-authorize"
    finally:
        proc.terminate()
        proc.wait(10)
