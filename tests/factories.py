"""Small builders shared by unit tests: settings for a profile, id_token claims, signing."""

from __future__ import annotations

import secrets
import time

from joserfc import jwt

from config import Settings, load_settings

#: A SECRET_KEY the production checks accept: made as the README says, once per test run.
GOOD_KEY = secrets.token_hex(32)
#: Issuer and client of the locally signed id_tokens.
ISSUER = "https://sso.example/oauth/v2/oauth-anonymous"
CLIENT = "client-1"


def production_settings(**env: str) -> Settings:
    """A valid production configuration, with ``env`` overriding any variable."""
    base = {
        "PAGERO_ENV": "production",
        "PAGERO_CLIENT_ID": "client",
        "PAGERO_CLIENT_SECRET": "s3cret-value",
        "PAGERO_REDIRECT_URI": "https://app.example.com/callback",
        "SECRET_KEY": GOOD_KEY,
    }
    return load_settings({**base, **env})


def id_claims(**changes) -> dict:
    """Valid id_token claims for ISSUER and CLIENT; a change to None removes a claim."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "u1", "aud": CLIENT, "iat": now, "exp": now + 300}
    claims["nonce"] = "n-1"
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key, claims: dict, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])


#: App settings under which every API call refreshes its access token first. The
#: sandbox's tokens live 600 s (``expires_in``); a margin a second shorter is honoured
#: (a margin as long as the token's life would be capped, pagero_oauth/tokens.py
#: ``refresh_margin``), and a moment after it is issued a token has at most 599 whole
#: seconds left, so it is always within the margin.
REFRESH_EVERY_CALL = {"PAGERO_REFRESH_MARGIN": "599"}
