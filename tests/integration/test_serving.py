"""The serving model (config/gunicorn.py): a slow Pagero slows nobody else.

Each test runs the Dockerfile's command with ONE gevent worker, so everything shown here
happens inside a single process: calls waiting on a slow API, a refresh waiting on a slow
token endpoint, clients that trickle their headers. The speed figures themselves (p99s,
ratios against a direct call) are ``make bench``'s; these tests prove the behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from bench.slow_api import serve_in_thread as slow_api
from tests.browser import Browser
from tests.many_connections import cookie_header, fetch, run
from tests.servers import ROOT, app_against_sandbox

DOCS = "/api-proxy/document/v1/documents"
JSON = {"Accept": "application/json"}


@contextlib.contextmanager
def one_worker(ports, tmp_path, **env):
    """The app under gunicorn, one worker, against the test sandbox; yields (port, browser)."""
    port = ports["gunicorn"]
    with app_against_sandbox(ports, tmp_path, **{"PAGERO_FLOW_TRACE": "false", **env}):
        browser = Browser(f"http://localhost:{port}")
        browser.login()
        yield port, browser


def test_probes_and_pages_answer_while_hundreds_of_calls_wait_on_a_slow_api(
    ports, sandbox, tmp_path
):
    calls, delay_ms = 400, 2000
    with (
        slow_api(delay_ms) as api,
        one_worker(ports, tmp_path, PAGERO_API_BASE_URL=api) as (port, browser),
    ):
        cookie = {**cookie_header(browser), **JSON}

        async def scenario():
            waiting = [asyncio.create_task(fetch(port, DOCS, cookie)) for _ in range(calls)]
            await asyncio.sleep(0.5)  # every call is now parked on the API
            probes = []
            for path, headers in [("/healthz", {}), ("/readyz", {}), ("/session", cookie)] * 3:
                probes.append(await fetch(port, path, headers))
            home = await fetch(port, "/", {**cookie, "Accept": "text/html"})
            return await asyncio.gather(*waiting), [*probes, home]

        proxied, quick = run(scenario)

    # With a pool of threads, each probe would queue behind the waiting calls
    # (400 calls x 2 s / 16 threads: 50 seconds).
    assert [a.status for a in quick] == [200] * len(quick)
    assert max(a.seconds for a in quick) < 1.0, [round(a.seconds, 2) for a in quick]
    assert [a.status for a in proxied] == [200] * calls
    # All waited together: one API delay, not calls x delay / threads.
    assert max(a.seconds for a in proxied) < delay_ms / 1000 + 3


def test_calls_beyond_the_in_flight_cap_get_a_fast_503_with_retry_after(ports, sandbox, tmp_path):
    cap, calls, delay_ms = 5, 12, 2000
    with (
        slow_api(delay_ms) as api,
        one_worker(ports, tmp_path, PAGERO_API_BASE_URL=api, PAGERO_MAX_IN_FLIGHT=str(cap)) as (
            port,
            browser,
        ),
    ):
        cookie = {**cookie_header(browser), **JSON}

        async def scenario():
            return await asyncio.gather(*(fetch(port, DOCS, cookie) for _ in range(calls)))

        answers = run(scenario)
        # Once they are answered, the places are free again.
        after = run(scenario)

    for answered in (answers, after):
        served = [a for a in answered if a.status == 200]
        refused = [a for a in answered if a.status == 503]
        assert len(served) == cap and len(refused) == calls - cap, [a.status for a in answered]
        for answer in refused:
            assert answer.headers["retry-after"] == "1"
            assert answer.headers["content-type"] == "application/problem+json"
            assert b"urn:pagero-client:error:too_many_waiting" in answer.body
            assert answer.seconds < delay_ms / 1000  # not queued behind the waiting calls


def test_clients_that_trickle_their_headers_stop_nobody_and_are_cut_off(ports, sandbox, tmp_path):
    keepalive = 2
    with one_worker(ports, tmp_path, GUNICORN_KEEPALIVE=str(keepalive)) as (port, _browser):
        slow = []
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        stop = threading.Event()

        def trickle():  # one more header byte on every socket, every 0.5 s
            while not stop.wait(0.5):
                for sock in slow:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X")

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:

            async def others():
                return [await fetch(port, "/healthz") for _ in range(20)]

            answers = run(others)
            assert [a.status for a in answers] == [200] * 20
            assert max(a.seconds for a in answers) < 1.0
            # Every trickling client is cut off once its headers took `keepalive` seconds.
            deadline = time.monotonic() + keepalive + 5
            open_ = list(slow)
            while open_ and time.monotonic() < deadline:
                open_ = [s for s in open_ if not _closed_by_server(s)]
                time.sleep(0.2)
            assert open_ == [], f"{len(open_)} of 200 slow clients still connected"
        finally:
            stop.set()
            thread.join()
            for sock in slow:
                sock.close()


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset


def test_a_request_body_that_never_arrives_is_cut_off(ports, sandbox, tmp_path):
    with one_worker(ports, tmp_path, GUNICORN_CLIENT_TIMEOUT="2") as (port, browser):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(15)
        head = [
            f"POST {DOCS} HTTP/1.1",
            f"Host: localhost:{port}",
            f"Cookie: {cookie_header(browser)['Cookie']}",
            "X-CSRF: 1",
            "Accept: application/json",
            "Content-Type: application/xml",
            "Content-Length: 100",
        ]
        started = time.monotonic()
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"<Invoice")  # 8 of 100 bytes
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
        sock.close()
    assert time.monotonic() - started < 10
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"urn:pagero-client:error:request_body_timeout" in answer


@pytest.mark.parametrize("backend", ["filesystem", "redis"])
def test_a_refresh_waiting_on_a_slow_token_endpoint_delays_no_other_session(
    request, backend, ports, sandbox, tmp_path
):
    env = {}
    if backend == "redis":
        env = {"SESSION_BACKEND": "redis", "REDIS_URL": request.getfixturevalue("redis_url")}
    with one_worker(ports, tmp_path, **env) as (port, first):
        sandbox.advance_clock(601)  # the first session's access token is now expired
        second = Browser(f"http://localhost:{port}")
        second.login("alice", "alice")  # fresh tokens, valid on the new clock
        sandbox.faults.add("token_slow")  # every token request now waits 3 s
        first_cookie = {**cookie_header(first), **JSON}
        second_cookie = {**cookie_header(second), **JSON}

        async def scenario():
            # Two calls of the first session: one refreshes, one waits for its lock.
            refreshing = [asyncio.create_task(fetch(port, DOCS, first_cookie)) for _ in range(2)]
            await asyncio.sleep(0.3)
            others = [await fetch(port, DOCS, second_cookie) for _ in range(5)]
            others.append(await fetch(port, "/healthz"))
            return await asyncio.gather(*refreshing), others

        refreshed, others = run(scenario)

    assert [a.status for a in others] == [200] * 6
    assert max(a.seconds for a in others) < 1.5, [round(a.seconds, 2) for a in others]
    assert [a.status for a in refreshed] == [200, 200]
    assert min(a.seconds for a in refreshed) >= 2.5  # they did wait for the slow refresh
    assert sandbox.counts["refresh_token"] == 1


def test_a_worker_takes_new_connections_in_batches_not_one_per_turn_of_its_loop():
    """gunicorn lets each of several gevent workers take ONE new connection per turn of
    its event loop; a worker busy with hundreds of calls turns it a few times a second,
    and a burst of new connections (health probes included) then waits seconds in the
    kernel's queue (``make bench-slow``). config/gunicorn.py raises it to
    ``GUNICORN_ACCEPT_BATCH`` once the worker's server runs."""
    script = textwrap.dedent(
        """
        from gevent import monkey; monkey.patch_all()
        import types, gevent
        from gevent.server import StreamServer
        import config.gunicorn as conf
        said = []
        log = types.SimpleNamespace(info=lambda text, *args: said.append(text % args))
        worker = types.SimpleNamespace(alive=True, pid=7, log=log)
        gevent.spawn(conf._accept_in_batches, worker)  # as post_worker_init does
        gevent.sleep(0.1)  # the worker's run() makes its server after the hook
        server = StreamServer(("127.0.0.1", 0), lambda sock, address: None)
        server.max_accept = 1  # what gunicorn sets when there are several workers
        server.start()
        gevent.sleep(0.2)
        print(server.max_accept, said)
        """
    )
    env = {**os.environ, "GUNICORN_ACCEPT_BATCH": "37"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.stdout.split(" ", 1) == [
        "37",
        "['worker 7: takes up to 37 new connections per turn of its event loop']\n",
    ], done.stderr
