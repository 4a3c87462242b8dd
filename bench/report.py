"""The benchmark report: one table, filesystem and Redis sessions side by side. ``make bench``.

For each session backend it starts a fresh sandbox (gunicorn, one worker: its state is in
memory), the app with the Dockerfile's command and, for Redis, a real redis-server, all on
loopback ports, and measures:

* **logins**: N complete logins at once (bench/load_logins.py: redirects, the sandbox's
  form, the callback, ``/session``, the documents): logins per second and login latency;
* **/api-proxy** against the same API called directly (bench/proxy_bench.py): p50/p99
  over one connection, requests per second over several, the ratio, the app's CPU per call;
* **streaming**: the serving worker's memory growth while 200 MB go down and 200 MB up.

The app runs as in production: ``PAGERO_FLOW_TRACE=false``, ``LOG_LEVEL=info``. One more
row gives the p50 with the flow trace on, as the sandbox and staging profiles have it (a
second app).

Everything stops by itself; nothing leaves this machine. The machine's other load shows in
every figure: run it twice on a quiet machine and report the range.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench import servers
from bench.cli import count
from bench.demo_login import direct_access_token, login_through_app
from bench.load_logins import load_users, run_load
from bench.proxy_bench import MB, RESOURCE, download, memory_growth, upload
from bench.rounds import compare, latency

NO_TRACE = {"PAGERO_FLOW_TRACE": "false"}
TRACE = {"PAGERO_FLOW_TRACE": "true"}


def _ms(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] * 1000


def measure(backend: str, args: argparse.Namespace, folder: Path) -> dict:
    """Every figure for one backend, the direct API's measured in the same run."""
    app_port, sso_port = servers.free_port(), servers.free_port()
    app_url, sso_url = f"http://localhost:{app_port}", f"http://localhost:{sso_port}"
    out: dict = {}
    with ExitStack() as stack:
        redis_url = stack.enter_context(servers.redis(folder)) if backend == "redis" else None
        stack.enter_context(
            servers.sandbox(
                sso_port,
                [app_url],
                folder,
                SANDBOX_EXTRA_USERS=str(args.logins),
                SANDBOX_LARGE_DOCUMENT_BYTES=str(args.stream_mb * MB),
            )
        )
        app = stack.enter_context(
            servers.app(app_port, sso_port, folder, args.workers, redis_url=redis_url, **NO_TRACE)
        )
        load = run_load(app_url, load_users(args.logins))
        if problems := load.problems():
            raise SystemExit(f"{backend}: the login load failed: {problems[:5]}")
        out["logins/s"] = load.logins_per_second
        out["login p50"] = load.login_quantile(50)
        out["login p99"] = load.login_quantile(99)

        cookie = login_through_app(app_url)
        proxied = (app_port, "/api-proxy/" + RESOURCE, {"Cookie": cookie, "Host": app_url[7:]})
        token = direct_access_token(sso_url, app_url)
        plain = (
            sso_port,
            "/api/" + RESOURCE,
            {"Authorization": f"Bearer {token}", "Host": sso_url[7:]},
        )
        bare_port = servers.free_port()
        stack.enter_context(  # the yardstick: Flask and one call, no app work
            servers.bare_proxy(bare_port, folder, args.workers, f"{sso_url}/api", token)
        )
        bare = (bare_port, "/api-proxy/" + RESOURCE, {"Host": f"localhost:{bare_port}"})
        result = compare(proxied, plain, servers.workers_of(app.pid), args, bare)
        for side, prefix in (("proxied", ""), ("direct", "direct "), ("bare", "bare ")):
            out[prefix + "p50"], out[prefix + "p99"] = result.p(side, 50), result.p(side, 99)
            out[prefix + "req/s"] = result.req_per_s(side)
        out["ratio"], out["bare ratio"] = result.share("proxied"), result.share("bare")
        out["cpu"] = result.cpu_ms_per_call
        out["down"] = memory_growth(app.pid, lambda: download(app_url, cookie))
        out["up"] = memory_growth(app.pid, lambda: upload(app_url, cookie, args.stream_mb))
        stack.close()  # the next app must answer on the sandbox's registered redirect URI

    with ExitStack() as stack:  # the same, with the flow trace on
        redis_url = stack.enter_context(servers.redis(folder)) if backend == "redis" else None
        stack.enter_context(servers.sandbox(sso_port, [app_url], folder))
        stack.enter_context(
            servers.app(app_port, sso_port, folder, args.workers, redis_url=redis_url, **TRACE)
        )
        cookie = login_through_app(app_url)
        proxied = (app_port, "/api-proxy/" + RESOURCE, {"Cookie": cookie, "Host": app_url[7:]})
        out["traced p50"] = _ms(latency(*proxied, args.requests), 50)
    return out


def table(results: dict[str, dict], args: argparse.Namespace) -> str:
    fs, rd = results["filesystem"], results["redis"]
    rows = [
        (f"logins/s ({args.logins} at once, full flow)", "logins/s", "{:.1f}", None),
        ("login latency p50 (s)", "login p50", "{:.2f}", None),
        ("login latency p99 (s)", "login p99", "{:.2f}", None),
        ("/api-proxy p50 (ms, 1 connection)", "p50", "{:.2f}", "direct p50"),
        ("/api-proxy p99 (ms, 1 connection)", "p99", "{:.2f}", "direct p99"),
        ("/api-proxy p50 with PAGERO_FLOW_TRACE on (ms)", "traced p50", "{:.2f}", None),
        (f"/api-proxy req/s ({args.concurrency} connections)", "req/s", "{:.0f}", "direct req/s"),
        ("app CPU per proxied call (ms)", "cpu", "{:.2f}", None),
    ]
    lines = [f"{'':44}{'filesystem':>12}{'redis':>12}{'direct API':>12}{'bare':>12}"]

    def both(key: str, fmt: str) -> str:  # filesystem run/redis run
        return "/".join(fmt.format(r[key]) for r in (fs, rd))

    for label, key, fmt, direct_key in rows:
        others = f"{both(direct_key, fmt):>12}{both('bare ' + key, fmt):>12}" if direct_key else ""
        lines.append(f"{label:44}{fmt.format(fs[key]):>12}{fmt.format(rd[key]):>12}{others}")
    bare_share = "/".join(f"{r['bare ratio']:.2f}" for r in (fs, rd))
    lines.append(
        f"{'/api-proxy req/s as share of direct':44}{fs['ratio']:>12.2f}{rd['ratio']:>12.2f}"
        f"{'':>12}{bare_share:>12}"
    )
    for label, key in (("download", "down"), ("upload", "up")):
        moved = fs[key][0]
        lines.append(
            f"{f'worker RSS growth, {moved:.0f} MB {label} (MB)':44}"
            f"{fs[key][1]:>12.1f}{rd[key][1]:>12.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=count, default=200, help="concurrent full logins")
    parser.add_argument("--requests", type=count, default=500, help="sequential calls for latency")
    parser.add_argument("--concurrency", type=count, default=16)
    parser.add_argument(
        "--duration", type=float, default=8.0, help="seconds of throughput run per side"
    )
    parser.add_argument("--rounds", type=count, default=4, help="alternating proxied/direct rounds")
    parser.add_argument("--workers", type=count, default=2, help="gunicorn workers of the app")
    parser.add_argument("--stream-mb", type=count, default=200)
    args = parser.parse_args()
    servers.redis_binary()  # fail before anything starts, not halfway

    folder = Path(tempfile.mkdtemp(prefix="pagero-bench-"))
    started = time.monotonic()
    results = {backend: measure(backend, args, folder) for backend in ("filesystem", "redis")}
    print()
    print(
        f"Pagero client benchmark: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"app: gunicorn {args.workers} gevent workers, sandbox: gunicorn 1 gevent worker, "
        "loopback"
    )
    print(table(results, args))
    print(
        f"(API call: GET {RESOURCE}; latency over {args.requests} sequential calls and "
        f"{args.duration:.0f} s of throughput per side, in {args.rounds} alternating rounds "
        "(bench/rounds.py); direct API and bare: filesystem run/redis run; "
        "bare: bench/bare_proxy.py, Flask and one urllib3 call, the stack's ceiling; "
        f"took {time.monotonic() - started:.0f} s)"
    )
    print(targets(results))


#: The proxy's first targets (issue 4): share of direct throughput, added p50, growth.
#: The fast API's targets (docs/performance.md): share of direct throughput at 16
#: connections, p50 at one connection as a multiple of direct's, memory growth.
MIN_SHARE, MAX_P50_RATIO, MAX_GROWTH_MB = 0.7, 2.0, 20.0


def targets(results: dict[str, dict]) -> str:
    """One line per target and backend: the figure and whether it is met."""
    lines = ["Targets:"]
    for backend, r in results.items():
        p50_ratio = r["p50"] / r["direct p50"]
        growth = max(r["down"][1], r["up"][1])
        checks = (
            (f"share of direct {r['ratio']:.3f} >= {MIN_SHARE}", r["ratio"] >= MIN_SHARE),
            (f"p50 {p50_ratio:.2f}x direct's <= {MAX_P50_RATIO}", p50_ratio <= MAX_P50_RATIO),
            (f"memory growth {growth:.1f} MB < {MAX_GROWTH_MB:.0f}", growth < MAX_GROWTH_MB),
        )
        verdicts = ", ".join(f"{text}: {'met' if ok else 'NOT met'}" for text, ok in checks)
        lines.append(f"  {backend:10} {verdicts}")
    for backend, r in results.items():  # what no proxy on this stack can beat
        lines.append(
            f"  bare, {backend} run: share of direct {r['bare ratio']:.3f}, "
            f"p50 {r['bare p50'] / r['direct p50']:.2f}x direct's (the stack alone, no app work)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
