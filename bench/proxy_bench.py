"""Benchmark of /api-proxy against the same API called directly. ``make bench``.

Starts the sandbox (gunicorn, one process: its state is in memory) and the app
(the Dockerfile's gunicorn command), all on loopback, logs in once through the
app and once directly, then prints in one run:

* latency: one connection, sequential calls: p50/p99 for /api-proxy and direct,
  and the p50 the proxy adds;
* throughput: CONCURRENCY keep-alive connections for DURATION seconds each way;
* memory: growth of the serving worker's resident set while 200 MB stream
  through the proxy, down (a document) and up (an upload).

Everything stops by itself; nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from bench.cli import count
from bench.demo_login import direct_access_token, login_through_app
from bench.rounds import compare
from bench.servers import free_port, process, workers_of

ROOT = Path(__file__).resolve().parent.parent
PY = Path(sys.executable)
RESOURCE = "document/v1/documents?limit=5"
MB = 1024 * 1024


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(re.search(r"VmRSS:\s+(\d+)", fh.read()).group(1))


def memory_growth(master: int, transfer) -> tuple[float, float]:
    """(MB moved, largest RSS growth of any worker in MB) while ``transfer`` runs."""
    pids = workers_of(master)
    before = {p: rss_kb(p) for p in pids}
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for p in pids:
                peak[p] = max(peak[p], rss_kb(p))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    moved = transfer()
    done.set()
    sampler.join()
    return moved / MB, max(peak[p] - before[p] for p in pids) / 1024


def download(app_url: str, cookie: str) -> int:
    """Stream the user's large document through the proxy; the bytes received."""
    docs = requests.get(
        f"{app_url}/api-proxy/document/v1/documents?limit=100", headers={"Cookie": cookie}
    ).json()["items"]
    large = next(d for d in docs if d.get("large"))
    r = requests.get(
        f"{app_url}/api-proxy/document/v1/documents/{large['id']}/targetdocument",
        headers={"Cookie": cookie, "Accept": "*/*"},
        stream=True,
    )
    return sum(len(c) for c in r.iter_content(MB))


def upload(app_url: str, cookie: str, megabytes: int) -> int:
    """Stream ``megabytes`` MB up through the proxy (chunked); the bytes sent."""
    size = megabytes * MB
    block = b"x" * MB

    def body():
        for _ in range(megabytes):
            yield block

    r = requests.post(
        f"{app_url}/api-proxy/document/v1/documents",
        data=body(),
        headers={"Cookie": cookie, "X-CSRF": "1", "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201 and r.json()["size"] == size, r.text
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=count, default=500, help="sequential calls for latency")
    parser.add_argument("--concurrency", type=count, default=8)
    parser.add_argument(
        "--duration", type=float, default=8.0, help="seconds of throughput run per side"
    )
    parser.add_argument("--rounds", type=count, default=4, help="alternating proxied/direct rounds")
    parser.add_argument("--workers", default="2", help="gunicorn workers of the app")
    parser.add_argument("--stream-mb", type=count, default=200)
    args = parser.parse_args()

    app_port, sso_port = free_port(), free_port()
    app_url, sso = f"http://localhost:{app_port}", f"http://localhost:{sso_port}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    tmp = Path(tempfile.mkdtemp(prefix="pagero-bench-"))
    sandbox_env = {
        **base,
        "SANDBOX_PORT": str(sso_port),
        "SANDBOX_BASE_URL": sso,
        "SANDBOX_REDIRECT_URIS": app_url + "/callback",
        "SANDBOX_LARGE_DOCUMENT_BYTES": str(args.stream_mb * MB),
    }
    app_env = {
        **base,
        "PAGERO_ENV": "sandbox",
        "APP_PORT": str(app_port),
        "SANDBOX_PORT": str(sso_port),
        "GUNICORN_BIND": f"127.0.0.1:{app_port}",
        "GUNICORN_WORKERS": args.workers,
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "INSTANCE_PATH": str(tmp / "instance"),
        "LOG_LEVEL": "info",  # production's default
        "PAGERO_FLOW_TRACE": "false",  # production's default
    }
    gunicorn = str(PY.parent / "gunicorn")
    with ExitStack() as stack:
        stack.enter_context(
            process(
                [
                    gunicorn,
                    "-w",
                    "1",
                    "-k",
                    "gevent",
                    "-b",
                    f"127.0.0.1:{sso_port}",
                    "sandbox:create_sandbox()",
                ],
                sandbox_env,
                sso_port,
                tmp / "sandbox.log",
            )
        )
        app_proc = stack.enter_context(
            process(
                [gunicorn, "-c", "config/gunicorn.py", "wsgi:app"],
                app_env,
                app_port,
                tmp / "app.log",
            )
        )
        cookie = login_through_app(app_url)
        token = direct_access_token(sso, app_url)
        proxied = (
            app_port,
            "/api-proxy/" + RESOURCE,
            {"Cookie": cookie, "Host": f"localhost:{app_port}"},
        )
        direct = (
            sso_port,
            "/api/" + RESOURCE,
            {"Authorization": f"Bearer {token}", "Host": f"localhost:{sso_port}"},
        )

        result = compare(proxied, direct, workers_of(app_proc.pid), args)

        down_mb, down_growth = memory_growth(app_proc.pid, lambda: download(app_url, cookie))
        up_mb, up_growth = memory_growth(
            app_proc.pid, lambda: upload(app_url, cookie, args.stream_mb)
        )

    print()
    print(
        f"Pagero proxy benchmark  ({os.cpu_count()} CPUs, app: gunicorn {args.workers} workers"
        " (gevent), sandbox: gunicorn 1 gevent worker, loopback)"
    )
    print(f"{'':34}{'/api-proxy':>14}{'direct':>14}{'ratio/added':>14}")
    for q in (50, 99):
        proxied_ms, direct_ms = result.p("proxied", q), result.p("direct", q)
        print(
            f"{f'latency p{q} (ms, 1 connection)':34}{proxied_ms:14.2f}{direct_ms:14.2f}"
            f"{proxied_ms - direct_ms:+14.2f}"
        )
    print(
        f"{f'throughput (req/s, {args.concurrency} connections)':34}"
        f"{result.req_per_s('proxied'):14.0f}{result.req_per_s('direct'):14.0f}"
        f"{result.share('proxied'):14.2f}"
    )
    print(f"{'app CPU per proxied call (ms)':34}{result.cpu_ms_per_call:14.2f}")
    print(
        f"{'worker RSS growth, download':34}{down_growth:11.1f} MB  for {down_mb:.0f} MB streamed"
    )
    print(f"{'worker RSS growth, upload':34}{up_growth:11.1f} MB  for {up_mb:.0f} MB streamed")
    print(
        f"(resource: GET {RESOURCE}; {args.requests} sequential calls and {args.duration:.0f} s"
        f" of throughput per side, in {args.rounds} alternating rounds; the ratio is the median"
        " of the rounds' ratios)"
    )


if __name__ == "__main__":
    main()
