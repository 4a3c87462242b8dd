"""The id_token Pagero adds to the token response when ``openid`` was granted (Step 3).

Authlib's own ``OpenIDCode`` extension decides from the ``scope`` in the token response,
but Pagero always answers ``"scope": ""``; so this small extension hooks the same place
(``after_create_token_response``) and decides from the scope stored with the grant.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749.grants import BaseGrant
from authlib.oauth2.rfc6749.util import scope_to_list
from joserfc import jwt
from joserfc.jwk import OctKey

from sandbox import faults
from sandbox.models import Token

if TYPE_CHECKING:
    from sandbox.state import SandboxState


def id_token_claims(
    token: Token, *, issuer: str, now: float, lifetime: int, nonce: str | None
) -> dict[str, Any]:
    """Claims of an id_token for the user behind ``token`` (OIDC Core §2, §5.1).

    ``sub`` is the user's Pagero ``publicid`` (the token response's ``"claims": "publicid"``);
    the company claims are what a Pagero integration needs to pick the company to act for.
    """
    login = token.login
    user = login.user
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.publicid,
        "aud": token.family.client_id,
        "exp": int(now) + lifetime,
        "iat": int(now),
        "auth_time": login.auth_time,
    }
    if nonce:
        claims["nonce"] = nonce
    claims.update(
        name=user.name,
        email=user.email,
        preferred_username=user.username,
        publicid=user.publicid,
        company_id=user.company_id,
        company_name=user.company_name,
    )
    return claims


class IdTokenExtension:
    """Authlib grant extension: sign and attach an id_token when ``openid`` was granted."""

    def __call__(self, grant: BaseGrant) -> None:
        grant.register_hook("after_create_token_response", self.add_id_token)

    def add_id_token(self, grant: BaseGrant, response: tuple[int, dict, list]) -> None:
        _, body, _ = response
        state = grant.server.state
        token = state.find_token(body["access_token"])
        if token is None or "openid" not in scope_to_list(token.scope):
            return
        code = grant.request.authorization_code
        # The nonce binds the id_token to the browser's authorization request (OIDC Core
        # §3.1.2.1); a refreshed id_token has no such request, so it carries none (§12.2).
        nonce = code.nonce if code is not None else None
        claims = id_token_claims(
            token,
            issuer=state.settings.issuer,
            now=state.now(),
            lifetime=state.settings.access_token_ttl,
            nonce=nonce,
        )
        id_token = sign(state, claims)
        state.record_secret(id_token)
        body["id_token"] = id_token


def sign(state: SandboxState, claims: dict[str, Any]) -> str:
    """Sign the id_token, spoiled the way any ``id_token_*`` fault switched on asks."""
    active = state.faults
    if faults.ID_TOKEN_WRONG_AUD in active:
        claims["aud"] = "another-client"
    if faults.ID_TOKEN_WRONG_ISS in active:
        claims["iss"] = faults.WRONG_ISSUER
    if faults.ID_TOKEN_EXPIRED in active:
        claims["exp"] = int(state.now()) - 3600
        claims["iat"] = claims["exp"] - state.settings.access_token_ttl
    if faults.ID_TOKEN_WRONG_NONCE in active:
        claims["nonce"] = secrets.token_urlsafe(32)
    if faults.ID_TOKEN_NO_NONCE in active:
        claims.pop("nonce", None)
    if faults.ID_TOKEN_ALG_NONE in active:
        return f"{_b64json({'alg': 'none', 'typ': 'JWT'})}.{_b64json(claims)}."
    if faults.ID_TOKEN_HS256 in active:
        key = OctKey.import_key(state.settings.client_secret)
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, key, algorithms=["HS256"])
    if faults.ID_TOKEN_UNKNOWN_KID in active:
        return state.keys.sign_with_unpublished_key(claims)
    token = state.keys.sign(claims)
    if faults.ID_TOKEN_BAD_SIGNATURE in active:
        header, _payload, signature = token.split(".")
        forged = _b64json({**claims, "sub": "someone-else"})
        token = f"{header}.{forged}.{signature}"
    return token


def _b64json(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
