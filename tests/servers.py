"""Real HTTP servers on loopback for the tests: threads running werkzeug's server.

The app and the sandbox talk to each other over these sockets exactly as they
would across a network; only the process is shared, so tests can look inside
the sandbox (counters, issued tokens) without a side channel.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class QuietHandler(WSGIRequestHandler):
    """No access log: werkzeug's would print the callback's query string."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class SwappableApp:
    """A WSGI app whose target can change between tests while the port stays."""

    def __init__(self, target: Callable | None = None):
        self.target = target

    def __call__(self, environ, start_response):
        return self.target(environ, start_response)


class LiveServer:
    def __init__(self, app: Callable, port: int, host: str = "127.0.0.1"):
        self.app = SwappableApp(app)
        self.port = port
        self.server = make_server(host, port, self.app, threaded=True, request_handler=QuietHandler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ROOT = Path(__file__).resolve().parent.parent
#: Log files of every gunicorn the tests ran, for the whole-run secret check.
GUNICORN_LOGS: list[Path] = []


def dockerfile_command() -> list[str]:
    """The app image's CMD (the Dockerfile's last stage), so tests run exactly what it runs."""
    lines = [x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("CMD ")]
    return json.loads(lines[-1][4:])


def gunicorn_invocation(port: int, **env: str) -> tuple[list[str], dict[str, str]]:
    """The Dockerfile's command (this venv's gunicorn) and its environment, on ``port``:
    this process's environment without PAGERO_* or SANDBOX_*, plus ``env``."""
    command = dockerfile_command()
    assert command[0] == "gunicorn", command
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    full_env.update(GUNICORN_BIND=f"127.0.0.1:{port}", APP_PORT=str(port), LOG_LEVEL="debug")
    full_env.update(env)
    return [str(Path(sys.executable).parent / "gunicorn"), *command[1:]], full_env


def gunicorn_refusal(**env: str) -> str:
    """What the Dockerfile's command printed when it refused to start with ``env``: it must
    exit with status 2 from the master, before any worker and without a traceback."""
    command, full_env = gunicorn_invocation(free_port(), **env)
    done = subprocess.run(
        command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Booting worker" not in output and "Traceback" not in output, output
    return output


@contextmanager
def gunicorn(port: int, log_path: Path, **env: str) -> Iterator[subprocess.Popen]:
    """Run the app with the Dockerfile's command on ``port``; yields the process."""
    command, full_env = gunicorn_invocation(port, **env)
    GUNICORN_LOGS.append(log_path)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: workers go with the master
        )
        try:
            _wait_until_serving(proc, port, log_path)
            yield proc
        finally:
            _stop_group(proc)
            _wait_until_closed(port)


@contextmanager
def app_against_sandbox(
    ports: dict[str, int], tmp_path: Path, workers: int = 1, **env: str
) -> Iterator[subprocess.Popen]:
    """The app under :func:`gunicorn` on ``ports["gunicorn"]``, sandbox profile, against the
    test sandbox on ``ports["sandbox"]``; its log and instance folder in ``tmp_path``.
    ``env`` adds settings or overrides these."""
    settings = {
        "PAGERO_ENV": "sandbox",
        "SANDBOX_PORT": str(ports["sandbox"]),
        "GUNICORN_WORKERS": str(workers),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        **env,
    }
    with gunicorn(ports["gunicorn"], tmp_path / "gunicorn.log", **settings) as proc:
        yield proc


@contextmanager
def project_script(
    name: str, tmp_path: Path, ready: str, timeout: float
) -> Iterator[tuple[dict[str, str], subprocess.Popen, Path]]:
    """``bash scripts/<name>`` as a user runs it, on free ``APP_PORT`` and ``SANDBOX_PORT``,
    without this run's PAGERO_*, SANDBOX_* or CA bundle. Yields (ports, process, the file its
    output goes to) once ``ready`` appears in that output (a failed start fails the test with
    the output); what is left of it is killed at the end."""
    ports = {"APP_PORT": str(free_port()), "SANDBOX_PORT": str(free_port())}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.update(ports, INSTANCE_PATH=str(tmp_path / "instance"))
    out = tmp_path / f"{name}.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            ["bash", f"scripts/{name}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches all it started
        )
    try:
        deadline = time.monotonic() + timeout
        while ready not in out.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"scripts/{name} did not start:\n" + out.read_text())
            time.sleep(0.2)
        yield ports, proc, out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop the master and every worker; a worker outliving a killed master would
    keep the listening socket (it inherited it) and the next test's bind fail."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group
        return


def _wait_until_closed(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)


def _wait_until_serving(proc: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + log_path.read_text())
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not start:\n" + log_path.read_text())


class RedisServer:
    """A real ``redis-server`` on a free loopback port, in its own folder.

    Saving on shutdown is on, so a stop and start keeps the data: that is how
    the outage tests show the app recovering by itself with sessions intact.
    """

    def __init__(self, folder: Path, *extra: str, port: int | None = None):
        """``extra``: more ``redis-server`` arguments, which win over the defaults below."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: run scripts/setup.sh --dev (it installs Debian's "
                "redis-server) before the tests"
            )
        self.binary = binary
        self.folder = folder
        self.extra = list(extra)
        self.port = port or free_port()
        #: The whole command line, when not a plain server (a sentinel's config file).
        self.command: list[str] | None = None
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    #: Seconds to wait for the server to answer before giving up on it.
    start_timeout = 10.0

    def start(self) -> RedisServer:
        command = self.command or [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "3600 1",
            "--appendonly", "no",
            "--protected-mode", "yes",
            *self.extra,
        ]  # fmt: skip
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.listening_port)) == 0:
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()  # it may run without answering: it must not outlive the test run
        raise RuntimeError(
            "redis-server did not start:\n" + (self.folder / "redis.log").read_text()
        )

    @property
    def listening_port(self) -> int:
        """The port that answers: ``--tls-port`` when ``extra`` sets one (with ``--port 0``)."""
        if "--tls-port" in self.extra:
            return int(self.extra[self.extra.index("--tls-port") + 1])
        return self.port

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # saves the data set first (--save)
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing saved on the way out."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
