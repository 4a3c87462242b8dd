"""Logging with a last line of defence against secrets.

The app never logs a token or code on purpose (the tests check that); the
redaction filter catches what a library or a traceback might print anyway:
``Authorization`` headers, ``code=``/``token=`` parameters, JWTs and Pagero's
opaque ``_0XBPWQQ_``-style tokens.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from secrets import token_hex

from flask import Flask, g, has_request_context, request

from config import Settings
from config.access_log import one_line

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


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``-`` outside a request),
    unless the caller named it (``extra={"request_id": ...}``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


def current_request_id() -> str:
    if has_request_context():
        return g.get("request_id", "-")
    return "-"


class RedactingFormatter(logging.Formatter):
    """Formats as usual (including tracebacks), then removes secrets from the result.

    The line itself is kept on one line: a request path or parameter in a message may
    hold a decoded ``%0A``, and must not start a line of its own that looks like ours.
    """

    def __init__(self, fmt: str, secrets: tuple[str, ...] = ()):
        super().__init__(fmt)
        self.secrets = secrets

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonFormatter(RedactingFormatter):
    """One JSON object per line, for log collectors; redacted like the text format."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        super().__init__("%(message)s", secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False), self.secrets)


_HANDLER_NAME = "pagero-client"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
#: A client-supplied X-Request-ID is kept only if it looks like an id (no log injection).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


#: The loggers of the web app and of the protocol core it runs.
LOGGERS = ("app", "pagero_oauth")


def configure_logging(settings: Settings) -> None:
    """Attach one redacting handler to each of :data:`LOGGERS` (idempotent per process)."""
    known = (settings.client_secret, settings.secret_key, settings.metrics_token)
    secrets = tuple(s for s in (*known, *(settings.secret_key_fallbacks or ())) if s)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(settings.log_level.upper())
        handler = next((h for h in logger.handlers if h.get_name() == _HANDLER_NAME), None)
        if handler is None:
            handler = logging.StreamHandler()
            handler.set_name(_HANDLER_NAME)
            handler.addFilter(RequestIdFilter())
            logger.addHandler(handler)
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter(secrets))
        else:
            handler.setFormatter(RedactingFormatter(TEXT_FORMAT, secrets))


def request_id(incoming: str) -> str:
    """The id of a request whose ``X-Request-ID`` header says ``incoming``."""
    return incoming if _REQUEST_ID.match(incoming) else token_hex(16)


def init_request_ids(app: Flask) -> None:
    """Every request gets an id: the proxy's ``X-Request-ID`` when it sent a sane one
    (so lines join up across services), else a fresh one; it is echoed back."""

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id(request.headers.get("X-Request-ID", ""))

    @app.after_request
    def echo_request_id(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        return response
