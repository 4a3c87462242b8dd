"""Every fault the sandbox can inject, one table: the documented status and error code
(docs/security.md, "Errors a user can act on"), within the configured timeouts, and recovery by
itself once the fault ends: the same session goes on where the fault left it alive.

What each fault's page says is tested beside the feature (test_callback_errors.py,
test_oidc_id_token.py, test_api_proxy.py, test_token_refresh.py); this table adds the
clock and the recovery. A Redis that stops answering, and a connection Pagero closes
just as a request goes out on it, follow the table.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from dataclasses import dataclass

import pytest

from sandbox.faults import ID_TOKEN_FAULTS
from tests.browser import Browser
from tests.factories import REFRESH_EVERY_CALL

DOCS = "/api-proxy/document/v1/documents"
#: The app's timeouts in this file (seconds); the sandbox's slow faults take 3 s.
READ_TIMEOUT = CONNECT_TIMEOUT = 1.0
#: What a shared, busy CI machine may add to any answer.
SLACK = 1.5


@dataclass(frozen=True)
class Fault:
    name: str
    #: Where it strikes: "callback" (Step 3), "refresh" (the token's renewal before an
    #: API call) or "api" (the proxied call itself).
    stage: str
    status: int
    #: The app's error code; None when the API's own answer is passed through.
    code: str | None
    #: Waits out PAGERO_HTTP_READ_TIMEOUT before answering.
    slow: bool = False
    #: The fault ends the login: recovery is a new login in the same browser.
    ends_login: bool = False


FAULTS = [
    Fault("wrong_iss", "callback", 400, "issuer_mismatch"),
    Fault("missing_iss", "callback", 400, "missing_issuer"),
    Fault("token_slow", "callback", 504, "token_endpoint_timeout", slow=True),
    Fault("token_500", "callback", 502, "token_endpoint_unavailable"),
    Fault("token_malformed", "callback", 502, "malformed_token_response"),
    *(Fault(name, "callback", 400, "invalid_id_token") for name in ID_TOKEN_FAULTS),
    Fault("token_500", "refresh", 502, "token_endpoint_unavailable"),
    Fault("token_malformed", "refresh", 502, "malformed_token_response"),
    # Pagero renews the pair after the app stopped waiting; the answer is lost, so the
    # refresh token the app holds is spent: the next call ends the login (see below).
    Fault("token_slow", "refresh", 504, "token_endpoint_timeout", slow=True, ends_login=True),
    Fault("refresh_invalid_grant", "refresh", 401, "login_expired", ends_login=True),
    Fault("id_token_wrong_aud", "refresh", 401, "login_expired", ends_login=True),
    Fault("api_401", "api", 401, None),
    Fault("api_503", "api", 503, None),
    Fault("api_slow", "api", 504, "api_timeout", slow=True),
]


def _error_code(response) -> str | None:
    if response.headers.get("Content-Type", "").startswith("application/problem+json"):
        return response.json()["type"].rpartition(":")[2]
    found = re.search(r'data-error-code="([^"]+)"', response.text)
    return found.group(1) if found else None


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _callback_redirect(browser: Browser):
    """Log in at the sandbox; return its redirect back to the app, not yet followed."""
    page = browser.get(browser.open_login(scope="all openid").headers["Location"])
    if page.status_code == 200:
        return browser.submit_login(page, "demo", "demo")
    return page


def _wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the sandbox's slow request never finished"
        time.sleep(0.05)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f"{f.stage}-{f.name}")
def test_fault_ends_in_its_documented_answer_in_time_and_the_app_recovers(
    make_app, new_browser, sandbox, fault
):
    settings = {
        "PAGERO_HTTP_READ_TIMEOUT": str(READ_TIMEOUT),
        "PAGERO_HTTP_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
    }
    if fault.stage == "refresh":
        settings.update(REFRESH_EVERY_CALL)  # every API call renews first
    make_app(**settings)
    browser = new_browser()

    if fault.stage == "callback":
        sandbox.faults.add(fault.name)
        back = _callback_redirect(browser)
        response, elapsed = _timed(lambda: browser.get(back.headers["Location"]))
    else:
        assert browser.login(scope="all openid").status_code == 303
        assert browser.get(DOCS).status_code == 200
        refreshes = sandbox.counts["refresh_token"]
        sandbox.faults.add(fault.name)
        response, elapsed = _timed(lambda: browser.get(DOCS))

    assert response.status_code == fault.status, response.text[:300]
    assert _error_code(response) == fault.code
    assert "Traceback" not in response.text
    if fault.slow:
        assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + SLACK, elapsed
    else:
        assert elapsed < SLACK, elapsed

    if fault.name == "token_slow" and fault.stage == "refresh":
        _wait_for(lambda: sandbox.counts["refresh_token"] > refreshes)
    sandbox.faults.clear()
    if fault.ends_login:
        assert browser.get(DOCS).status_code == 401  # a clear "log in again", not a 5xx
    if fault.stage == "callback" or fault.ends_login:
        assert browser.login(scope="all openid").headers["Location"] == "/profile"
    answer = browser.get(DOCS)
    assert answer.status_code == 200
    assert browser.get("/session").json()["user"]["preferred_username"] == "demo"


def test_fault_table_covers_every_sandbox_fault_of_the_flow():
    named = {f.name for f in FAULTS}
    flow_faults = {"wrong_iss", "missing_iss", "token_slow", "token_500", "token_malformed"}
    flow_faults |= {"refresh_invalid_grant", "api_401", "api_503", "api_slow"}
    assert flow_faults | set(ID_TOKEN_FAULTS) <= named


# -- the session store --------------------------------------------------------------------


def test_frozen_redis_is_a_503_within_its_socket_timeout_and_sessions_survive(
    make_app, new_browser, sandbox, redis_server, redis_url
):
    """A Redis that stops answering (SIGSTOP: connections open, nothing comes back) is
    the hard case: unlike a stopped one it refuses nothing, so only timeouts help."""
    make_app(SESSION_BACKEND="redis", REDIS_URL=redis_url)
    browsers = [new_browser() for _ in range(3)]
    for browser, user in zip(browsers, ("demo", "alice", "bob"), strict=True):
        browser.login(user, user, scope="all openid")
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        for browser, path in zip(browsers, ("/profile", DOCS, "/session"), strict=True):
            response, elapsed = _timed(lambda b=browser, p=path: b.get(p))
            assert response.status_code == 503, path
            assert _error_code(response) == "session_store_unavailable"
            assert elapsed < 2 + SLACK, (path, elapsed)  # redis socket timeout: 2 s
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    for browser, user in zip(browsers, ("demo", "alice", "bob"), strict=True):
        assert browser.get(DOCS).status_code == 200
        assert browser.get("/session").json()["user"]["preferred_username"] == user


# -- a kept-alive connection closed just as a request goes out ----------------------------


class ClosingUpstream:
    """A server that answers the first request on each connection (keep-alive), then
    closes that connection without answering as soon as the next request arrives: what a
    server does whose keep-alive timer fires just as the client sends on the connection."""

    def __init__(self, body: bytes):
        self.body = body
        self.connections = 0
        self.requests = 0  # read whole, answered or not
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            if not self._read_request(conn):
                return
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\nConnection: keep-alive\r\n\r\n"
            )
            conn.sendall(head.encode() + self.body)
            self._read_request(conn)  # the next request: closed unanswered

    def _read_request(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return False
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        missing = int(length.group(1)) - len(body) if length else 0
        while missing > 0:
            missing -= len(conn.recv(missing))
        self.requests += 1
        return True

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def closing_upstream(request):
    upstream = ClosingUpstream(request.param)
    yield upstream
    upstream.close()


@pytest.mark.parametrize(
    "closing_upstream", [b'{"items": [], "meta": {}}'], indirect=True, ids=["api"]
)
def test_api_call_on_a_connection_the_api_just_closed_is_sent_again(
    make_app, new_browser, sandbox, closing_upstream
):
    make_app(PAGERO_API_BASE_URL=f"http://127.0.0.1:{closing_upstream.port}/api")
    browser = new_browser()
    browser.login()
    assert browser.get(DOCS).status_code == 200
    assert browser.get(DOCS).status_code == 200  # not a 502: sent again on a new connection
    assert closing_upstream.connections == 2


@pytest.mark.parametrize("closing_upstream", [b'{"id": "d1"}'], indirect=True, ids=["api"])
def test_a_post_the_api_may_have_read_is_never_sent_twice_a_delete_is(
    make_app, new_browser, sandbox, closing_upstream
):
    """RFC 9110 section 9.2.2: a proxy must not retry a non-idempotent request itself."""
    make_app(PAGERO_API_BASE_URL=f"http://127.0.0.1:{closing_upstream.port}/api")
    browser = new_browser()
    browser.login()
    write = {"X-CSRF": "1", "Accept": "application/json"}
    assert browser.post(DOCS, json={"n": 1}, headers=write).status_code == 200
    lost = browser.post(DOCS, json={"n": 2}, headers=write)  # read, then the line went dead
    assert lost.status_code == 502
    assert lost.json()["type"] == "urn:pagero-client:error:api_unavailable"
    assert closing_upstream.requests == 2  # the second POST arrived once, never again
    assert browser._send("DELETE", DOCS + "/d1", headers=write).status_code == 200
    gone = browser._send("DELETE", DOCS + "/d1", headers=write)  # idempotent: sent again
    assert gone.status_code == 200
    assert closing_upstream.connections == 3


class BrokenOffUpstream(ClosingUpstream):
    """Announces a body, sends half of it and closes: a server that died mid-answer."""

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            if not self._read_request(conn):
                return
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n"
            )
            conn.sendall(head.encode() + self.body[: len(self.body) // 2])


def test_a_small_api_answer_cut_short_is_a_502_not_a_truncated_200(make_app, new_browser, sandbox):
    upstream = BrokenOffUpstream(b'{"items": [], "meta": {"total": 0}}')
    try:
        make_app(PAGERO_API_BASE_URL=f"http://127.0.0.1:{upstream.port}/api")
        browser = new_browser()
        browser.login()
        response = browser.get(DOCS, headers={"Accept": "application/json"})
        assert response.status_code == 502
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["type"] == "urn:pagero-client:error:api_unavailable"
        assert browser.get("/session").status_code == 200  # still logged in
    finally:
        upstream.close()


TOKEN_ANSWER = (
    b'{"access_token": "_0XBPWQQ_00000000-0000-4000-8000-00000000c105", "token_type": '
    b'"bearer", "expires_in": 600, "scope": "", "claims": "publicid"}'
)


@pytest.mark.parametrize("closing_upstream", [TOKEN_ANSWER], indirect=True, ids=["token"])
def test_token_request_on_a_connection_pagero_just_closed_is_sent_again(
    make_app, new_browser, sandbox, closing_upstream
):
    make_app(PAGERO_TOKEN_URL=f"http://127.0.0.1:{closing_upstream.port}/oauth/v2/oauth-token")
    for _ in range(2):  # the second exchange goes out on the first one's connection
        assert new_browser().login().headers["Location"] == "/profile"
    assert closing_upstream.connections == 2
