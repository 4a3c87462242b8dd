"""The server metadata document (OpenID Connect Discovery 1.0, RFC 8414), checked, and
what it may change in the settings.

:mod:`pagero_oauth.discovery` reads the document and decides when; this module says what
a document must hold to be trusted (exactly ``PAGERO_ISSUER``, absolute endpoint URLs,
https outside the sandbox) and how its endpoints fill the settings: explicit variables
win, then the document, never a profile default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .settings import Settings
from .urls import is_https, parse_url

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


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None
