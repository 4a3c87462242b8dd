"""The servers a benchmark or load run needs, on loopback ports, stopped on exit.

* the sandbox under gunicorn: one gevent worker (its state is in memory);
* the app with the Dockerfile's own command, ``gunicorn -c config/gunicorn.py wsgi:app``,
  on either session backend;
* a real ``redis-server`` for the Redis backend, in a throwaway folder.

Each is a context manager: leaving the ``with`` stops the process, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ() -> dict[str, str]:
    """This process's environment without PAGERO_* or SANDBOX_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}


def _serving(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def process(
    command: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[subprocess.Popen]:
    """Run ``command`` until the ``with`` ends; wait (30 s at most) for it to listen on ``port``."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 30
            while not _serving(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{Path(command[0]).name} did not start; see {log}")
                time.sleep(0.1)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def sandbox(
    port: int, app_urls: list[str], folder: Path, **settings: str
) -> Iterator[subprocess.Popen]:
    """The Pagero sandbox under gunicorn on ``port``, accepting the apps' callbacks."""
    url = f"http://localhost:{port}"
    env = {
        **clean_environ(),
        "SANDBOX_PORT": str(port),
        "SANDBOX_BASE_URL": url,
        "SANDBOX_REDIRECT_URIS": " ".join(u + "/callback" for u in app_urls),
        "SANDBOX_POST_LOGOUT_REDIRECT_URIS": " ".join(u + "/logged-out" for u in app_urls),
        **settings,
    }
    command = [
        GUNICORN,
        "--workers", "1",
        # One process (the state is in memory); gevent, so a delayed answer
        # (SANDBOX_API_DELAY_MS, SANDBOX_TOKEN_DELAY_MS) holds no thread.
        "--worker-class", "gevent",
        "--worker-connections", "4000",
        "--bind", f"127.0.0.1:{port}",
        "--no-control-socket",
        "sandbox:create_sandbox()",
    ]  # fmt: skip
    with process(command, env, port, folder / f"sandbox-{port}.log") as proc:
        yield proc


@contextmanager
def app(
    port: int,
    sandbox_port: int,
    folder: Path,
    workers: int = 2,
    redis_url: str | None = None,
    wsgi: str = "wsgi:app",
    **settings: str,
) -> Iterator[subprocess.Popen]:
    """The app with the Dockerfile's command; Redis sessions when ``redis_url`` is given.

    ``wsgi`` names another entry point serving the same app (bench/timed_wsgi.py)."""
    env = {
        **clean_environ(),
        "PAGERO_ENV": "sandbox",
        "APP_PORT": str(port),
        "SANDBOX_PORT": str(sandbox_port),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "INSTANCE_PATH": str(folder / f"instance-{port}"),
        "LOG_LEVEL": "info",  # production's default
        **settings,
    }
    if redis_url:
        env.update(SESSION_BACKEND="redis", REDIS_URL=redis_url)
    command = [GUNICORN, "-c", "config/gunicorn.py", wsgi]
    with process(command, env, port, folder / f"app-{port}.log") as proc:
        yield proc


@contextmanager
def bare_proxy(
    port: int, folder: Path, workers: int, api_base_url: str, bearer: str = "bench"
) -> Iterator[subprocess.Popen]:
    """The yardstick (bench/bare_proxy.py) under the app's own command, in front of
    ``api_base_url``, sending ``bearer``."""
    with app(
        port,
        port,  # it never calls the sandbox
        folder,
        workers,
        wsgi="bench.bare_proxy:app",
        PAGERO_API_BASE_URL=api_base_url,
        BARE_PROXY_BEARER=bearer,
    ) as proc:
        yield proc


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit(
            "redis-server is not installed (needed for the Redis session backend): "
            "run scripts/setup.sh --dev, or apt-get install redis-server"
        )
    return binary


@contextmanager
def redis(folder: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port, nothing saved; yields its URL."""
    port = free_port()
    command = [
        redis_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(folder),
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip
    with process(command, clean_environ(), port, folder / "redis.log"):
        yield f"redis://127.0.0.1:{port}/0"


def workers_of(master: int) -> list[int]:
    """The worker processes of a gunicorn master."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True)
    return [int(p) for p in out.stdout.split()]
