"""Fault scenarios: switches that make the sandbox misbehave the way a real server can.

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
#: Every API call is refused with 401 ``invalid_token`` (RFC 6750 §3.1).
API_401 = "api_401"
#: Every API call answers 503 with a JSON error.
API_503 = "api_503"
#: Every API call sleeps ``SANDBOX_SLOW_SECONDS`` before answering (proxy timeouts).
API_SLOW = "api_slow"

KNOWN_FAULTS = frozenset(
    {
        WRONG_ISS,
        MISSING_ISS,
        TOKEN_SLOW,
        TOKEN_500,
        TOKEN_MALFORMED,
        REFRESH_INVALID_GRANT,
        API_401,
        API_503,
        API_SLOW,
    }
)

#: The ``iss`` sent under the ``wrong_iss`` fault; ``.invalid`` is reserved (RFC 2606 §2).
WRONG_ISSUER = "https://issuer.invalid/oauth/v2/oauth-anonymous"
