"""The shared pool against a server that closes idle kept-alive connections.

Pagero's side (like Node, after 5 s by default) closes a connection nobody used for a
while. A call that goes out on such a connection just as it closes never reached the
server, and goes again on a new connection (pagero_oauth/http.py): the user sees a 200,
never a 502. Here a real server in front of the sandbox closes connections idle for
``IDLE`` seconds (tests/idle_closing_server.py).
"""

from __future__ import annotations

import http.client
import ssl
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from pagero_oauth.http import FreshResendPool, closed_before_answer
from sandbox.token_endpoint import TOKEN_PATH
from tests.idle_closing_server import IdleClosingServer

DOCS = "/api-proxy/document/v1/documents"
#: The server's keep-alive time: short, so the tests wait little.
IDLE = 1.0
USERS = [f"user{n:03d}" for n in range(1, 11)]
ROUNDS = 4


#: How the server closes an idle connection (tests/idle_closing_server.py).
BOTH_WAYS = pytest.mark.parametrize(
    "idle_closing", ["timer", "arrival"], indirect=True, ids=["by its timer", "as calls arrive"]
)


@pytest.fixture
def idle_closing(request, sso_app):
    server = IdleClosingServer(sso_app, IDLE, when=request.param)
    yield server
    server.close()


@pytest.fixture
def through_idle_closing(make_app, idle_closing):
    """An app whose token requests and API calls go to the idle-closing server."""
    return make_app(
        PAGERO_DISCOVERY="false",
        PAGERO_TOKEN_URL=idle_closing.url + TOKEN_PATH,
        PAGERO_API_BASE_URL=idle_closing.url + "/api",
    )


@BOTH_WAYS
def test_calls_after_the_server_closed_idle_connections_all_succeed(
    through_idle_closing, new_browser, sandbox, idle_closing
):
    browsers = [new_browser() for _ in USERS]
    for browser, user in zip(browsers, USERS, strict=True):
        browser.login(user, user)  # here: the run-wide log check reads other threads' logs
    with ThreadPoolExecutor(len(browsers)) as pool:
        for round_ in range(ROUNDS):
            warm = list(pool.map(lambda b: b.get(DOCS).status_code, browsers))
            assert warm == [200] * len(browsers)  # the pool holds several connections now
            time.sleep(IDLE + 0.3)  # ... which the server has closed, or is about to
            refreshing = round_ % 2 == 1
            if refreshing:  # every access token expires at Pagero: each call refreshes first
                sandbox.advance_clock(601)
            refreshes = sandbox.counts["refresh_token"]
            answers = list(pool.map(lambda b: b.get(DOCS), browsers))
            assert [(a.status_code, a.text[:120]) for a in answers if a.status_code != 200] == []
            if refreshing:
                assert sandbox.counts["refresh_token"] == refreshes + len(browsers)
    if idle_closing.when == "arrival":
        assert idle_closing.closed_on_arrival >= len(browsers)  # the race really happened


@pytest.mark.parametrize("idle_closing", ["arrival"], indirect=True)
def test_a_proxied_post_on_a_closed_kept_alive_connection_is_not_sent_again(
    through_idle_closing, new_browser, sandbox, idle_closing
):
    """RFC 9110 section 9.2.2: the client cannot know the POST was not read, so a proxy
    must not send it twice by itself; the page gets a 502 and decides."""
    browser = new_browser()
    browser.login()
    assert browser.get(DOCS).status_code == 200
    time.sleep(IDLE + 0.3)
    lost = browser.post(DOCS, data=b"<Invoice/>", headers={"X-CSRF": "1"})
    assert lost.status_code == 502
    assert lost.json()["type"] == "urn:pagero-client:error:api_unavailable"
    assert sandbox.uploads == {}


@pytest.mark.parametrize("idle_closing", ["timer"], indirect=True)
def test_a_connection_the_server_closed_while_pooled_is_not_reused(idle_closing):
    """The pool's check before reuse (pagero_oauth/http.py CheckedIdleConnection) sees
    a close that has arrived: the next call, even one never sent twice, goes out on a
    new connection and succeeds."""
    pool = FreshResendPool("127.0.0.1", idle_closing.port, maxsize=1)
    first = pool.urlopen("POST", TOKEN_PATH, body=b"grant_type=x", retries=False)
    assert first.status in (400, 401)  # the sandbox's refusal: an answer all the same
    time.sleep(IDLE + 0.3)  # the server has closed the kept-alive connection by now
    second = pool.urlopen("POST", TOKEN_PATH, body=b"grant_type=x", retries=False)
    assert second.status == first.status
    assert idle_closing.connections == 2


def test_the_check_before_reuse_does_not_yield_to_other_greenlets():
    """Under gevent's patching the check asks the OS, not gevent's ``poll``: it
    neither yields to the event loop nor sends the call to the back of its queue."""
    script = textwrap.dedent(
        """
        from gevent import monkey; monkey.patch_all()
        import socket, gevent
        from pagero_oauth.http import CheckedIdleConnection
        server = socket.create_server(("127.0.0.1", 0))
        conn = CheckedIdleConnection("127.0.0.1", server.getsockname()[1])
        conn.connect()
        ran = []
        gevent.spawn(ran.append, "other greenlet")
        assert conn.is_connected
        assert ran == [], "the check yielded to the event loop"
        peer, _ = server.accept(); peer.close()
        gevent.sleep(0.1)
        assert not conn.is_connected, "a closed connection looked alive"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize(
    "error",
    [
        http.client.RemoteDisconnected("Remote end closed connection without response"),
        ProtocolError("Connection aborted.", http.client.RemoteDisconnected("closed")),
        ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset")),
        ProtocolError("Connection aborted.", BrokenPipeError(32, "Broken pipe")),
        ConnectionResetError(104, "Connection reset by peer"),
        urllib3.exceptions.SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")),
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
    ],
    ids=repr,
)
def test_every_shape_of_a_connection_closed_before_the_answer_is_recognised(error):
    assert closed_before_answer(error)


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(None, "/", "Read timed out."),
        NewConnectionError(None, "Connection refused"),
        ProtocolError("Connection broken: IncompleteRead(3 bytes read)", None),
        urllib3.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
    ],
    ids=repr,
)
def test_a_slow_refusing_or_half_answering_server_is_not_a_closed_connection(error):
    assert not closed_before_answer(error)
