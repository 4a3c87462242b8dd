"""The Pagero reference client: a Flask app factory and nothing else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_settings

from . import auth, metrics, pages, proxy, qa, sessions
from .error_pages import register_error_handlers
from .extension import pagero
from .flask_config import FLASK_KEYS, flask_config
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
    flask_keys = {k: config.pop(k) for k in list(config) if k in FLASK_KEYS}
    settings = load_settings(overrides=config)

    app = Flask(
        __name__,
        instance_path=str(instance_path or PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(settings)
    app.config.update(flask_config(app, settings))
    app.config.update(flask_keys)

    init_request_ids(app)
    pagero.init_app(app)
    sessions.init_app(app, settings)
    qa.init_app(app, settings)
    register_error_handlers(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(proxy.bp)
    for blueprint in pages.BLUEPRINTS:
        app.register_blueprint(blueprint)
    metrics.init_app(app, settings)
    if settings.trusted_proxy_hops:
        # Only as many X-Forwarded-* entries as there are proxies we run: a
        # client can prepend its own, and trusting those would let it choose
        # its address and whether it came over https.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    https = settings.redirect_uri.startswith("https://")
    app.after_request(lambda response: apply_security_headers(response, https))
    return app
