"""The id_token Pagero adds to the token response when ``openid`` was granted (Step 3).

Authlib's own ``OpenIDCode`` extension decides from the ``scope`` in the token response,
but Pagero always answers ``"scope": ""``; so this small extension hooks the same place
(``after_create_token_response``) and decides from the scope stored with the grant.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.grants import BaseGrant
from authlib.oauth2.rfc6749.util import scope_to_list

from sandbox.models import Token


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
        id_token = state.keys.sign(claims)
        state.record_secret(id_token)
        body["id_token"] = id_token
