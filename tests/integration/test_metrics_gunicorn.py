"""Prometheus metrics under gunicorn: one scrape adds up every worker's counts (each
worker writes its own files in PROMETHEUS_MULTIPROC_DIR), a dead worker's counts stay and
its live gauges go, and the master leaves no metrics folder behind."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from prometheus_client.multiprocess import MultiProcessCollector

from tests.metrics_scraper import TOKEN, scrape, value
from tests.servers import app_against_sandbox


def _per_worker(folder, name: str) -> dict[int, float]:
    """``name``'s value in each worker's own file (the scrape adds them up)."""
    found = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[-1])
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == name:
                    found[pid] = sample.value
    return found


def test_scrape_under_gunicorn_adds_up_every_worker_and_drops_a_dead_ones_gauges(
    ports, sandbox, tmp_path
):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"left by an earlier run")
    port = ports["gunicorn"]
    url = f"http://localhost:{port}"
    with app_against_sandbox(
        ports,
        tmp_path,
        workers=2,
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    ):
        assert not (folder / "counter_1.db").exists()  # emptied by the master at start
        name = "pagero_client_logins_started_total"
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(40):  # until both workers have served some (bounded)
                get = lambda _: requests.get(f"{url}/login", allow_redirects=False, timeout=10)  # noqa: E731
                assert {r.status_code for r in pool.map(get, range(16))} == {302}
                sent += 16
                if len([n for n in _per_worker(folder, name).values() if n]) >= 2:
                    break
        per_worker = _per_worker(folder, name)
        print(f"{sent} logins started, per worker: {sorted(per_worker.values())}")
        assert len(per_worker) == 2 and all(per_worker.values()), per_worker
        samples = scrape(url)
        assert value(samples, name) == sent == sum(per_worker.values())
        assert value(samples, "pagero_client_in_flight_limit") == 2 * 500

        # A worker dies; gunicorn starts another. Its counts stay, its live gauge goes.
        victim = next(iter(per_worker))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while True:
            gauges = {p.name for p in folder.glob("gauge_livesum_*.db")}
            replaced = len(gauges) == 2 and f"gauge_livesum_{victim}.db" not in gauges
            if replaced and value(scrape(url), "pagero_client_in_flight_limit") == 1000:
                break
            assert time.monotonic() < deadline, gauges
            time.sleep(0.1)
        samples = scrape(url)
        assert value(samples, name) == sent  # the dead worker's logins still count
        assert value(samples, "pagero_client_in_flight_limit") == 2 * 500


def test_no_metrics_folder_is_left_behind_by_gunicorn(ports, sandbox, tmp_path):
    shm = tmp_path / "shm"
    shm.mkdir()
    with app_against_sandbox(
        ports, tmp_path, GUNICORN_WORKER_TMP_DIR=str(shm), METRICS_TOKEN=TOKEN
    ) as proc:
        url = f"http://localhost:{ports['gunicorn']}"
        assert requests.get(f"{url}/login", allow_redirects=False, timeout=10).status_code == 302
        assert value(scrape(url), "pagero_client_logins_started_total") == 1
        (made,) = shm.glob("pagero-metrics-*")  # the master's own folder, beside the heartbeats
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert not made.exists()
