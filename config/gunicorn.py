"""gunicorn settings for the app: ``gunicorn -c config/gunicorn.py wsgi:app``.

The Dockerfile, ``make demo`` and the tests all start the app with exactly
this command, so what is tested is what ships. Every value comes from the
environment with a default that suits a small container.
"""

import os
import sys

from dotenv import find_dotenv, load_dotenv

# A serving variable may come from .env like any other setting (README, "Configuration"),
# so .env is loaded before they are read. The environment wins; wsgi.py and the workers
# see the same values (they inherit this process's environment).
load_dotenv(find_dotenv(usecwd=True), override=False)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('APP_PORT', '5000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# gthread, serving a busy kept-alive connection's next request in the thread that
# answered the last one (GUNICORN_KEEPALIVE_LINGER_MS, see config/worker.py).
worker_class = "config.worker.KeepAliveThreadWorker"
# Longer than PAGERO_HTTP_READ_TIMEOUT, so a slow Pagero gives the user a clear
# 504 page from the app instead of a killed worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
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


def on_starting(server) -> None:
    """Check the app's configuration once, in the master, before any port or worker.

    A bad variable is then one message and exit status 2. Otherwise every worker would
    fail to import the app and print its own traceback before gunicorn gave up.
    """
    from config import ConfigError, load_settings

    try:
        load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n(python -m app.doctor explains each variable)\n")
        sys.exit(2)
