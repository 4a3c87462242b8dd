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
reads, so the few checks that matter here are written out below.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from .settings import Settings
from .urls import is_https, parse_url

log = logging.getLogger(__name__)

#: (Settings attribute, metadata member, environment variable) for every
#: endpoint the metadata may supply.
ENDPOINTS = (
    ("authorize_url", "authorization_endpoint", "PAGERO_AUTHORIZE_URL"),
    ("token_url", "token_endpoint", "PAGERO_TOKEN_URL"),
    ("jwks_uri", "jwks_uri", "PAGERO_JWKS_URI"),
    ("revocation_url", "revocation_endpoint", "PAGERO_REVOCATION_URL"),
    ("end_session_url", "end_session_endpoint", "PAGERO_END_SESSION_URL"),
)
#: Without these the authorization-code flow cannot run (RFC 8414 section 2).
REQUIRED_MEMBERS = ("authorization_endpoint", "token_endpoint")


class MetadataRefused(ValueError):
    """The document was read but cannot be trusted or used; the message says why."""


class EndpointUnknown(LookupError):
    """An endpoint is wanted while the metadata cannot be read and the operator did
    not set the endpoint's variable. ``failure`` is :attr:`Discovery.failure`."""

    def __init__(self, attr: str, failure: str | None):
        self.attr = attr
        self.env = next(env for a, _member, env in ENDPOINTS if a == attr)
        self.failure = failure
        super().__init__(f"{self.env} is unknown: the server metadata is {failure or 'not read'}")


@dataclass(frozen=True)
class ServerMetadata:
    """The parts of the metadata document this app uses, checked."""

    issuer: str
    #: metadata member -> URL, for the members in :data:`ENDPOINTS` present.
    endpoints: Mapping[str, str]
    iss_parameter_supported: bool
    #: ``id_token_signing_alg_values_supported``, or None when not stated.
    id_token_algorithms: tuple[str, ...] | None
    #: ``token_endpoint_auth_methods_supported``, or None when not stated.
    token_auth_methods: tuple[str, ...] | None = None
    #: ``revocation_endpoint_auth_methods_supported``, or None when not stated.
    revocation_auth_methods: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, document: Any, *, expected_issuer: str, https_only: bool) -> ServerMetadata:
        """Check ``document`` against what this app expects; raise :class:`MetadataRefused`."""
        if not isinstance(document, dict):
            raise MetadataRefused("the document is not a JSON object")
        issuer = document.get("issuer")
        if issuer != expected_issuer:
            raise MetadataRefused(
                f"the document names the issuer {issuer!r}, but PAGERO_ISSUER is "
                f"{expected_issuer!r}; a metadata document must name exactly the issuer "
                "it is fetched for (OIDC Discovery 4.3, RFC 8414 3.3), otherwise it may "
                "point the app at another server (mix-up attack)"
            )
        endpoints: dict[str, str] = {}
        for _attr, member, _env in ENDPOINTS:
            value = document.get(member)
            if value is None:
                continue
            try:
                endpoints[member] = parse_url(value) if isinstance(value, str) else ""
            except ValueError:
                endpoints[member] = ""
            if not endpoints[member]:
                raise MetadataRefused(f"{member} is not an absolute http(s) URL")
            if https_only and not is_https(endpoints[member]):
                raise MetadataRefused(f"{member} is not an https:// URL")
        missing = [m for m in REQUIRED_MEMBERS if m not in endpoints]
        if missing:
            raise MetadataRefused("the document has no " + " and no ".join(missing))
        return cls(
            issuer=issuer,
            endpoints=endpoints,
            iss_parameter_supported=(
                document.get("authorization_response_iss_parameter_supported") is True
            ),
            id_token_algorithms=_strings(document.get("id_token_signing_alg_values_supported")),
            token_auth_methods=_strings(document.get("token_endpoint_auth_methods_supported")),
            revocation_auth_methods=_strings(
                document.get("revocation_endpoint_auth_methods_supported")
            ),
        )

    def auth_method_warnings(self, method: str) -> list[str]:
        """Where this server says it does not take client authentication ``method``.

        The app authenticates the same way at the token and the revocation endpoint
        (RFC 7009 section 2.1); a member the document leaves out is not held against it.
        """
        return [
            f"PAGERO_TOKEN_AUTH_METHOD {method} is not among the server's {member} "
            f"({', '.join(supported)})"
            for member, supported in (
                ("token_endpoint_auth_methods_supported", self.token_auth_methods),
                ("revocation_endpoint_auth_methods_supported", self.revocation_auth_methods),
            )
            if supported is not None and method not in supported
        ]


def apply(settings: Settings, metadata: ServerMetadata | None) -> Settings:
    """``settings`` with what ``metadata`` says filled in (see the module docstring).

    Without metadata, every endpoint the operator did not set is None: never a
    profile default.
    """
    if metadata is None:
        return settings.replace(
            **{attr: None for attr, _m, _e in ENDPOINTS if attr not in settings.explicit}
        )
    changes: dict[str, Any] = {}
    for attr, member, _env in ENDPOINTS:
        if attr not in settings.explicit:
            changes[attr] = metadata.endpoints.get(member)
    if metadata.iss_parameter_supported:
        changes["require_iss"] = True
    return settings.replace(**changes)


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


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None
