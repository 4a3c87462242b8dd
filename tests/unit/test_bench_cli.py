"""The benchmarks refuse a count below one at once, naming the option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "option"),
    [
        ("bench.slow_pagero", "--logins"),
        ("bench.report", "--rounds"),
        ("bench.load_logins", "--flows"),
        ("bench.compare_configs", "--calls"),
    ],
)
@pytest.mark.parametrize(("value", "says"), [("0", "0 is not at least 1"), ("x", "not a whole")])
def test_a_count_below_one_is_refused_before_anything_starts(module, option, value, says):
    args = [sys.executable, "-m", module, option, value]
    if module == "bench.compare_configs":
        args.insert(3, "{}")  # its positional argument: the configurations
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"argument {option}: " in done.stderr and says in done.stderr


def test_the_per_round_ratios_are_second_over_first_as_their_label_says():
    from bench.compare_configs import per_round

    results = {"old": {"rps": [100.0], "cpu": [2.0]}, "new": {"rps": [150.0], "cpu": [1.0]}}
    label, rps, cpu = per_round("old", "new", results)
    assert label == "per round, new / old:"
    assert rps.split() == ["req/s", "1.50"] and cpu.split() == ["CPU", "0.50"]
