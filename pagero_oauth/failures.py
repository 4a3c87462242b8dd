"""Why a call to one of Pagero's endpoints got no usable answer, said for whom it helps.

To the person in front of the page a timeout, a refused connection, a host name that does
not resolve and a certificate that is not trusted all look alike: no answer. They need
different fixes, and only some of them pass by themselves. So each failure is classified
once (:func:`cause_of`) into a :class:`Failure` that knows

* whether trying again can help (a timeout, a broken-off connection, a 5xx: yes; a wrong
  host name, a closed port, a TLS failure, a 404: no, something must be fixed first);
* which variable the URL came from and what to check, for the integrator or QA in the
  sandbox and staging profiles (app/error_pages.py shows it, with the
  doctor command);
* the same facts as one log line, which is all production shows of them: its page stays
  generic, and its operators read the log.

The URL is always shown without its query string, fragment or user info, so no secret a
URL might carry reaches a page or a log line.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

#: The command that checks every endpoint and the credentials (app/qa/doctor.py).
DOCTOR = "flask --app wsgi pagero doctor"

#: Causes after which the same request may well succeed a little later.
PASSING = {"read_timeout", "connect_timeout", "connection_broken"}


def shown_url(url: str) -> str:
    """``scheme://host[:port]/path``: no query string, fragment or ``user:password@``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps (urllib3 keeps the cause in ``reason``,
    requests in ``args``), each once."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo += [current.__cause__, current.__context__]
    return seen


def cause_of(exc: BaseException) -> str:
    """A failed call in one word: ``tls_failure``, ``dns_failure``, ``connection_refused``,
    ``connect_timeout``, ``read_timeout`` or ``connection_broken`` (anything else)."""
    chain = _chain(exc)

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(e, kinds) for e in chain)

    if has(ssl.SSLError, urllib3.exceptions.SSLError, requests.exceptions.SSLError):
        return "tls_failure"
    if has(socket.gaierror, urllib3.exceptions.NameResolutionError):
        return "dns_failure"
    if has(ConnectionRefusedError):
        return "connection_refused"
    if has(requests.ConnectTimeout) or any(
        isinstance(e, urllib3.exceptions.ConnectTimeoutError)
        and not isinstance(e, urllib3.exceptions.NewConnectionError)
        for e in chain
    ):
        return "connect_timeout"
    if has(requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return "read_timeout"
    return "connection_broken"


@dataclass(frozen=True)
class Failure:
    """One endpoint that gave no usable answer: where its URL came from, and why."""

    #: The variable the URL came from, e.g. ``PAGERO_TOKEN_URL``.
    variable: str
    url: str
    #: :func:`cause_of`'s word, ``http_status`` (see ``status``), or ``metadata_refused`` /
    #: ``not_json`` (read, but not usable: ``note`` says why).
    cause: str
    status: int | None = None
    #: The seconds waited, and the variable that set them (timeouts only).
    waited: float | None = None
    timeout_variable: str | None = None
    note: str | None = None
    #: A last sentence for whoever can fix it (e.g. another variable that would do).
    hint: str | None = None
    #: Further facts for problem+json outside production (never secrets).
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", shown_url(self.url))

    @classmethod
    def from_exception(
        cls, variable: str, url: str, exc: BaseException, settings: Any, **extra: Any
    ) -> Failure:
        """A call that raised ``exc``; ``settings`` gives the timeouts it waited."""
        response = getattr(exc, "response", None)
        if isinstance(exc, requests.HTTPError) and response is not None:
            return cls(variable, url, "http_status", status=response.status_code, **extra)
        cause = cause_of(exc)
        waited = timeout_variable = None
        if cause == "read_timeout":
            waited, timeout_variable = settings.http_read_timeout, "PAGERO_HTTP_READ_TIMEOUT"
        elif cause == "connect_timeout":
            waited, timeout_variable = settings.http_connect_timeout, "PAGERO_HTTP_CONNECT_TIMEOUT"
        return cls(variable, url, cause, waited=waited, timeout_variable=timeout_variable, **extra)

    @property
    def retry_helps(self) -> bool:
        if self.cause == "http_status":
            return self.status is not None and self.status >= 500
        return self.cause in PASSING

    def plainly(self, what: str) -> str:
        """What happened, for anyone: ``what`` is e.g. "Pagero's login service"."""
        if self.cause == "read_timeout":
            said = f"{_capital(what)} did not answer in time."
        elif self.cause == "connect_timeout":
            said = f"The app could not connect to {what} in time."
        elif self.cause == "http_status" and self.retry_helps:
            said = f"{_capital(what)} answered HTTP {self.status}, an error on Pagero's side."
        elif self.cause == "connection_broken":
            said = f"The connection to {what} broke off before an answer."
        else:
            said = (
                f"The app could not connect to {what}: its connection settings need "
                "fixing, so trying again will not help until they are."
            )
        return said + (" Please try again in a few minutes." if self.retry_helps else "")

    def what_to_check(self) -> str:
        """For the integrator or QA: the variable, the URL, and what to look at."""
        return self._check() + (f" {self.hint}" if self.hint else "")

    def _check(self) -> str:
        at = f"{self.variable} = {self.url}"
        within = f"{self.timeout_variable} ({self.waited:g} s)" if self.timeout_variable else ""
        host = urlsplit(self.url).netloc
        if self.cause == "read_timeout":
            return (
                f"{at} did not answer within {within or f'{self.waited:g} s'}. "
                "Pagero may be slow or down: try again later."
            )
        if self.cause == "connect_timeout":
            return (
                f"{at} could not be connected to within {within}. "
                "Try again later; if it lasts, check that this "
                f"machine can reach {host} (firewall, outgoing proxy)."
            )
        if self.cause == "dns_failure":
            return f"The host name in {at} does not resolve. Check {self.variable} for a typo."
        if self.cause == "connection_refused":
            return (
                f"{at} refused the connection: nothing listens on {host}. Check the host "
                f"and port in {self.variable}, and that the server there is running."
            )
        if self.cause == "tls_failure":
            return (
                f"The TLS connection to {at} failed: its certificate is not trusted here or "
                f"does not name the host. Check {self.variable}; if the server uses a "
                "private CA, set REQUESTS_CA_BUNDLE to that CA's certificate file."
            )
        if self.cause == "http_status" and self.retry_helps:
            return f"{at} answered HTTP {self.status}, a server error: try again later."
        if self.cause == "http_status":
            return (
                f"{at} answered HTTP {self.status}: it may not be the right address. "
                f"Check {self.variable}."
            )
        if self.cause == "metadata_refused":
            return f"{at} was read but not used: {self.note}. Check it and PAGERO_ISSUER."
        if self.cause == "not_json":
            return f"{at} answered with something that is not JSON. Check {self.variable}."
        return f"The connection to {at} broke off before an answer: try again later."

    def facts(self) -> dict[str, Any]:
        """For problem+json outside production."""
        found = {"variable": self.variable, "url": self.url, "cause": self.cause}
        if self.status is not None:
            found["upstream_status"] = self.status
        if self.waited is not None:
            found["timeout_seconds"] = self.waited
        return {**found, **self.extra, "retry_helps": self.retry_helps, "doctor": DOCTOR}

    def log_text(self) -> str:
        status = f" status={self.status}" if self.status is not None else ""
        return f"variable={self.variable} url={self.url} cause={self.cause}{status}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
