"""Bearer-token checks for the API ("Making an API request using an access token").

Written by hand rather than with Authlib's ``ResourceProtector`` because RFC 6750 §3.1 wants
a request with no credentials answered with a bare challenge (no error code), which
Authlib's ``missing_authorization`` error does not do.
"""

from __future__ import annotations

from flask import request

from sandbox import faults
from sandbox.authorization_server import REALM
from sandbox.models import Token
from sandbox.state import SandboxState


class ApiError(Exception):
    """An API failure, rendered as a JSON body with the status and headers it carries."""

    def __init__(
        self, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}


def _challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    value = f'Bearer realm="{REALM}"'
    if error:
        value += f', error="{error}", error_description="{description}"'
    return {"WWW-Authenticate": value}


def invalid_token(description: str) -> ApiError:
    """RFC 6750 §3.1: the token is unknown, expired or revoked; get a new one."""
    return ApiError(401, "invalid_token", description, _challenge("invalid_token", description))


def authenticate_bearer(state: SandboxState) -> Token:
    """The live access token sent as ``Authorization: Bearer ...`` (RFC 6750 §2.1).

    :raises ApiError: 401 with the challenge RFC 6750 §3 prescribes.
    """
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    # The scheme is case-insensitive (RFC 9110 §11.1).
    if scheme.lower() != "bearer" or not value:
        raise ApiError(401, "unauthorized", "An access token is required", _challenge())
    if faults.API_401 in state.faults:
        raise invalid_token("The access token is not valid (sandbox fault api_401)")
    token, reason = state.check_access_token(value)
    if token is None:
        raise invalid_token(reason)
    return token
