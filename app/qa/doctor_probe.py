"""The doctor's HTTP: one request per check, and one wait per silent server.

A server that accepts the connection and never answers costs a whole read timeout
(``PAGERO_HTTP_READ_TIMEOUT``, 10 s by default). Pagero's endpoints share one host, so
asking each of them in turn would make the doctor wait once per endpoint for the same
silence. :class:`Probe` remembers every origin (scheme, host, port) that let a request
time out; a later request to that origin is not sent, and its :class:`Reached` says so,
pointing at the line that waited. Checks that need an answer from an endpoint that was not
reached are then skipped with that reason (:mod:`app.qa.doctor`).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests


@dataclass
class Reached:
    """What one request found: ``status`` ``ok`` or ``fail``, a line's ``detail``, the
    ``response`` when one came, and ``why`` in a word or two when none usable came (for
    the checks skipped because of it, whose line points at this one)."""

    status: str
    detail: str
    response: requests.Response | None = None
    why: str = ""


@dataclass
class Probe:
    """Requests for the doctor's checks over ``http``, with ``wait`` (connect, read)."""

    http: requests.Session
    wait: tuple[float, float]
    #: origin -> how it was silent: "no answer" or "no connection".
    silent: dict[str, str] = field(default_factory=dict)

    def reach(self, method: str, url: str, **kwargs) -> Reached:
        """DNS, then TLS and HTTP in one request; a 5xx is a failure, any other answer is
        not (without parameters or a token most endpoints rightly answer 400 or 401)."""
        parts = urlsplit(url)
        origin = origin_of(url)
        if origin in self.silent:
            why = self.silent[origin]
            return Reached("fail", f"not asked again: {origin} gave {why} above", why=why)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = {
                a[4][0] for a in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
            }
        except (socket.gaierror, UnicodeError) as exc:
            detail = f"DNS: {parts.hostname} does not resolve ({exc})"
            return Reached("fail", detail, why="a host name that does not resolve")
        dns = f"DNS {parts.hostname} → {', '.join(sorted(addresses)[:2])}"
        started = time.monotonic()
        try:
            response = self.http.request(
                method, url, timeout=self.wait, allow_redirects=False, **kwargs
            )
        except requests.exceptions.SSLError as exc:
            return Reached("fail", f"{dns}; TLS failed: {reason(exc)}", why="TLS failed")
        except requests.exceptions.ConnectTimeout:
            return self._silent(origin, dns, "no connection", self.wait[0])
        except requests.exceptions.ConnectionError as exc:
            return Reached("fail", f"{dns}; cannot connect ({reason(exc)})", why="cannot connect")
        except requests.exceptions.Timeout:
            return self._silent(origin, dns, "no answer", self.wait[1])
        ms = (time.monotonic() - started) * 1000
        tls = "; TLS verified" if parts.scheme == "https" else ""
        detail = f"{dns}{tls}; HTTP {response.status_code} in {ms:.0f} ms"
        if response.status_code >= 500:
            return Reached("fail", detail, response, why=f"HTTP {response.status_code}")
        return Reached("ok", detail, response)

    def _silent(self, origin: str, dns: str, what: str, seconds: float) -> Reached:
        self.silent[origin] = what
        return Reached("fail", f"{dns}; {what} within {seconds} s", why=what)


def origin_of(url: str) -> str:
    """scheme://host:port, with the scheme's default port spelt out."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def reason(exc: Exception) -> str:
    """The operating system's words (``[Errno 111] Connection refused``), not urllib3's."""
    inner = exc.args[0] if exc.args else exc
    inner = getattr(inner, "reason", inner)  # urllib3's MaxRetryError wraps the cause
    text = str(inner) or type(inner).__name__
    _, found, rest = text.partition("Failed to establish a new connection: ")
    text = rest if found else text
    return text if len(text) < 160 else text[:157] + "..."
