"""The Pagero reference client: a Flask app factory and nothing else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Settings, load_settings

from . import (
    api_proxy,
    auth,
    flow_trace,
    health,
    metrics,
    metrics_page,
    pages,
    session_api,
    session_store,
)
from .error_pages import register_error_handlers
from .extension import pagero
from .logging_setup import configure_logging, init_request_ids
from .security import apply_security_headers

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

    init_request_ids(app)
    pagero.init_app(app)
    session_store.init_app(app, settings)
    flow_trace.init_app(app, settings)
    register_error_handlers(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api_proxy.bp)
    app.register_blueprint(session_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics_page.bp)
    metrics.init_app(app, settings)
    # Imported here, not at the top, so `python -m app.doctor` runs one copy of it.
    from .doctor import cli as pagero_cli

    app.cli.add_command(pagero_cli)
    if settings.trusted_proxy_hops:
        # Only as many X-Forwarded-* entries as there are proxies we run: a
        # client can prepend its own, and trusting those would let it choose
        # its address and whether it came over https.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    https = settings.redirect_uri.startswith("https://")
    app.after_request(lambda response: apply_security_headers(response, https))
    return app


_FLASK_KEYS = {"TESTING", "DEBUG", "SERVER_NAME", "PROPAGATE_EXCEPTIONS"}


def _flask_config(app: Flask, settings: Settings) -> dict[str, Any]:
    https = settings.redirect_uri.startswith("https://")
    return {
        "PAGERO_SETTINGS": settings,
        "SECRET_KEY": settings.secret_key or _instance_secret_key(app.instance_path),
        # Write the session only when it changed: a request that merely reads
        # it must never write an older copy over a newer one.
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
