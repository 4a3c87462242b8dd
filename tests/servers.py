"""Real HTTP servers on loopback for the tests: threads running werkzeug's server.

The app and the sandbox talk to each other over these sockets exactly as they
would across a network; only the process is shared, so tests can look inside
the sandbox (counters, issued tokens) without a side channel.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

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
