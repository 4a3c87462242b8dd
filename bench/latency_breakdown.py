"""Where one sequential ``/api-proxy`` call spends its time. ``make bench-breakdown``.

Starts the sandbox (gunicorn, logging its own handling time per request) and the app under
the Dockerfile's gunicorn command, one worker, serving ``bench.timed_wsgi:app`` (the app
with stopwatches, see there); with ``--redis`` on Redis sessions (a real redis-server),
otherwise on files. Then sends proxied and direct calls one at a
time, turn about, over two kept-alive connections, and prints the median of each stage:

* what the client saw, proxied and direct;
* inside the app's worker: the WSGI call and its parts (session, view, upstream call);
* inside the sandbox: its own handling of the app's calls and of the direct ones.

The difference between the client's figure and the WSGI call is gunicorn's share (reading
and parsing the request, switching greenlets, writing the answer) plus the wake-ups of the
processes involved. Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

from bench import servers
from bench.cli import count
from bench.demo_login import direct_access_token, login_through_app
from bench.proxy_bench import RESOURCE
from bench.rounds import timed_get

APP_AGENT = "pagero-reference-client"
#: The sandbox's access line: its handling time in microseconds and the User-Agent.
SANDBOX_LOG_FORMAT = "--access-logformat '%(D)s %(a)s'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=count, default=500, help="calls each way")
    parser.add_argument("--redis", action="store_true", help="Redis sessions, not files")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="pagero-breakdown-"))
    app_port, sso_port = servers.free_port(), servers.free_port()
    app_url, sso_url = f"http://localhost:{app_port}", f"http://localhost:{sso_port}"
    sandbox_log = folder / "sandbox-access.log"
    with ExitStack() as stack:
        redis_url = stack.enter_context(servers.redis(folder)) if args.redis else None
        stack.enter_context(
            servers.sandbox(
                sso_port,
                [app_url],
                folder,
                GUNICORN_CMD_ARGS=f"--access-logfile {sandbox_log} {SANDBOX_LOG_FORMAT}",
            )
        )
        app = stack.enter_context(
            servers.app(
                app_port,
                sso_port,
                folder,
                1,
                redis_url=redis_url,
                wsgi="bench.timed_wsgi:app",
                PAGERO_FLOW_TRACE="false",
                TIMED_WSGI_OUT=str(folder),
            )
        )
        cookie = login_through_app(app_url)
        token = direct_access_token(sso_url, app_url)
        to_app = http.client.HTTPConnection("127.0.0.1", app_port)
        to_sandbox = http.client.HTTPConnection("127.0.0.1", sso_port)
        proxied_headers = {"Cookie": cookie, "Host": app_url[7:]}
        direct_headers = {"Authorization": f"Bearer {token}", "Host": sso_url[7:]}
        proxied, direct = [], []
        for i in range(args.calls + 20):
            p = timed_get(to_app, "/api-proxy/" + RESOURCE, proxied_headers)
            d = timed_get(to_sandbox, "/api/" + RESOURCE, direct_headers)
            if i >= 20:  # warm-up
                proxied.append(p * 1e6)
                direct.append(d * 1e6)
        (worker,) = servers.workers_of(app.pid)
        os.kill(worker, signal.SIGUSR2)
        time.sleep(0.5)
        stages = json.loads((folder / f"{worker}.json").read_text())

    sandbox_times = defaultdict(list)
    for line in sandbox_log.read_text().splitlines():
        micros, _, agent = line.partition(" ")
        sandbox_times[APP_AGENT if agent.startswith(APP_AGENT) else "other"].append(int(micros))

    def row(label: str, micros: float, indent: int = 0) -> None:
        print(f"{' ' * indent}{label:{46 - indent}}{micros / 1000:8.2f} ms")

    med = statistics.median
    backend = "Redis" if args.redis else "filesystem"
    print(
        f"\nOne sequential API call, median of {args.calls} (GET {RESOURCE}), turn about,"
        f" {backend} sessions:"
    )
    row("client: /api-proxy", med(proxied))
    row("client: the API directly", med(direct))
    row("added by the proxy", med(proxied) - med(direct))
    print("inside the app's worker (one gunicorn worker):")
    row("WSGI call", stages["WSGI call"], 2)
    for stage in ("open session", "view", "save session"):
        row(stage, stages[stage], 4)
    parts = ("upstream call", "read the answer", "log line")
    if "token store read" in stages:  # files; Redis reads the tokens with the session
        parts = ("token store read", *parts)
    for stage in parts:
        row(stage, stages[stage], 6)
    row("checks, headers, response", stages["view"] - sum(stages[s] for s in parts), 6)
    outside = ("open session", "view", "save session")
    rest = stages["WSGI call"] - sum(stages[s] for s in outside)
    row("Flask, the app's hooks, security headers", rest, 4)
    row("gunicorn and wake-ups (client - WSGI call)", med(proxied) - stages["WSGI call"], 2)
    print("inside the sandbox (its own handling, gunicorn's request time):")
    row("the app's calls", med(sandbox_times[APP_AGENT][-args.calls :]), 2)
    row("the direct calls", med(sandbox_times["other"][-args.calls :]), 2)


if __name__ == "__main__":
    main()
