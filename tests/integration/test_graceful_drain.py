"""SIGTERM to gunicorn's master: new connections are refused at once, calls in flight finish.

A load balancer that finds the port closed moves on to another instance; one whose
connection is accepted by the kernel but never answered waits out its own timeout.
"""

from __future__ import annotations

import signal
import socket
import threading
import time

from tests.browser import Browser
from tests.servers import app_against_sandbox

DOCS = "/api-proxy/document/v1/documents"


def _new_connection(port: int) -> tuple[str, float]:
    """What a new client gets: ``refused``, ``answered`` or ``hung``, and how fast."""
    started = time.monotonic()
    with socket.socket() as sock:
        sock.settimeout(1.5)
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = sock.recv(64)
        except ConnectionRefusedError:
            return "refused", time.monotonic() - started
        except ConnectionResetError:
            return "reset", time.monotonic() - started
        except TimeoutError:
            return "hung", time.monotonic() - started
    return ("answered" if answer.startswith(b"HTTP/1.1 ") else "closed"), time.monotonic() - started


def test_sigterm_refuses_new_connections_at_once_and_finishes_calls_in_flight(
    ports, sandbox, tmp_path
):
    port = ports["gunicorn"]
    with app_against_sandbox(ports, tmp_path, workers=2) as proc:
        browser = Browser(f"http://localhost:{port}")
        browser.login()
        sandbox.faults.add("api_slow")  # the API answers after SANDBOX_SLOW_SECONDS (3)
        in_flight: list = []
        call = threading.Thread(target=lambda: in_flight.append(browser.get(DOCS)))
        call.start()
        time.sleep(0.5)  # the call is waiting on the API
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        time.sleep(0.25)  # the master passes the signal on to its workers
        seen = []
        while time.monotonic() - sent < 1.5:  # a worker's heartbeat wakes once a second
            seen.append(_new_connection(port))
            time.sleep(0.1)
        call.join(timeout=10)
        assert {outcome for outcome, _took in seen} == {"refused"}, seen
        assert max(took for _outcome, took in seen) < 0.1
        assert in_flight and in_flight[0].status_code == 200  # drained, not cut off
        assert proc.wait(timeout=10) == 0
        # Within GUNICORN_GRACEFUL_TIMEOUT (20 s): the slow call (3 s), then the idle
        # keep-alive connection it leaves is closed after GUNICORN_KEEPALIVE (5 s).
        assert time.monotonic() - sent < 15
