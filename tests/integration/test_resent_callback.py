"""A callback a proxy resends after its first attempt died finishes the same login, for
the same browser only (pagero_oauth/logins.py, "Resent callbacks")."""

from __future__ import annotations

import os
import re
import signal
import socket
import time

from tests.browser import Browser
from tests.servers import app_against_sandbox

COOKIE = "pagero_session"


def _error_code(response) -> str:
    marker = 'data-error-code="'
    start = response.text.index(marker) + len(marker)
    return response.text[start : response.text.index('"', start)]


def _callback_url(browser: Browser) -> str:
    """Log in at the sandbox; the callback URL it sends the browser to, not yet followed."""
    page = browser.get(browser.open_login().headers["Location"])
    return browser.submit_login(page, "demo", "demo").headers["Location"]


def _resend(app_url: str, url: str, session_cookie: str | None):
    """The callback as a proxy resends it: same URL, same Cookie header."""
    other = Browser(app_url)
    headers = {"Cookie": f"{COOKIE}={session_cookie}"} if session_cookie else {}
    return other, other.get(url, headers=headers)


def test_a_resent_callback_whose_first_attempt_finished_gets_that_session(
    browser, new_browser, sandbox, sandbox_recorder, app_url
):
    callback = _callback_url(browser)
    before_login = browser.http.cookies[COOKIE]
    first = browser.get(callback)  # its answer is lost on the way back (instance died)
    assert first.status_code == 303
    created = browser.http.cookies[COOKIE]

    resent_by, resent = _resend(app_url, callback, before_login)
    assert resent.status_code == 303 and resent.headers["Location"] == "/profile"
    assert resent_by.http.cookies[COOKIE] == created  # the session the login created
    assert resent_by.get("/profile").status_code == 200
    assert len(sandbox_recorder.to("/oauth/v2/oauth-token")) == 1  # the code went once

    stranger = new_browser()
    stranger.open_login()  # a session of its own, with a login of its own
    replayed = stranger.get(callback)
    assert replayed.status_code == 400 and _error_code(replayed) == "unknown_state"
    _, without_cookie = _resend(app_url, callback, None)
    assert without_cookie.status_code == 400
    assert _error_code(without_cookie) == "session_not_found"

    back = browser.get(callback)  # the Back button of the browser that is logged in
    assert back.status_code == 400 and _error_code(back) == "state_already_used"


def _blackhole() -> socket.socket:
    """A token endpoint that takes the connection and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def test_a_callback_resent_after_its_worker_was_killed_mid_exchange_finishes_the_login(
    make_app, ports, sandbox, tmp_path, new_browser
):
    """Two instances on one session store; the first one's worker dies (SIGKILL) while
    its token request hangs, before Pagero ever saw the code; nginx resends to the other."""
    instance = str(tmp_path / "instance")
    make_app(INSTANCE_PATH=instance)  # the other instance, on the redirect URI's port
    app_url = f"http://localhost:{ports['app']}"
    browser = Browser(app_url)
    callback = _callback_url(browser)
    before_login = browser.http.cookies[COOKIE]
    hole = _blackhole()
    with (
        hole,
        app_against_sandbox(
            ports,
            tmp_path,
            PAGERO_REDIRECT_URI=f"{app_url}/callback",
            PAGERO_DISCOVERY="false",
            PAGERO_TOKEN_URL=f"http://127.0.0.1:{hole.getsockname()[1]}/oauth/v2/oauth-token",
            INSTANCE_PATH=instance,
        ),
    ):
        first_url = callback.replace(app_url, f"http://localhost:{ports['gunicorn']}")
        attempt = socket.create_connection(("127.0.0.1", ports["gunicorn"]), timeout=10)
        path = first_url.split(str(ports["gunicorn"]), 1)[1]
        request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {COOKIE}={before_login}\r\n"
        attempt.sendall(f"{request}\r\n".encode())
        hole.settimeout(10)
        held, _ = hole.accept()  # the first attempt took the state and sent the code here
        log = (tmp_path / "gunicorn.log").read_text()
        (worker,) = re.findall(r"Booting worker with pid: (\d+)", log)
        os.kill(int(worker), signal.SIGKILL)
        attempt.settimeout(5)
        assert attempt.recv(100) == b""  # the first attempt died without an answer
        attempt.close()
        held.close()

        started = time.monotonic()
        resent_by, resent = _resend(app_url, callback, before_login)
        assert resent.status_code == 303, resent.text
        assert resent.headers["Location"] == "/profile"
        assert time.monotonic() - started < 3  # the dead worker's file lock is gone at once
        assert resent_by.get("/profile").status_code == 200
        assert sandbox.counts["authorization_code"] == 1

        stranger = new_browser()
        stranger.open_login()
        replayed = stranger.get(callback)
        assert replayed.status_code == 400 and _error_code(replayed) == "unknown_state"
