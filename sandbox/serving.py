"""Serve a sandbox over real HTTP: from the command line, or in a thread for tests.

``python -m sandbox`` serves with gevent's WSGI server (:func:`make_gevent_server`): each
call is a greenlet, so a thousand calls waiting out ``SANDBOX_API_DELAY_MS`` hold no
thread each. The tests serve it in a thread with werkzeug's threaded server
(:func:`serve_in_thread`), where a delay is a thread asleep. Default access logs print the
query string, and in OAuth query strings carry authorization codes, so the log here
prints method, path and status only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox import create_sandbox
from sandbox.state import EXTENSION_KEY, SandboxState

access_log = logging.getLogger("sandbox.access")


class PathOnlyRequestHandler(WSGIRequestHandler):
    """Access log lines without query strings (they carry codes and state)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "")).path
        access_log.info("%s %s %s", getattr(self, "command", "-"), path, code)


def make_sandbox_server(
    app: Flask, host: str, port: int, tls: tuple[str, str] | None = None
) -> BaseWSGIServer:
    """A threaded werkzeug server for ``app``, bound at once (port 0 picks a free port);
    https with ``tls`` (certificate file, key file)."""
    return make_server(
        host, port, app, threaded=True, request_handler=PathOnlyRequestHandler, ssl_context=tls
    )


def make_gevent_server(app: Flask, host: str, port: int, tls: tuple[str, str] | None = None):
    """gevent's WSGI server for ``app``, with the path-only access log; for a process that
    called ``gevent.monkey.patch_all()`` first (``python -m sandbox``). https with ``tls``
    (certificate file, key file)."""
    from gevent.pywsgi import WSGIHandler, WSGIServer

    class PathOnlyGeventHandler(WSGIHandler):
        def log_request(self) -> None:
            status = (self._orig_status or self.status or "000").split()[0]
            path = urlsplit(self.path or "").path
            access_log.info("%s %s %s", self.command or "-", path, status)

    # The backlog holds a burst of a thousand new connections until they are accepted.
    certificate = {"certfile": tls[0], "keyfile": tls[1]} if tls else {}
    return WSGIServer(
        (host, port), app, handler_class=PathOnlyGeventHandler, backlog=2048, **certificate
    )


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox served in a background thread."""

    base_url: str
    app: Flask

    @property
    def state(self) -> SandboxState:
        return self.app.extensions[EXTENSION_KEY]


@contextmanager
def serve_in_thread(
    config: Mapping[str, Any] | None = None, host: str = "127.0.0.1"
) -> Iterator[RunningSandbox]:
    """Serve a fresh sandbox on a free loopback port for the duration of the ``with`` block.

    ``SANDBOX_PORT`` and ``SANDBOX_BASE_URL`` are set from the port actually bound, so every
    URL the sandbox emits points at it. With ``SANDBOX_TLS_CERT`` and ``SANDBOX_TLS_KEY`` in
    ``config`` it serves https.
    """
    config = dict(config or {})
    tls = None
    if config.get("SANDBOX_TLS_CERT") and config.get("SANDBOX_TLS_KEY"):
        tls = (str(config["SANDBOX_TLS_CERT"]), str(config["SANDBOX_TLS_KEY"]))
    server = make_sandbox_server(Flask(__name__), host, 0, tls)
    base_url = f"{'https' if tls else 'http'}://{host}:{server.port}"
    app = create_sandbox({"SANDBOX_PORT": server.port, "SANDBOX_BASE_URL": base_url, **config})
    server.app = app
    # A short poll interval makes shutdown (and so each test using this) quick.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="pagero-sandbox"
    )
    thread.daemon = True
    thread.start()
    try:
        yield RunningSandbox(base_url=base_url, app=app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
