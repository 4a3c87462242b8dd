"""The deployment files agree with the code: Dockerfile, docker-compose.yml, gunicorn config.

No Docker engine runs here, so the image itself is not built in the tests; what can be
checked without one is: the app image runs the command the tests run, and the compose
file's settings are ones the app accepts and wire the services to each other.
"""

from __future__ import annotations

import re
from pathlib import Path

from config import load_settings
from config.variables import FIELDS_BY_ENV
from tests.servers import dockerfile_command

ROOT = Path(__file__).resolve().parents[2]


def _compose_environment(service: str) -> dict[str, str]:
    """The ``environment:`` mapping of one service (the file's simple two-space layout)."""
    lines = (ROOT / "docker-compose.yml").read_text().splitlines()
    start = lines.index(f"  {service}:")
    env: dict[str, str] = {}
    inside = False
    for line in lines[start + 1 :]:
        if re.match(r"^  \S", line):  # the next service
            break
        if line.strip() == "environment:":
            inside = True
            continue
        if inside:
            match = re.match(r"^      ([A-Z_]+): ?(.*)$", line)
            if not match:
                break
            env[match.group(1)] = match.group(2).strip().strip('"')
    return env


def test_app_image_runs_gunicorn_with_the_projects_config():
    assert dockerfile_command() == ["gunicorn", "-c", "config/gunicorn.py", "wsgi:app"]


def test_dockerfile_final_image_is_non_root_with_a_health_check():
    text = (ROOT / "Dockerfile").read_text()
    app_stage = text[text.rindex("FROM runtime AS app") :]
    assert "USER pagero" in app_stage
    assert "/healthz" in app_stage and "HEALTHCHECK" in app_stage
    assert text.count("FROM python:3.11-slim-bookworm") == 2  # slim official base only
    runtime = text[
        text.index("FROM python:3.11-slim-bookworm AS runtime") : text.index("AS sandbox")
    ]
    assert "apt-get" not in runtime and "gcc" not in runtime  # no build tools at run time


def test_app_image_copies_the_core_the_app_and_its_configuration():
    """The app imports pagero_oauth/ (the protocol core) and config/: both ship with it."""
    text = (ROOT / "Dockerfile").read_text()
    app_stage = text[text.rindex("FROM runtime AS app") :]
    for folder in ("pagero_oauth/", "app/", "config/", "templates/", "static/"):
        assert f"COPY --chown=root:root {folder} {folder}" in app_stage, folder
    assert "sandbox/" not in app_stage  # the app never imports the sandbox


def test_sandbox_image_runs_python_m_sandbox_on_every_interface():
    """The demo's command, so the image serves under gevent like ``make demo``."""
    text = (ROOT / "Dockerfile").read_text()
    stage = text[text.index("FROM runtime AS sandbox") : text.index("FROM runtime AS app")]
    assert 'CMD ["python", "-m", "sandbox"]' in stage
    assert "SANDBOX_HOST=0.0.0.0" in stage


def test_compose_app_settings_are_accepted_by_the_app():
    env = _compose_environment("app")
    unknown = [
        k
        for k in env
        if k not in FIELDS_BY_ENV and not k.startswith("GUNICORN_") and k != "PAGERO_ENV"
    ]
    assert unknown == []
    settings = load_settings(env)
    assert settings.session_backend == "redis"
    assert settings.token_url.startswith("http://sandbox:5001/")  # server to server
    assert settings.authorize_url.startswith("http://localhost:5001/")  # the browser goes there


def test_compose_sandbox_registers_the_apps_redirect_uris():
    app = load_settings(_compose_environment("app"))
    sandbox = _compose_environment("sandbox")
    assert sandbox["SANDBOX_REDIRECT_URIS"] == app.redirect_uri
    assert sandbox["SANDBOX_POST_LOGOUT_REDIRECT_URIS"] == app.post_logout_redirect_uri
    assert app.issuer == sandbox["SANDBOX_BASE_URL"] + "/oauth/v2/oauth-anonymous"
