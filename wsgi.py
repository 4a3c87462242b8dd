"""WSGI entry point: ``gunicorn -c config/gunicorn.py wsgi:app``.

A ``.env`` file in the working directory is read first (existing environment wins), so
a developer can keep credentials out of their shell history.
"""

from dotenv import find_dotenv, load_dotenv

# The working directory's .env (where gunicorn or the container starts).
load_dotenv(find_dotenv(usecwd=True), override=False)

from app import create_app  # noqa: E402  (after .env is loaded, on purpose)

app = create_app()
