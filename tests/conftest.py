"""Fixtures: a live sandbox and a live app on loopback ports, a headless browser.

The sandbox and the app are real HTTP servers (threads in this process). The
sandbox lives for the whole session and is reset before each test; each test
gets its own app (``make_app``) with its own instance folder, swapped in
behind the same port so the sandbox's registered redirect URI stays valid.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests
import urllib3
from flask import Flask

from app import create_app
from app.extension import pagero
from sandbox import create_sandbox
from sandbox.serving import RunningSandbox, serve_in_thread
from sandbox.tls import LocalCertificates, ensure_local_certificates
from tests.browser import Browser
from tests.leaks import AUTHORIZATION_SERVER_LOGGERS, find_leaks
from tests.recorder import RecordingApp
from tests.redis_topologies import (
    RedisClusterUnderTest,
    SentinelUnderTest,
    TlsFiles,
    TlsRedisUnderTest,
)
from tests.servers import GUNICORN_LOGS, LiveServer, RedisServer, free_port
from tests.staging_rehearsal import staging_settings


@pytest.fixture(scope="session")
def ports() -> dict[str, int]:
    return {"app": free_port(), "sandbox": free_port(), "gunicorn": free_port()}


@pytest.fixture(scope="session")
def sso_app(ports) -> Flask:
    base = f"http://localhost:{ports['sandbox']}"
    return create_sandbox(
        {
            "SANDBOX_PORT": str(ports["sandbox"]),
            "SANDBOX_BASE_URL": base,
            "SANDBOX_REDIRECT_URIS": " ".join(
                f"http://localhost:{ports[name]}/callback" for name in ("app", "gunicorn")
            ),
            "SANDBOX_POST_LOGOUT_REDIRECT_URIS": " ".join(
                f"http://localhost:{ports[name]}/logged-out" for name in ("app", "gunicorn")
            ),
            "SANDBOX_SLOW_SECONDS": "3",
            "SANDBOX_LARGE_DOCUMENT_BYTES": str(2 * 1024 * 1024),
            # user001 ... for the load tests (tests/integration/test_load_isolation.py).
            "SANDBOX_EXTRA_USERS": "60",
        }
    )


@pytest.fixture(scope="session")
def sandbox_recorder(sso_app) -> RecordingApp:
    return RecordingApp(sso_app.wsgi_app)


@pytest.fixture(scope="session")
def sandbox_server(ports, sso_app, sandbox_recorder) -> Iterator[LiveServer]:
    sso_app.wsgi_app = sandbox_recorder
    server = LiveServer(sso_app, ports["sandbox"]).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, sso_app, sandbox_recorder):
    """The sandbox's state, reset: counters, faults, clock, logins, tokens."""
    state = sso_app.extensions["pagero_sandbox"]
    state.reset()
    sandbox_recorder.clear()
    yield state
    state.reset()


@pytest.fixture(scope="session")
def app_server(ports) -> Iterator[LiveServer]:
    server = LiveServer(None, ports["app"]).start()
    yield server
    server.stop()


@pytest.fixture
def app_settings(ports, tmp_path) -> dict[str, Any]:
    """The app's configuration against the test sandbox (sandbox profile defaults)."""
    return {
        "PAGERO_ENV": "sandbox",
        "APP_PORT": str(ports["app"]),
        "SANDBOX_PORT": str(ports["sandbox"]),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PAGERO_HTTP_READ_TIMEOUT": "5",
        "PAGERO_HTTP_CONNECT_TIMEOUT": "2",
        # Every line the app can write is written, so the secret checks see them all.
        "LOG_LEVEL": "debug",
    }


@pytest.fixture
def make_app(app_server, sandbox, app_settings) -> Callable[..., Flask]:
    """Build an app with overrides and serve it on the app port."""

    def build(**overrides: Any) -> Flask:
        app = create_app({**app_settings, **overrides})
        app_server.app.target = app
        return app

    return build


@pytest.fixture(scope="session")
def local_tls(tmp_path_factory) -> LocalCertificates:
    """A local CA and a certificate for localhost signed by it (sandbox/tls.py)."""
    return ensure_local_certificates(tmp_path_factory.mktemp("sandbox-tls"))


@pytest.fixture(scope="session")
def tls_sandbox_server(ports, local_tls) -> Iterator[RunningSandbox]:
    app_url = f"http://localhost:{ports['app']}"
    config = {
        "SANDBOX_TLS_CERT": str(local_tls.cert),
        "SANDBOX_TLS_KEY": str(local_tls.key),
        "SANDBOX_REDIRECT_URIS": f"{app_url}/callback",
        "SANDBOX_POST_LOGOUT_REDIRECT_URIS": f"{app_url}/logged-out",
        "SANDBOX_SLOW_SECONDS": "3",
    }
    with serve_in_thread(config) as running:
        yield running


@pytest.fixture
def tls_sandbox(tls_sandbox_server) -> Iterator[RunningSandbox]:
    """The sandbox over https (its state reset), as ``python -m sandbox --tls`` serves it."""
    tls_sandbox_server.state.reset()
    yield tls_sandbox_server
    tls_sandbox_server.state.reset()


@pytest.fixture
def make_staging_app(make_app, tls_sandbox, local_tls, app_url, monkeypatch):
    """Build the app with PAGERO_ENV=staging against the https sandbox, trusting its CA
    through REQUESTS_CA_BUNDLE (``trust_ca=False``: trusting only the usual CAs)."""

    def build(trust_ca: bool = True, **overrides: Any) -> Flask:
        if trust_ca:
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(local_tls.ca_cert))
        else:
            monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        return make_app(**staging_settings(tls_sandbox.base_url, app_url, **overrides))

    return build


@pytest.fixture
def client_app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def app_url(ports) -> str:
    return f"http://localhost:{ports['app']}"


@pytest.fixture
def browser(client_app, app_url) -> Browser:
    return Browser(app_url)


@pytest.fixture
def new_browser(app_url) -> Callable[[], Browser]:
    return lambda: Browser(app_url)


@pytest.fixture(autouse=True)
def _capture_all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    yield


@pytest.fixture
def upstream_calls(monkeypatch):
    """Every URL the app's shared pool calls: through ``requests`` (token endpoint,
    JWKS) and through urllib3 directly (the proxy's hot path), each call once."""
    seen: list[str] = []
    original_request = requests.Session.request
    original_urlopen = urllib3.HTTPConnectionPool.urlopen
    busy = threading.local()  # inside a call already seen (requests' own, or a resend)

    def spy_request(self, method, url, *args, **kwargs):
        if self is pagero.http:  # the app's pool, whichever app the test built
            seen.append(url)
        busy.on, outer = True, getattr(busy, "on", False)
        try:
            return original_request(self, method, url, *args, **kwargs)
        finally:
            busy.on = outer

    def spy_urlopen(self, method, url, *args, **kwargs):
        if not getattr(busy, "on", False):
            seen.append(url if "://" in url else f"{self.scheme}://{self.host}:{self.port}{url}")
        busy.on, outer = True, getattr(busy, "on", False)
        try:
            return original_urlopen(self, method, url, *args, **kwargs)
        finally:
            busy.on = outer

    monkeypatch.setattr(requests.Session, "request", spy_request)
    monkeypatch.setattr(urllib3.HTTPConnectionPool, "urlopen", spy_urlopen)
    return seen


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """One real redis-server for the run; a missing binary fails loudly, never skips."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The shared Redis, emptied for this test (and started again if a test stopped it)."""
    if redis_server.proc.poll() is not None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory) -> Iterator[RedisClusterUnderTest]:
    """Three real masters in a Redis Cluster, for the run (tests/redis_topologies.py)."""
    cluster = RedisClusterUnderTest(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory) -> Iterator[SentinelUnderTest]:
    """A master, a replica and three sentinels, for the run."""
    topology = SentinelUnderTest(tmp_path_factory.mktemp("redis-sentinel"))
    yield topology
    topology.stop()


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory) -> Iterator[TlsRedisUnderTest]:
    """A redis-server speaking only TLS, its certificate from a private CA, for the run."""
    server = TlsRedisUnderTest(tmp_path_factory.mktemp("redis-tls"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_redis_cluster(tmp_path_factory) -> Iterator[RedisClusterUnderTest]:
    """Three masters speaking only TLS, on the cluster bus too, for the run."""
    folder = tmp_path_factory.mktemp("redis-cluster-tls")
    cluster = RedisClusterUnderTest(folder, tls=TlsFiles.make(folder))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def tls_redis_sentinel(tmp_path_factory) -> Iterator[SentinelUnderTest]:
    """A master, a replica and one sentinel, all speaking only TLS (replication too)."""
    folder = tmp_path_factory.mktemp("redis-sentinel-tls")
    topology = SentinelUnderTest(folder, tls=TlsFiles.make(folder), sentinels=1)
    yield topology
    topology.stop()


class _RunLog(logging.Handler):
    """Every log line written while serving requests, for the whole run."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName != "MainThread" and not record.name.startswith(
            AUTHORIZATION_SERVER_LOGGERS
        ):
            self.lines.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log_of_the_run(sso_app):
    """After the last test: no code, token, id_token or client secret the sandbox
    issued during the whole run appears in any app log line or gunicorn log file."""
    handler = _RunLog()
    logging.getLogger().addHandler(handler)
    yield
    logging.getLogger().removeHandler(handler)
    secrets = sso_app.extensions["pagero_sandbox"].issued_secrets()
    texts = [("app logs", "\n".join(handler.lines))]
    texts += [(str(p.name), p.read_text(errors="replace")) for p in GUNICORN_LOGS if p.exists()]
    leaks = find_leaks(secrets, texts)
    if leaks:
        pytest.fail(f"secrets in logs of this run: {leaks[:5]}")
