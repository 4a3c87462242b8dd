"""gunicorn's access log line, built from the six fields it shows and nothing else.

gunicorn's stock ``Logger.access`` first builds a dictionary of every "atom" a
format string could name: all request headers, all response headers, every
WSGI environ entry, a formatted date and the Basic-auth user, on every request.
Under load that was 12 % of the CPU of a ``/healthz`` answer and 7 % of an API
call's (``py-spy --gil`` on a worker), while our line uses six of them. So the
line is written directly. It is the line gunicorn's own logger prints for
:data:`ACCESS_LOG_FORMAT` (``tests/integration/test_gunicorn.py`` compares the two):

    127.0.0.1 "GET /profile HTTP/1.1" 200 5120 3ms rid=4f0c...

The path is ``PATH_INFO``, never the query string: ``/callback?code=...`` must
not reach a log file. No request header is logged (they carry cookies and
tokens); the response's ``X-Request-ID`` joins the line to the app's own lines.
A path with a control character in it (``/x%0A...`` decodes to a line break) is
written escaped (:func:`one_line`), so no request can forge a log line.

gunicorn's error log names the request target as it came, query string included
("Error handling request GET /x?code=..." when an answer fails, "Invalid request
from ip=...: Invalid Request Line '...'"): :class:`HideQueryStrings` removes every
query string from those lines and their tracebacks before they are written.
"""

from __future__ import annotations

import logging
import re
import traceback

from gunicorn.glogging import Logger

#: The same line in gunicorn's format language (``%(M)s`` is the duration in ms).
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x00``), so it stays on
    its line in a log file; printable text comes back unchanged, at no cost."""
    if text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


#: A query string in a request target: from a '?' up to the next space or quote (the
#: end of the target in gunicorn's messages).
_QUERY = re.compile(r"\?[^\s'\"]+")
HIDDEN_QUERY = "?[query-hidden]"


def hide_queries(text: str) -> str:
    """``text`` with the query string of every URL or request target in it replaced."""
    return _QUERY.sub(HIDDEN_QUERY, text) if "?" in text else text


class HideQueryStrings(logging.Filter):
    """On gunicorn's error log: no query string (``/callback?code=...``) in a message or
    its traceback, and the message on one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = one_line(hide_queries(message)), ()
        if record.exc_info and not record.exc_text:
            # Formatted here, so the handler's formatter writes this text (it keeps a
            # record's exc_text) instead of formatting the exception itself.
            record.exc_text = hide_queries(logging.Formatter().formatException(record.exc_info))
        return True


class AccessLogger(Logger):
    """gunicorn's logger (error log, reopening, syslog, ...) with a cheaper access line,
    and an error log without query strings (:class:`HideQueryStrings`)."""

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        if not any(isinstance(f, HideQueryStrings) for f in self.error_log.filters):
            self.error_log.addFilter(HideQueryStrings())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        try:
            status = resp.status
            if isinstance(status, str):
                status = status.split(None, 1)[0]
            request_id = next(
                (value for name, value in resp.headers if name.lower() == "x-request-id"), "-"
            )
            self.access_log.info(
                '%s "%s %s %s" %s %s %dms rid=%s',
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD", "-"),
                one_line(environ.get("PATH_INFO", "-")),
                environ.get("SERVER_PROTOCOL", "-"),
                status,
                getattr(resp, "sent", None),
                request_time.seconds * 1000 + request_time.microseconds // 1000,
                request_id,
            )
        except Exception:
            self.error(traceback.format_exc())
