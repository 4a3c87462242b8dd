"""WSGI entry point: ``gunicorn -c config/gunicorn.py wsgi:app``.

A ``.env`` file in the working directory is read first (existing environment wins), so
a developer can keep credentials out of their shell history.
"""

import sys

from dotenv import find_dotenv, load_dotenv

# The working directory's .env (where gunicorn or the container starts).
load_dotenv(find_dotenv(usecwd=True), override=False)

from app import create_app  # noqa: E402  (after .env is loaded, on purpose)
from config import ConfigError  # noqa: E402

try:
    app = create_app()
except ConfigError as exc:
    # `flask --app wsgi ...`: the list of bad variables, not a traceback, and exit status
    # 2 as from gunicorn and `python -m app.qa.doctor` (1 is the doctor's "a check failed").
    # (Under gunicorn the master has checked the same environment already.)
    sys.stderr.write(f"{exc}\n(python -m app.qa.doctor explains each variable)\n")
    raise SystemExit(2) from None
