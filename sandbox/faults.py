"""Fault scenarios: switches that make the sandbox misbehave, or differ, the way a real
server can.

Each name is switched on through ``SANDBOX_FAULTS`` (comma-separated), by mutating
``SandboxState.faults`` in a test, or with ``POST /_sandbox/faults`` from another process.
The client must survive every one of them without leaking a secret or crashing.
"""

#: Authorization redirects carry an ``iss`` that is not ours (RFC 9207 §2.4 mix-up defence).
WRONG_ISS = "wrong_iss"
#: Authorization redirects carry no ``iss`` at all.
MISSING_ISS = "missing_iss"
#: The token endpoint sleeps ``SANDBOX_SLOW_SECONDS`` before answering (client timeouts).
TOKEN_SLOW = "token_slow"  # noqa: S105 - a fault name, not a secret
#: The token endpoint answers 500 with an HTML body, like a broken proxy.
TOKEN_500 = "token_500"  # noqa: S105 - a fault name, not a secret
#: The token endpoint answers 200 with a body that is not JSON.
TOKEN_MALFORMED = "token_malformed"  # noqa: S105 - a fault name
#: Every refresh_token grant is refused with ``invalid_grant`` (RFC 6749 §5.2).
REFRESH_INVALID_GRANT = "refresh_invalid_grant"
#: Access tokens issued from now on live :data:`SHORT_ACCESS_TOKEN_TTL` seconds
#: (``expires_in`` says so too), so expiry and refresh can be watched in real time.
SHORT_ACCESS_TOKENS = "short_access_tokens"
SHORT_ACCESS_TOKEN_TTL = 5
#: Every API call is refused with 401 ``invalid_token`` (RFC 6750 §3.1).
API_401 = "api_401"
#: Every API call answers 503 with a JSON error.
API_503 = "api_503"
#: Every API call sleeps ``SANDBOX_SLOW_SECONDS`` before answering (proxy timeouts).
API_SLOW = "api_slow"

# -- discovery, revocation and logout ---------------------------------------------------
#: The metadata document names another issuer, with endpoints on that issuer's host: what
#: a document from the wrong server looks like (OIDC Discovery §4.3, mix-up defence).
METADATA_WRONG_ISSUER = "metadata_wrong_issuer"
#: The metadata document answers 503, as when the SSO is down.
METADATA_503 = "metadata_503"
#: A server without RFC 7009 revocation: not in the metadata, 404 at its path.
NO_REVOCATION_ENDPOINT = "no_revocation_endpoint"
#: A server without RP-initiated logout: not in the metadata, 404 at its path.
NO_END_SESSION_ENDPOINT = "no_end_session_endpoint"
#: The revocation endpoint answers 503.
REVOCATION_503 = "revocation_503"

# -- id_tokens that a client must refuse (OIDC Core §3.1.3.7) --------------------------
#: Signed, then the payload changed (``sub`` swapped): the signature no longer matches.
ID_TOKEN_BAD_SIGNATURE = "id_token_bad_signature"  # noqa: S105 - a fault name
#: ``aud`` names another client.
ID_TOKEN_WRONG_AUD = "id_token_wrong_aud"  # noqa: S105 - a fault name
#: ``iss`` names another server (:data:`WRONG_ISSUER`).
ID_TOKEN_WRONG_ISS = "id_token_wrong_iss"  # noqa: S105 - a fault name
#: ``exp`` an hour in the past.
ID_TOKEN_EXPIRED = "id_token_expired"  # noqa: S105 - a fault name
#: ``nonce`` is not the one the authorization request sent.
ID_TOKEN_WRONG_NONCE = "id_token_wrong_nonce"  # noqa: S105 - a fault name
#: No ``nonce`` although the authorization request sent one.
ID_TOKEN_NO_NONCE = "id_token_no_nonce"  # noqa: S105 - a fault name
#: Signed with a key whose ``kid`` the JWKS never publishes.
ID_TOKEN_UNKNOWN_KID = "id_token_unknown_kid"  # noqa: S105 - a fault name
#: ``alg: none``, no signature.
ID_TOKEN_ALG_NONE = "id_token_alg_none"  # noqa: S105 - a fault name
#: HS256 with the client secret as key: anyone holding the secret could mint it.
ID_TOKEN_HS256 = "id_token_hs256"  # noqa: S105 - a fault name

ID_TOKEN_FAULTS = (
    ID_TOKEN_BAD_SIGNATURE,
    ID_TOKEN_WRONG_AUD,
    ID_TOKEN_WRONG_ISS,
    ID_TOKEN_EXPIRED,
    ID_TOKEN_WRONG_NONCE,
    ID_TOKEN_NO_NONCE,
    ID_TOKEN_UNKNOWN_KID,
    ID_TOKEN_ALG_NONE,
    ID_TOKEN_HS256,
)

KNOWN_FAULTS = frozenset(
    {
        METADATA_WRONG_ISSUER,
        METADATA_503,
        NO_REVOCATION_ENDPOINT,
        NO_END_SESSION_ENDPOINT,
        REVOCATION_503,
        *ID_TOKEN_FAULTS,
        WRONG_ISS,
        MISSING_ISS,
        TOKEN_SLOW,
        TOKEN_500,
        TOKEN_MALFORMED,
        REFRESH_INVALID_GRANT,
        SHORT_ACCESS_TOKENS,
        API_401,
        API_503,
        API_SLOW,
    }
)

#: The ``iss`` sent under the ``wrong_iss`` fault; ``.invalid`` is reserved (RFC 2606 §2).
WRONG_ISSUER = "https://issuer.invalid/oauth/v2/oauth-anonymous"

#: What each fault does, grouped by the step it spoils, for the admin page
#: (``/_sandbox/admin``) and ``docs/qa-checklist.md``.
DESCRIPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "Step 2: the redirect back (callback)": (
        (WRONG_ISS, "iss names another server"),
        (MISSING_ISS, "no iss on the redirect"),
    ),
    "Step 3: the token endpoint": (
        (TOKEN_SLOW, "stalls SANDBOX_SLOW_SECONDS before answering"),
        (TOKEN_500, "answers HTTP 500 with an HTML page"),
        (TOKEN_MALFORMED, "answers 200 with a body that is not JSON"),
    ),
    "Access and refresh": (
        (SHORT_ACCESS_TOKENS, f"new access tokens expire after {SHORT_ACCESS_TOKEN_TTL} s"),
        (REFRESH_INVALID_GRANT, "every refresh is refused with invalid_grant"),
    ),
    "The API": (
        (API_401, "every call refused: 401 invalid_token"),
        (API_503, "every call answers 503"),
        (API_SLOW, "every call stalls SANDBOX_SLOW_SECONDS"),
    ),
    "Metadata, revocation, logout": (
        (METADATA_WRONG_ISSUER, "the metadata names another issuer"),
        (METADATA_503, "the metadata answers 503"),
        (NO_REVOCATION_ENDPOINT, "no revocation endpoint"),
        (REVOCATION_503, "revocation answers 503"),
        (NO_END_SESSION_ENDPOINT, "no end-session (logout) endpoint"),
    ),
    "id_token (scope openid)": (
        (ID_TOKEN_BAD_SIGNATURE, "signature does not match"),
        (ID_TOKEN_WRONG_AUD, "aud names another client"),
        (ID_TOKEN_WRONG_ISS, "iss names another server"),
        (ID_TOKEN_EXPIRED, "expired an hour ago"),
        (ID_TOKEN_WRONG_NONCE, "nonce of another login"),
        (ID_TOKEN_NO_NONCE, "no nonce"),
        (ID_TOKEN_UNKNOWN_KID, "signed with a key the JWKS does not publish"),
        (ID_TOKEN_ALG_NONE, "alg none, unsigned"),
        (ID_TOKEN_HS256, "HS256 with the client secret as key"),
    ),
}
