"""Many people at once through gunicorn: every session stays its own, on both backends.

The same three phases as ``make load`` (bench/load_logins.py), smaller: FLOWS users log
in together through the Dockerfile's gunicorn command with several workers, use the API
through /api-proxy, all refresh at once, and check their session once more.
"""

from __future__ import annotations

import logging

import pytest

from bench.load_logins import APP_SETTINGS, load_users, run_load
from tests.leaks import find_leaks
from tests.servers import app_against_sandbox

FLOWS = 50


@pytest.mark.parametrize("backend", ["filesystem", "redis"])
def test_concurrent_logins_each_end_as_their_own_user(
    request, backend, ports, sandbox, tmp_path, caplog
):
    # The load's clients log the callback URLs they open, codes and all, from threads
    # the run-wide log check would take for the app's: they are browsers, not the app.
    caplog.set_level(logging.INFO, logger="urllib3")
    env = dict(APP_SETTINGS)
    if backend == "redis":
        env.update(SESSION_BACKEND="redis", REDIS_URL=request.getfixturevalue("redis_url"))
    with app_against_sandbox(ports, tmp_path, workers=3, **env):
        report = run_load(
            f"http://localhost:{ports['gunicorn']}", load_users(FLOWS), lambda: dict(sandbox.counts)
        )

    assert report.problems() == []
    assert len({f.company_id for f in report.flows}) == FLOWS
    assert report.refresh_grants == FLOWS and sandbox.counts["authorization_code"] == FLOWS
    answers = [answer for flow in report.flows for answer in flow.answers]
    assert len(answers) >= 5 * FLOWS  # login, callback, session, documents twice, session
    assert find_leaks(sandbox.issued_secrets(), answers) == []
