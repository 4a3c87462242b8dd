"""Logging with a last line of defence against secrets.

The app never logs a token or code on purpose (the tests check that); the
redaction filter catches what a library or a traceback might print anyway:
``Authorization`` headers, ``code=``/``token=`` parameters, JWTs and Pagero's
opaque ``_0XBPWQQ_``-style tokens.
"""

from __future__ import annotations

import logging
import re

from config import Settings

_PATTERNS = [
    (re.compile(r"(?i)(authorization:?\s*(?:bearer|basic)\s+)[^\s'\"]+"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)\b((?:code|state|access_token|refresh_token|id_token|client_secret|token)"
            r"[=:]\s*['\"]?)[^&\s'\",]+"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"_[0-9]XBPWQQ_[0-9A-Fa-f-]{8,}"), "[redacted-token]"),
]


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual (including tracebacks), then removes secrets from the result."""

    def __init__(self, fmt: str, secrets: tuple[str, ...] = ()):
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


_HANDLER_NAME = "pagero-client"


def configure_logging(settings: Settings) -> None:
    """Attach one redacting handler to the ``app`` logger (idempotent per process)."""
    logger = logging.getLogger("app")
    logger.setLevel(settings.log_level.upper())
    for handler in logger.handlers:
        if handler.get_name() == _HANDLER_NAME:
            handler.setFormatter(_formatter(settings))
            return
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_formatter(settings))
    logger.addHandler(handler)


def _formatter(settings: Settings) -> RedactingFormatter:
    return RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s", secrets=(settings.client_secret,)
    )
