"""Measuring two or more sides in alternating rounds: the benchmarks' load client.

A shared machine drifts (other jobs, CPU frequency, a noisy neighbour VM): two sides
measured a minute apart can see different machines. :func:`compare` measures them in short
rounds that alternate, and reports the median of the rounds' ratios. Plain
``http.client`` over keep-alive connections, one thread per connection: enough for the
fast table's 16 connections (the slow table drives hundreds with ``wrk``).
"""

from __future__ import annotations

import http.client
import os
import statistics
import threading
import time


def timed_get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    """Seconds for one GET on ``conn``, read to the end; anything but 200 stops the run."""
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path} answered {response.status}")
    return time.perf_counter() - started


def latency(port: int, path: str, headers: dict[str, str], n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(20):  # warm up
        timed_get(conn, path, headers)
    samples = [timed_get(conn, path, headers) for _ in range(n)]
    conn.close()
    return samples


def throughput(port: int, path: str, headers: dict[str, str], clients: int, seconds: float):
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.monotonic() < stop:
            timed_get(conn, path, headers)
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


class Comparison:
    """Proxied, direct (and yardstick) figures measured in alternating rounds
    (see :func:`compare`)."""

    def __init__(self, sides: tuple[str, ...] = ("proxied", "direct")) -> None:
        self.latency: dict[str, list[float]] = {side: [] for side in sides}
        self.rps: dict[str, list[float]] = {side: [] for side in sides}
        self.proxied_cpu_seconds = 0.0
        self.seconds = 0.0  # of each throughput run

    def p(self, side: str, q: int) -> float:
        """Latency quantile ``q`` (1-99) in ms over every round of ``side``."""
        return statistics.quantiles(self.latency[side], n=100)[q - 1] * 1000

    def req_per_s(self, side: str) -> float:
        return statistics.median(self.rps[side])

    def share(self, side: str) -> float:
        """Median over rounds of ``side``/direct throughput, each pair measured back to back."""
        return statistics.median(
            s / d for s, d in zip(self.rps[side], self.rps["direct"], strict=True)
        )

    @property
    def cpu_ms_per_call(self) -> float:
        """The app's CPU (all workers, user + system) per proxied call in the throughput runs."""
        calls = sum(self.rps["proxied"]) * self.seconds
        return self.proxied_cpu_seconds / calls * 1000


def compare(proxied, direct, app_pids: list[int], args, bare=None) -> Comparison:
    """Measure /api-proxy and the direct API in alternating rounds (and ``bare``, the
    yardstick of bench/bare_proxy.py, in the same rounds when given).

    A shared machine drifts (other jobs, CPU frequency, a noisy neighbour VM): measured
    one after the other, a minute apart, the two sides can see different machines. In
    ``args.rounds`` short rounds that alternate, each throughput ratio compares two runs
    seconds apart, and the median ratio ignores a round that a burst of load spoiled.
    """
    others = {"direct": direct, **({"bare": bare} if bare else {})}
    result = Comparison(("proxied", *others))
    calls = max(1, args.requests // args.rounds)
    seconds = result.seconds = args.duration / args.rounds
    for _ in range(args.rounds):  # latency first, on an otherwise idle machine
        result.latency["proxied"] += latency(*proxied, calls)
        for side, target in others.items():
            result.latency[side] += latency(*target, calls)
    for _ in range(args.rounds):
        before = cpu_seconds(app_pids)
        result.rps["proxied"].append(throughput(*proxied, args.concurrency, seconds))
        result.proxied_cpu_seconds += cpu_seconds(app_pids) - before
        for side, target in others.items():
            result.rps[side].append(throughput(*target, args.concurrency, seconds))
    return result


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks
