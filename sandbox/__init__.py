"""Pagero sandbox: a local stand-in for Pagero Online's SSO and API.

Used by the demo, the tests and QA in place of ``sso.pageroonline.com`` and
``api.pageroonline.com``. The client app never imports it; it only talks HTTP to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["SESSION_COOKIE_NAME", "create_sandbox"]

#: The sandbox SSO cookie. The client app runs on the same host (cookies ignore ports), so
#: the name must differ from the app's.
SESSION_COOKIE_NAME = "pagero_sandbox_sso"


def create_sandbox(config: Mapping[str, Any] | None = None) -> Flask:
    """Build a sandbox app with its own in-memory state.

    :param config: ``SANDBOX_*`` settings; a key missing here is read from the environment,
        then defaulted (see :mod:`sandbox.settings`).
    :raises sandbox.settings.SandboxConfigError: naming every invalid setting.
    """
    # Imported here, not above: ``python -m sandbox`` imports this package before its
    # ``__main__``, which must monkey-patch for gevent before socket, ssl or threading load.
    from flask import Flask

    from sandbox import admin, api, discovery, sso, token_endpoint
    from sandbox.authorization_server import SERVER_KEY, SandboxAuthorizationServer
    from sandbox.settings import load_settings
    from sandbox.state import EXTENSION_KEY, SandboxState

    settings = load_settings(config)
    app = Flask(
        __name__,
        template_folder="templates",
        static_folder="static",
        # Out of the way of Pagero's own paths.
        static_url_path="/_sandbox/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    # Keep keys in the order Pagero documents its token response in.
    app.json.sort_keys = False  # type: ignore[attr-defined]

    state = SandboxState(settings)
    app.extensions[EXTENSION_KEY] = state
    app.extensions[SERVER_KEY] = SandboxAuthorizationServer(state)

    app.register_blueprint(sso.bp)
    app.register_blueprint(token_endpoint.bp)
    app.register_blueprint(admin.bp)
    # Browsers ask for /favicon.ico whatever a page links: the same small SVG.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.svg"))
    discovery.init_app(app, settings)
    api.init_app(app)
    return app
