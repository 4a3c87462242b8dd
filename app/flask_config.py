"""The Flask configuration the settings imply: cookie rules, the secret key, body limits."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from config import Settings

#: Plain Flask keys ``create_app`` passes through (tests set ``TESTING``).
FLASK_KEYS = {"TESTING", "DEBUG", "SERVER_NAME", "PROPAGATE_EXCEPTIONS"}


def flask_config(app: Flask, settings: Settings) -> dict[str, Any]:
    https = settings.redirect_uri.startswith("https://")
    return {
        "PAGERO_SETTINGS": settings,
        "SECRET_KEY": settings.secret_key or _instance_secret_key(app.instance_path),
        # Flask's own name for them; the stores' sealer opens records with these too.
        "SECRET_KEY_FALLBACKS": list(settings.secret_key_fallbacks or ()),
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
