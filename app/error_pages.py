"""The one place that turns an error into an answer: a page or RFC 9457 problem+json.

The errors themselves are the core's typed family (:mod:`pagero_oauth.errors`). The
handler renders ``templates/error.html`` for browsers and an ``application/problem+json``
document for scripts, chosen by the ``Accept`` header, so views never build error
responses by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request, url_for
from werkzeug.exceptions import ClientDisconnected, HTTPException

from pagero_oauth.errors import NotLoggedIn, PageroError, RequestBodyTimeout
from pagero_oauth.failures import DOCTOR

from .extension import pagero

log = logging.getLogger(__name__)


def wants_json() -> bool:
    """Scripts (fetch, curl) get problem+json; browsers navigating get HTML."""
    if request.path.startswith(("/api-proxy", "/session")):
        return True
    best = request.accept_mimetypes.best_match(
        ["text/html", "application/json", "application/problem+json"]
    )
    return best in ("application/json", "application/problem+json")


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem document; ``type`` is a stable URN per error code."""
    body = {"type": f"urn:pagero-client:error:{code}", "title": title, "status": status}
    body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def render_error(error: PageroError) -> Response:
    g.pagero_error = error  # for the flow trace (app/qa/flow_trace.py)
    settings = pagero.configured
    extra = dict(error.details)
    description, to_check = error.description, None
    if error.failure is not None:
        if settings.profile == "production":
            # The person in front of the page cannot fix a URL; the operators read the
            # log line the handler wrote (variable, URL, cause).
            description += " The app's log has the details for its operators."
        else:
            to_check = error.failure.what_to_check()
            extra.update(error.failure.facts(), check=to_check)
    if isinstance(error, NotLoggedIn):
        # On the canonical host, so a script that follows it keeps one cookie jar.
        extra["login_url"] = settings.canonical_origin + url_for("auth.login")
    if wants_json():
        # Pages that show only ``detail`` (the Documents page) say what to check too.
        detail = f"{description} {to_check}" if to_check else description
        response = problem(error.status, error.code, error.title, detail, **extra)
    else:
        html = render_template(
            "error.html",
            error=error,
            description=description,
            details=error.details,
            to_check=to_check,
            doctor=DOCTOR,
        )
        response = Response(html, status=error.status, mimetype="text/html")
    if error.status == 503:
        response.headers["Retry-After"] = "1"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(PageroError)
    def handle_pagero_error(error: PageroError):
        level = logging.ERROR if error.status >= 500 else logging.WARNING
        log.log(level, "%s %s -> %s", request.method, request.path, error.log_line())
        return render_error(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        if isinstance(error, ClientDisconnected) and isinstance(error.__context__, TimeoutError):
            # Werkzeug reports a body read that timed out as a disconnect; it was the
            # client's silence (GUNICORN_CLIENT_TIMEOUT, config/gunicorn.py).
            return handle_pagero_error(
                RequestBodyTimeout("The request body stopped arriving before its end.")
            )
        generic = PageroError(error.description or error.name)
        generic.status = error.code or 500
        generic.code = error.name.lower().replace(" ", "_")
        generic.title = error.name
        generic.restart_login = False
        response = render_error(generic)
        # The exception's own headers: a 405's Allow (RFC 9110 section 15.5.6, a MUST),
        # a 416's Content-Range, a 401's WWW-Authenticate. Not its HTML's type.
        for name, value in error.get_headers(request.environ):
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        # The traceback goes through the redaction filter (app.logging_setup).
        log.error(
            "unhandled %s on %s %s",
            type(error).__name__,
            request.method,
            request.path,
            exc_info=error,
        )
        generic = PageroError("An unexpected error occurred. It has been logged.")
        generic.status = 500
        generic.code = "internal_error"
        generic.restart_login = False
        return render_error(generic)
