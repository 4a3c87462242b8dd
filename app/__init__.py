"""The Pagero reference client: a Flask app factory and nothing else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from config import Settings, load_settings

from . import api_proxy, auth, pages, session_api
from .errors import register_error_handlers
from .extensions import server_session
from .logging_setup import configure_logging
from .pagero_client import pagero
from .security import apply_security_headers
from .token_store import FileTokenStore

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app.

    ``config`` overrides environment variables by name (``PAGERO_SCOPE``, ...)
    and may also set ``INSTANCE_PATH`` and plain Flask keys such as
    ``TESTING``. Invalid settings raise :class:`config.ConfigError` before
    anything is served.
    """
    config = dict(config or {})
    instance_path = config.pop("INSTANCE_PATH", None) or os.environ.get("INSTANCE_PATH")
    flask_keys = {k: config.pop(k) for k in list(config) if k in _FLASK_KEYS}
    settings = load_settings(overrides=config)

    app = Flask(
        __name__,
        instance_path=str(instance_path or PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(settings)
    app.config.update(_flask_config(app, settings))
    app.config.update(flask_keys)

    pagero.init_app(app)
    server_session.init_app(app)
    app.extensions["token_store"] = FileTokenStore(os.path.join(app.instance_path, "tokens"))
    register_error_handlers(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api_proxy.bp)
    app.register_blueprint(session_api.bp)

    https = settings.redirect_uri.startswith("https://")
    app.after_request(lambda response: apply_security_headers(response, https))
    return app


_FLASK_KEYS = {"TESTING", "DEBUG", "SERVER_NAME", "PROPAGATE_EXCEPTIONS"}


def _flask_config(app: Flask, settings: Settings) -> dict[str, Any]:
    from cachelib.file import FileSystemCache

    https = settings.redirect_uri.startswith("https://")
    session_dir = settings.session_file_dir or os.path.join(app.instance_path, "flask_session")
    return {
        "PAGERO_SETTINGS": settings,
        "SECRET_KEY": settings.secret_key or _instance_secret_key(app.instance_path),
        # Server-side sessions: the browser holds only a random id (Flask-Session).
        "SESSION_TYPE": "cachelib",
        # threshold=0: never evict live sessions to make room; expiry removes them.
        "SESSION_CACHELIB": FileSystemCache(session_dir, threshold=0, mode=0o600),
        "SESSION_KEY_PREFIX": "pagero:session:",
        "SESSION_PERMANENT": True,
        "PERMANENT_SESSION_LIFETIME": timedelta(seconds=settings.session_lifetime),
        # Write the session only when it changed: a request that merely reads
        # tokens must never write an older copy over a newer one.
        "SESSION_REFRESH_EACH_REQUEST": False,
        # The __Host- prefix pins the cookie to this exact host over https.
        "SESSION_COOKIE_NAME": "__Host-pagero_session" if https else "pagero_session",
        "SESSION_COOKIE_HTTPONLY": True,
        # Lax, not Strict: the callback is a top-level navigation *from Pagero*;
        # with Strict the browser would not send the cookie on it and every
        # login would fail its state check.
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.profile != "sandbox" or https,
        "SESSION_COOKIE_PATH": "/",
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }


def _instance_secret_key(instance_path: str) -> str:
    """Sandbox only: a random key created once in the instance folder.

    ``O_EXCL`` makes the first worker's key win when several start at once,
    so every worker and every restart signs with the same key.
    """
    import secrets

    path = os.path.join(instance_path, "secret_key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            with open(path, encoding="ascii") as fh:
                key = fh.read().strip()
            if key:
                return key
            import time

            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty; delete it and start again") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)
    return key
