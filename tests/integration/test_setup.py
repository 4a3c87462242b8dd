"""`make demo` installs only what the demo runs; `make test` also the test tools and the
system packages (scripts/setup.sh, run here against a stand-in virtual environment that
records what it is asked to install)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDER = '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Python 3 (stand-in)"; exit 0; fi\n'
RECORDER += 'echo "$@" >> "$(dirname "$0")/calls.log"\n'


def run_setup(tmp_path: Path, *args: str) -> tuple[str, str]:
    """scripts/setup.sh with VENV a stand-in and every system tool present; (calls, output)."""
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True, exist_ok=True)
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for name, text in [("python", RECORDER)] + [
        (t, "#!/bin/sh\n") for t in ("chromium", "redis-server", "wrk", "apt-get")
    ]:
        path = (venv_bin if name == "python" else tools) / name
        path.write_text(text)
        path.chmod(0o755)
    env = {**os.environ, "VENV": str(tmp_path / "venv"), "PATH": f"{tools}:{os.environ['PATH']}"}
    env.pop("CHROMIUM", None)
    done = subprocess.run(
        ["bash", "scripts/setup.sh", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    log = venv_bin / "calls.log"
    return (log.read_text() if log.exists() else ""), done.stdout + done.stderr


def test_the_demos_setup_installs_the_runtime_packages_only(tmp_path):
    calls, output = run_setup(tmp_path)
    assert "-r requirements.txt" in calls and "requirements-dev.txt" not in calls
    assert "chromium" not in output and "apt-get" not in output
    assert run_setup(tmp_path)[0] == calls  # nothing again while nothing changed


def test_the_tests_setup_adds_the_dev_packages_and_checks_the_system_tools(tmp_path):
    run_setup(tmp_path)
    calls, output = run_setup(tmp_path, "--dev")
    assert calls.splitlines()[-1].endswith("-r requirements-dev.txt")
    assert "ready for the tests" in output
    calls_after, _ = run_setup(tmp_path)  # the dev set includes the runtime set
    assert calls_after == calls


def test_make_demo_sets_up_without_dev_and_make_test_with_it():
    demo = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True)
    assert "bash scripts/setup.sh\n" in demo.stdout and "--dev" not in demo.stdout
    assert "bash scripts/setup.sh --dev" in (ROOT / "scripts" / "test.sh").read_text()
