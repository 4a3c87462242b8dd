"""Server metadata: where Pagero says its endpoints and keys are (OpenID Connect
Discovery 1.0, RFC 8414).

What the metadata may decide, and what it may not:

* Endpoints (authorize, token, JWKS, revocation, end-session) come from the
  metadata unless the operator set the variable: explicit variables win, then
  the metadata. A profile's default is never used: when the metadata is read,
  it is the truth about the server, so an optional endpoint it does not list
  (say, revocation) is absent; while it cannot be read (unreachable, or refused),
  an endpoint the operator did not set is unknown (:meth:`Discovery.endpoint`
  raises :class:`EndpointUnknown`). Failing closed is the point: a refused
  document may mean the app is pointed at the wrong server, and a default
  (Pagero's production URLs, or localhost in the sandbox) would be a guess.
* ``authorization_response_iss_parameter_supported`` can only tighten: once
  the server declares that it sends ``iss``, a callback without one is refused
  whatever ``PAGERO_REQUIRE_ISS`` says (RFC 9207 section 2.4).
* ``id_token_signing_alg_values_supported`` narrows the algorithms an id_token
  may use (:mod:`pagero_oauth.id_token` never accepts ``none`` or HMAC anyway).
* The issuer is never taken from the metadata. A document naming another
  issuer than ``PAGERO_ISSUER`` is refused whole (OIDC Discovery section 4.3,
  RFC 8414 section 3.3): following it would send codes and client secrets to
  whichever server wrote it, the mix-up attack of RFC 9700 section 4.4.

Why lazily, never at start-up: the app may start before the network (or
Pagero) is reachable, and a web server that hangs or dies at boot for that is
worse than one that logs the problem, answers 503 until it can read the
document, and reports it on /readyz. So the document is read on first use with
a short timeout, kept for :attr:`Discovery.MAX_AGE`, and read again after a
failure (its own, or a failing endpoint it named) at most every
:attr:`Discovery.RETRY_INTERVAL`.

Authlib ships validators for these documents, but they insist on https even
for the local sandbox and refuse a whole document over a member this app never
reads, so the few checks that matter here are written out in :mod:`pagero_oauth.metadata`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from .metadata import ENDPOINTS, MetadataRefused, ServerMetadata, apply
from .settings import Settings

log = logging.getLogger(__name__)


class EndpointUnknown(LookupError):
    """An endpoint is wanted while the metadata cannot be read and the operator did
    not set the endpoint's variable. ``failure`` is :attr:`Discovery.failure`."""

    def __init__(self, attr: str, failure: str | None):
        self.attr = attr
        self.env = next(env for a, _member, env in ENDPOINTS if a == attr)
        self.failure = failure
        super().__init__(f"{self.env} is unknown: the server metadata is {failure or 'not read'}")


class Discovery:
    """The server metadata of one issuer, read lazily and kept (thread-safe).

    ``fetch`` takes the URL and returns the parsed JSON, raising
    ``requests.RequestException`` or ``ValueError`` when it cannot.
    """

    #: Keep a good document this long; endpoints and keys move rarely.
    MAX_AGE = 24 * 3600.0
    #: After a failure, wait at least this long before asking again, so an
    #: unreachable metadata host costs one timeout per interval, not per request.
    RETRY_INTERVAL = 30.0
    #: How long :meth:`endpoint` waits for a first read another request has under
    #: way (that read is bounded by its own timeouts) before giving up.
    FIRST_READ_WAIT = 10.0

    def __init__(
        self,
        configured: Settings,
        fetch: Callable[[str], Any],
        clock: Callable[[], float] = time.monotonic,
    ):
        if not configured.metadata_url:
            raise ValueError("discovery needs a metadata URL")
        self.configured = configured
        self.url = configured.metadata_url
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: ServerMetadata | None = None
        self._effective = apply(configured, None)
        #: Set once the first read has ended, whichever way.
        self._first_read = threading.Event()
        self._read_at: float | None = None
        self._tried_at: float | None = None
        #: Why the last read failed, for /readyz: "unreachable", "http_error",
        #: "not_json" or "refused" (read, but not trusted); None after a good read.
        self.failure: str | None = None
        #: The exception of the last failed read (its cause is named on error pages).
        self.last_error: Exception | None = None

    def metadata(self) -> ServerMetadata | None:
        """The current metadata, read now if due; None while it cannot be read.

        One thread reads; the others go on with what is cached meanwhile instead
        of queueing behind a slow host (:meth:`endpoint` waits for a first read).
        """
        with self._lock:
            now = self._clock()
            fresh = self._read_at is not None and now - self._read_at < self.MAX_AGE
            if fresh or (self._tried_at is not None and now - self._tried_at < self.RETRY_INTERVAL):
                return self._metadata
            self._tried_at = now  # this thread reads; the others see a recent try
        try:
            metadata = ServerMetadata.parse(
                self._fetch(self.url),
                expected_issuer=self.configured.issuer,
                https_only=self.configured.profile != "sandbox",
            )
        except (requests.RequestException, ValueError) as exc:
            self.failure, self.last_error = _failure_kind(exc), exc
            self._log_failure(exc)
            # A document that was good stays in use until a new one is.
            return self._metadata
        else:
            with self._lock:
                self._metadata, self._read_at, self.failure = metadata, now, None
                self.last_error = None
                self._effective = apply(self.configured, metadata)
            self._log_success(metadata)
            return metadata
        finally:
            self._first_read.set()

    def settings(self) -> Settings:
        """The configured settings with the metadata applied (reads it when due).

        While no document could be read, the endpoints the operator did not set are None.
        """
        self.metadata()
        return self._effective

    def endpoint(self, attr: str) -> str | None:
        """The URL of one endpoint (a Settings attribute in :data:`ENDPOINTS`; None: the
        server has none), reading the metadata when due.

        Raises :class:`EndpointUnknown` while no document could be read and the
        operator did not set the endpoint's variable.
        """
        if self.metadata() is None and not self._first_read.is_set():
            self._first_read.wait(self.FIRST_READ_WAIT)  # another request is reading
        with self._lock:
            metadata, effective = self._metadata, self._effective
        if metadata is None and attr not in self.configured.explicit:
            raise EndpointUnknown(attr, self.failure)
        return getattr(effective, attr)

    def cached_settings(self) -> Settings:
        """What is known now, without reading anything (for response headers, probes)."""
        return self._effective

    def invalidate(self) -> None:
        """Something the metadata named failed: read it again at the next chance."""
        with self._lock:
            self._read_at = None

    def _log_failure(self, exc: Exception) -> None:
        if isinstance(exc, MetadataRefused):
            why = f"refused: {exc}"
        elif isinstance(exc, requests.HTTPError) and exc.response is not None:
            why = f"HTTP {exc.response.status_code}"
        elif isinstance(exc, requests.RequestException):
            why = type(exc).__name__
        else:
            why = "the answer is not JSON"
        fallback = (
            "the last good metadata"
            if self._metadata
            else "only endpoints set explicitly; logins answer 503 meanwhile"
        )
        log.error(
            "server metadata from PAGERO_METADATA_URL %s not used (%s); using %s, "
            "trying again in %.0f s",
            self.url,
            why,
            fallback,
            self.RETRY_INTERVAL,
        )

    def _log_success(self, metadata: ServerMetadata) -> None:
        log.info(
            "server metadata read from %s (%s)", self.url, ", ".join(sorted(metadata.endpoints))
        )
        s = self.configured
        for attr, member, env in ENDPOINTS:
            mine, theirs = getattr(s, attr), metadata.endpoints.get(member)
            if attr in s.explicit and mine != theirs:
                log.warning(
                    "%s=%s overrides the metadata's %s (%s)", env, mine or "(empty)", member, theirs
                )
        for warning in metadata.auth_method_warnings(s.token_auth_method):
            log.warning("%s", warning)


def _failure_kind(exc: Exception) -> str:
    """A failed read in one word: was the host reached, and what was wrong with it?"""
    if isinstance(exc, MetadataRefused):
        return "refused"
    if isinstance(exc, requests.HTTPError):
        return "http_error"
    if isinstance(exc, requests.RequestException):
        return "unreachable"
    return "not_json"
