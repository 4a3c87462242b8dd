"""The app with stopwatches around each stage of an API call, for bench/latency_breakdown.py.

``gunicorn -c config/gunicorn.py bench.timed_wsgi:app`` serves exactly ``wsgi:app``; each
stage of ``/api-proxy`` is also timed (wall clock, microseconds): the whole WSGI call,
opening and saving the session, the view itself, the token store read, the upstream call,
reading its answer and the log line. On SIGUSR2 a worker writes the median of each stage
over its last calls to ``$TIMED_WSGI_OUT/<pid>.json``. Never used outside the benchmark.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from pathlib import Path

from app.proxy import views as api_proxy
from wsgi import app

_TIMES: dict[str, list[float]] = {}
#: The proxy's view, by its endpoint name.
VIEW = next(e for e in app.view_functions if e.endswith(".proxy"))


def _timed(stage: str, fn):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _TIMES.setdefault(stage, []).append((time.perf_counter() - started) * 1e6)

    return wrapper


def _dump(*_args) -> None:
    medians = {stage: statistics.median(values[-1000:]) for stage, values in _TIMES.items()}
    out = Path(os.environ["TIMED_WSGI_OUT"]) / f"{os.getpid()}.json"
    out.write_text(json.dumps({"calls": len(_TIMES.get("WSGI call", [])), **medians}))


api_proxy.call_api = _timed("upstream call", api_proxy.call_api)
api_proxy._read_small = _timed("read the answer", api_proxy._read_small)
api_proxy.log_call = _timed("log line", api_proxy.log_call)
store = app.extensions["pagero"].stores.tokens
store.get = _timed("token store read", store.get)
interface = app.session_interface
interface.open_session = _timed("open session", interface.open_session)
interface.save_session = _timed("save session", interface.save_session)
app.view_functions[VIEW] = _timed("view", app.view_functions[VIEW])
_wsgi_app = app.wsgi_app


def _timed_wsgi_app(environ, start_response):
    if not environ.get("PATH_INFO", "").startswith("/api-proxy/"):
        return _wsgi_app(environ, start_response)
    return _timed("WSGI call", _wsgi_app)(environ, start_response)


app.wsgi_app = _timed_wsgi_app
signal.signal(signal.SIGUSR2, _dump)
