"""Two or more app configurations side by side, in alternating rounds.

On a shared VM the same code runs up to 40 % faster or slower from one minute to the next,
so two ``make bench`` runs cannot tell a 10 % change from noise. This starts one sandbox
and one app per configuration (the Dockerfile's gunicorn command, filesystem sessions,
each with its own extra environment; the key ``"wsgi"`` names another entry point), then
in every round measures each app in turn, and the API called directly: sequential latency
over one connection, then requests per second over 8 connections with the app's CPU per
call. Medians over the rounds are printed, with each configuration's added p50 and share
of direct, and for two configurations the per-round ratios, so a change is believed only
when most rounds agree.

    .venv/bin/python -m bench.compare_configs \\
        '{"one worker": {"GUNICORN_WORKERS": "1"}, "default": {}}'

Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench import servers
from bench.cli import count
from bench.demo_login import direct_access_token, login_through_app
from bench.proxy_bench import RESOURCE
from bench.rounds import cpu_seconds, latency, throughput

DIRECT = "direct API"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("configs", help='JSON: {"name": {"ENV_VAR": "value", ...}, ...}')
    parser.add_argument("--rounds", type=count, default=8)
    parser.add_argument("--seconds", type=float, default=2.5, help="throughput per round")
    parser.add_argument("--calls", type=count, default=150, help="sequential calls per round")
    args = parser.parse_args()
    configs: dict[str, dict[str, str]] = json.loads(args.configs)

    folder = Path(tempfile.mkdtemp(prefix="pagero-configs-"))
    sandbox_port = servers.free_port()
    ports = {name: servers.free_port() for name in configs}
    results = {name: {"cpu": [], "rps": [], "latency": []} for name in [*configs, DIRECT]}
    with ExitStack() as stack:
        app_urls = [f"http://localhost:{port}" for port in ports.values()]
        stack.enter_context(servers.sandbox(sandbox_port, app_urls, folder))
        targets = {}
        for name, env in configs.items():
            port = ports[name]
            env = {"wsgi": "wsgi:app", "PAGERO_FLOW_TRACE": "false", **env}
            app = stack.enter_context(servers.app(port, sandbox_port, folder, **env))
            cookie = login_through_app(f"http://localhost:{port}")
            call = (port, "/api-proxy/" + RESOURCE, {"Cookie": cookie, "Host": f"localhost:{port}"})
            targets[name] = (call, servers.workers_of(app.pid))
        sandbox_url = f"http://localhost:{sandbox_port}"
        token = direct_access_token(sandbox_url, app_urls[0])
        direct = {"Authorization": f"Bearer {token}", "Host": sandbox_url[7:]}
        targets[DIRECT] = ((sandbox_port, "/api/" + RESOURCE, direct), [])
        for _ in range(args.rounds):
            for name, (call, pids) in targets.items():
                results[name]["latency"] += latency(*call, args.calls)
                before = cpu_seconds(pids)
                rps = throughput(*call, 8, args.seconds)
                spent = cpu_seconds(pids) - before
                results[name]["rps"].append(rps)
                results[name]["cpu"].append(spent / (rps * args.seconds) * 1000)

    print(f"\n/api-proxy, {args.rounds} alternating rounds (medians)")
    print(f"{'':40}{'p50 ms':>8}{'added':>8}{'req/s':>8}{'share':>8}{'app CPU ms':>12}")
    direct_p50 = statistics.median(results[DIRECT]["latency"]) * 1000
    for name, r in results.items():
        p50 = statistics.median(r["latency"]) * 1000
        share = statistics.median(
            x / d for x, d in zip(r["rps"], results[DIRECT]["rps"], strict=True)
        )
        rps, cpu = statistics.median(r["rps"]), statistics.median(r["cpu"])
        print(
            f"{name:40}{p50:8.2f}{p50 - direct_p50:+8.2f}{rps:8.0f}{share:8.2f}"
            + (f"{cpu:12.2f}" if name != DIRECT else "")
        )
    if len(configs) == 2:
        print("\n".join(per_round(*configs, results)))


def per_round(first: str, second: str, results: dict) -> list[str]:
    """Each round's ``second / first`` for requests per second and CPU per call.

    A change is believed when most rounds agree: above 1 on req/s and below 1 on CPU means
    the second configuration is the cheaper one.
    """
    a, b = results[first], results[second]
    return [
        f"per round, {second} / {first}:",
        "  req/s   " + " ".join(f"{y / x:.2f}" for x, y in zip(a["rps"], b["rps"], strict=True)),
        "  CPU     " + " ".join(f"{y / x:.2f}" for x, y in zip(a["cpu"], b["cpu"], strict=True)),
    ]


if __name__ == "__main__":
    main()
