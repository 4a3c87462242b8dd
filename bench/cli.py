"""What the benchmarks' command lines share: counts that must be at least one.

A zero or negative count (``--logins 0``, ``--rounds -1``) would otherwise surface
minutes into a run as a traceback from deep inside the load client (a thread pool of
no threads, a ratio over no rounds); argparse refuses it at once, naming the option.
"""

from __future__ import annotations

import argparse


def count(text: str) -> int:
    """An ``argparse`` type: a whole number of at least one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value
