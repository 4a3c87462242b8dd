"""gunicorn's access log line, built from the six fields it shows and nothing else.

gunicorn's stock ``Logger.access`` first builds a dictionary of every "atom" a
format string could name: all request headers, all response headers, every
WSGI environ entry, a formatted date and the Basic-auth user, on every request.
Under load that was 12 % of the CPU of a ``/healthz`` answer and 7 % of an API
call's (``py-spy --gil`` on a worker), while our line uses six of them. So the
line is written directly. It is the line gunicorn's own logger prints for
:data:`ACCESS_LOG_FORMAT` (``tests/test_gunicorn.py`` compares the two):

    127.0.0.1 "GET /profile HTTP/1.1" 200 5120 3ms rid=4f0c...

The path is ``PATH_INFO``, never the query string: ``/callback?code=...`` must
not reach a log file. No request header is logged (they carry cookies and
tokens); the response's ``X-Request-ID`` joins the line to the app's own lines.
A path with a control character in it (``/x%0A...`` decodes to a line break) is
written escaped (:func:`one_line`), so no request can forge a log line.
"""

from __future__ import annotations

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


class AccessLogger(Logger):
    """gunicorn's logger (error log, reopening, syslog, ...) with a cheaper access line."""

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
