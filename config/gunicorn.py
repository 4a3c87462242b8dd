"""gunicorn settings for the app: ``gunicorn -c config/gunicorn.py wsgi:app``.

The Dockerfile, ``make demo`` and the tests all start the app with exactly
this command, so what is tested is what ships. Every value comes from the
environment with a default that suits a small container.

The serving model is gunicorn's gevent worker (docs/performance.md, "Serving model"). Pagero is
remote: every token or API call waits 50-300 ms on the network. With threads, each
waiting call holds one of ``workers x threads`` threads, and a slow Pagero stops the app
answering anyone, health probes included. Under gevent a waiting call is a greenlet
parked on its socket; a worker keeps ``GUNICORN_WORKER_CONNECTIONS`` connections going
at once, and what bounds the calls waiting on Pagero is the app's own explicit cap
(``PAGERO_MAX_IN_FLIGHT``), answered with a fast 503 beyond it.
"""

import os
import sys

from dotenv import find_dotenv, load_dotenv

# A serving variable may come from .env like any other setting (docs/configuration.md),
# so .env is loaded before they are read. The environment wins; wsgi.py and the workers
# see the same values (they inherit this process's environment).
load_dotenv(find_dotenv(usecwd=True), override=False)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('APP_PORT', '5000')}")


def _whole(name: str, default: str, low: int = 1) -> int:
    """A whole number from ``name``; a bad value stops the start, naming the variable."""
    value = os.environ.get(name, default)
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None
    if number < low:
        raise SystemExit(f"{name} must be at least {low}, not {number}")
    return number


workers = _whole("GUNICORN_WORKERS", "2")
# Every blocking call on a request path cooperates once gevent has patched the standard
# library (the worker does that before it loads the app): requests/urllib3 and redis-py
# sockets, time.sleep in the store locks' waits. Nothing here uses a C driver that would not.
worker_class = "gevent"
# Connections one worker serves at once (each a greenlet: tens of kB, not a thread).
worker_connections = _whole("GUNICORN_WORKER_CONNECTIONS", "1000")
# Longer than PAGERO_HTTP_READ_TIMEOUT, so a slow Pagero gives the user a clear
# 504 page from the app instead of a killed worker.
timeout = _whole("GUNICORN_TIMEOUT", "60")
graceful_timeout = _whole("GUNICORN_GRACEFUL_TIMEOUT", "20")
# Also the deadline for a request's line and headers: gevent's worker reads them under a
# timer of this many seconds, so a client that sends its headers a byte at a time
# (slowloris) is cut off. Hence at least 1: 0 would switch that timer off.
keepalive = _whole("GUNICORN_KEEPALIVE", "5")
#: Seconds a client may stay silent while it sends its body or reads the answer; then the
#: connection is closed (a body that never arrives does not hold a connection forever).
client_timeout = _whole("GUNICORN_CLIENT_TIMEOUT", "30")
# New connections a worker takes from the listening socket each turn of its event loop.
# gunicorn sets 1 when there are several workers, to spread connections between them; but
# a worker busy with hundreds of calls turns its loop only a few times a second, and a
# burst of new connections (a load balancer opening its pool, every health probe) then
# waits seconds in the kernel's queue. 100 is gevent's own default. The workers still
# share the load: an idle one wakes first and takes the waiting connections.
accept_batch = _whole("GUNICORN_ACCEPT_BATCH", "100")
# Workers prove they are alive by touching a file after every request. In memory,
# not on a container's disk layer (gunicorn's own advice for Docker); gunicorn
# creates the file with mkstemp, so a shared folder is safe.
SHM = "/dev/shm"  # noqa: S108 - see above
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", SHM if os.path.isdir(SHM) else None)

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
# The access line is written by config/access_log.py, which explains its fields:
# the path without the query string (/callback?code=... must never reach a log
# file), no request header (they carry cookies and tokens), and the response's
# X-Request-ID, which joins the line to the app's own log lines.
# (A class name, not an import: this file is read before gunicorn enters --chdir.)
logger_class = "config.access_log.AccessLogger"

# gunicorn 27's control socket would live in $HOME, which the container's
# unprivileged user cannot write; nothing here uses it.
control_socket_disable = True


def pre_request(worker, req) -> None:
    """Give the client's socket an idle timeout before the app reads the body.

    gunicorn reads the request line and headers under the keep-alive timer (above); the
    body is read later, by the app, with no timer at all. A socket timeout bounds each
    wait for the client's next bytes, so a stalled upload ends in the app's 400
    (``unreadable_request_body``) instead of holding its connection open.
    """
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if sock is not None:
        sock.settimeout(client_timeout)


def on_starting(server) -> None:
    """Check the app's configuration once, in the master, before any port or worker.

    A bad variable is then one message and exit status 2. Otherwise every worker would
    fail to import the app and print its own traceback before gunicorn gave up.
    """
    from config import ConfigError, load_settings

    # First: importing the app below imports prometheus-client, which picks its storage
    # once, from PROMETHEUS_MULTIPROC_DIR, and the workers inherit that choice.
    _prepare_metrics_dir(server)
    try:
        settings = load_settings()
        # A Redis certificate the CA bundle does not trust never heals, and a cluster
        # none of whose nodes answers cannot be started on: said once, here. (Only
        # then is the app imported in the master: the workers load it themselves.)
        if settings.session_backend == "redis":
            from pagero_oauth.stores.redis_client import startup_problem

            if problem := startup_problem(settings):
                raise ConfigError(settings.profile, {"REDIS_URL": problem})
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n(python -m app.qa.doctor explains each variable)\n")
        on_exit(server)
        sys.exit(2)


# -- Prometheus metrics across workers (app/metrics.py) ----------------------------------
# Each worker is a process with its own counters. prometheus-client's multiprocess mode
# has every worker write its values to files in one folder, PROMETHEUS_MULTIPROC_DIR, and
# a scrape of any worker adds them all up. The library chooses that storage when a worker
# first imports it, so the master sets the variable here, before any worker is forked.
def _prepare_metrics_dir(server) -> None:
    """An empty metrics folder: the operator's PROMETHEUS_MULTIPROC_DIR, or a private
    one in memory. Files left by an earlier run would be added to this run's counts."""
    import glob
    import tempfile

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for leftover in glob.glob(os.path.join(folder, "*.db")):
            os.remove(leftover)
    else:
        # Private to this master: two instances on one machine never mix their counts.
        folder = tempfile.mkdtemp(prefix="pagero-metrics-", dir=worker_tmp_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        # On the arbiter, not in this module: a reload (SIGHUP) reads this file again.
        server.pagero_made_metrics_dir = folder


def child_exit(server, worker) -> None:
    """A worker is gone: its share of the "live" gauges (calls in flight) goes with it;
    its counters stay, so a restarted worker never makes a count go down."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """The master stops: the metrics folder it made for itself goes too."""
    folder = getattr(server, "pagero_made_metrics_dir", None)
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def post_worker_init(worker) -> None:
    """Two changes to how gevent's servers in this worker take connections.

    * On SIGTERM, close this worker's listening socket at once, then drain as usual.
      The master closes its copy of the listening socket when it is told to stop, but
      every worker holds one too, and gunicorn's gevent worker closes its own only when
      its heartbeat loop next wakes (up to a second later). Until then the kernel keeps
      completing new connections and the worker keeps taking them. Closing the worker's
      servers in the signal handler makes the port refuse new connections as soon as
      every worker got the signal, so a load balancer moves on; requests already in
      flight go on, and the worker waits for them up to ``GUNICORN_GRACEFUL_TIMEOUT``.
      (``close()`` is gevent's own "stop accepting and close the listener", and the
      worker's later ``close()`` of the same server is harmless.)
    * Once the servers run, each takes up to ``GUNICORN_ACCEPT_BATCH`` connections per
      turn of the event loop instead of gunicorn's one (see ``accept_batch`` above).

    And one change to the worker itself: the objects the app made while loading (modules,
    Flask's and Authlib's tables, tens of thousands of them) live as long as the worker,
    so ``gc.freeze()`` takes them out of every later garbage collection. A full collection
    then pauses the worker for about half as long (about 80 ms became 35 on the benchmark
    machine), a pause every call in the worker waits out.

    The servers are local to the worker's ``run()``, so they are found among live
    objects (:func:`_servers`); gunicorn offers no hook that sees them.
    """
    import gc
    import signal

    import gevent

    gc.collect()
    gc.freeze()
    worker.log.info(
        "worker %s: %s start-up objects left out of garbage collection",
        worker.pid,
        gc.get_freeze_count(),
    )
    previous = signal.getsignal(signal.SIGTERM)

    def stop_accepting(signum, frame):
        for server in _servers():
            if not server.closed:
                server.close()
        worker.log.info("worker %s: listening socket closed, draining", worker.pid)
        previous(signum, frame)

    signal.signal(signal.SIGTERM, stop_accepting)
    gevent.spawn(_accept_in_batches, worker)


def _servers() -> list:
    """This worker's gevent servers (one per listening socket)."""
    import gc

    from gevent.server import StreamServer

    return [o for o in gc.get_objects() if isinstance(o, StreamServer)]


def _accept_in_batches(worker) -> None:
    """Set ``max_accept`` on the worker's servers once ``run()`` has made them (it makes
    them before its first wait, which is when this greenlet first runs)."""
    import gevent

    while not (servers := _servers()):
        if not worker.alive:
            return
        gevent.sleep(0.05)
    for server in servers:
        server.max_accept = accept_batch
    worker.log.info(
        "worker %s: takes up to %s new connections per turn of its event loop",
        worker.pid,
        accept_batch,
    )
