"""id_token rules beyond tests/unit/test_id_token.py, and server metadata parsing and caching,
on local keys and documents (the HTTP versions are in test_oidc_id_token/_discovery)."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from config import load_settings
from pagero_oauth import errors
from pagero_oauth.discovery import Discovery, EndpointUnknown
from pagero_oauth.id_token import LEEWAY_SECONDS, KeyCache, allowed_algorithms, validate
from pagero_oauth.metadata import MetadataRefused, ServerMetadata, apply
from tests.factories import CLIENT, GOOD_KEY, ISSUER, id_claims, sign


@pytest.fixture(scope="module")
def key() -> RSAKey:
    # No "alg" on the key itself, so that only the validator's list decides.
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})


def _keys(*keys: RSAKey, fetches: list | None = None) -> KeyCache:
    def fetch():
        if fetches is not None:
            fetches.append(1)
        return KeySet(list(keys)).as_dict(private=False)

    return KeyCache(fetch)


def _validate(token, keys, **kwargs):
    kwargs.setdefault("nonce", "n-1")
    return validate(token, issuer=ISSUER, client_id=CLIENT, keys=keys, **kwargs)


# -- algorithms ---------------------------------------------------------------------------


def test_allowed_algorithms_follow_the_server_but_never_none_or_hmac():
    assert allowed_algorithms(["RS256", "none", "HS256"]) == ["RS256"]
    assert "RS256" in allowed_algorithms(None) and "none" not in allowed_algorithms(None)
    assert allowed_algorithms(["HS256"]) == []


def test_an_algorithm_the_server_does_not_declare_is_refused(key):
    token = sign(key, id_claims(), alg="PS256")
    assert _validate(token, _keys(key))["sub"] == "u1"  # fine when nothing is declared
    with pytest.raises(errors.InvalidIdToken, match="alg 'PS256'"):
        _validate(token, _keys(key), algorithms=allowed_algorithms(["RS256"]))


def test_alg_is_checked_even_without_a_jwks(key):
    secret = OctKey.import_key("client-secret-as-hmac-key-0123456789")
    token = jwt.encode({"alg": "HS256"}, id_claims(), secret, algorithms=["HS256"])
    with pytest.raises(errors.InvalidIdToken, match="alg 'HS256'"):
        _validate(token, None)


# -- claims -------------------------------------------------------------------------------


def test_azp_naming_another_client_is_refused(key):
    with pytest.raises(errors.InvalidIdToken, match="azp"):
        _validate(sign(key, id_claims(azp="other")), _keys(key))
    assert _validate(sign(key, id_claims(azp=CLIENT)), _keys(key))["azp"] == CLIENT


def test_several_audiences_need_azp_naming_us(key):
    claims = id_claims(aud=[CLIENT, "other"], azp=CLIENT)
    assert _validate(sign(key, claims), _keys(key))["sub"] == "u1"


def test_exp_and_iat_allow_a_small_clock_difference_only(key):
    now = int(time.time())
    near = id_claims(exp=now - LEEWAY_SECONDS // 2, iat=now + LEEWAY_SECONDS // 2)
    assert _validate(sign(key, near), _keys(key))["sub"] == "u1"
    with pytest.raises(errors.InvalidIdToken, match="expired"):
        _validate(sign(key, id_claims(exp=now - 3 * LEEWAY_SECONDS)), _keys(key))
    with pytest.raises(errors.InvalidIdToken, match="future"):
        _validate(sign(key, id_claims(iat=now + 3 * LEEWAY_SECONDS)), _keys(key))


def test_missing_and_wrong_nonce_are_told_apart(key):
    with pytest.raises(errors.InvalidIdToken, match="no nonce"):
        _validate(sign(key, id_claims(nonce=None)), _keys(key))
    with pytest.raises(errors.InvalidIdToken, match="does not match this login"):
        _validate(sign(key, id_claims(nonce="n-2")), _keys(key))


def test_refresh_without_a_nonce_to_compare_accepts_the_token(key):
    assert _validate(sign(key, id_claims(nonce=None)), _keys(key), nonce=None)["sub"] == "u1"


# -- the JWKS cache -------------------------------------------------------------------------


def test_bad_signatures_refetch_the_jwks_at_most_once_per_interval(key):
    fetches: list = []
    keys = _keys(key, fetches=fetches)
    head, _, sig = sign(key, id_claims()).split(".")
    body = sign(key, id_claims(sub="admin")).split(".")[1]
    for _ in range(3):  # a stream of forged tokens
        with pytest.raises(errors.InvalidIdToken, match="signature"):
            _validate(f"{head}.{body}.{sig}", keys)
    assert len(fetches) == 2  # the first fetch, then one refetch in the interval
    assert KeyCache.BAD_SIGNATURE_REFRESH_INTERVAL == 60.0
    keys.BAD_SIGNATURE_REFRESH_INTERVAL = 0  # the interval has passed
    with pytest.raises(errors.InvalidIdToken, match="signature"):
        _validate(f"{head}.{body}.{sig}", keys)
    assert len(fetches) == 3


def test_unknown_kids_refetch_at_most_once_per_interval(key):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k9"})
    fetches: list = []
    keys = _keys(key, fetches=fetches)
    for _ in range(3):
        with pytest.raises(errors.InvalidIdToken, match="kid"):
            _validate(sign(stranger, id_claims(), kid="k9"), keys)
    assert len(fetches) == 2  # the first fetch, then one forced refetch


# -- server metadata --------------------------------------------------------------------------


def _document(**changes) -> dict:
    doc = {
        "issuer": ISSUER,
        "authorization_endpoint": "https://sso.example/authorize",
        "token_endpoint": "https://sso.example/token",
        "jwks_uri": "https://sso.example/jwks",
        "revocation_endpoint": "https://sso.example/revoke",
        "end_session_endpoint": "https://sso.example/logout",
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_response_iss_parameter_supported": True,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def _parse(doc, https_only=True) -> ServerMetadata:
    return ServerMetadata.parse(doc, expected_issuer=ISSUER, https_only=https_only)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"issuer": "https://evil.example"}, "mix-up"),
        ({"issuer": ISSUER + "/"}, "mix-up"),  # identical means identical
        ({"token_endpoint": None}, "no token_endpoint"),
        ({"authorization_endpoint": "not a url"}, "authorization_endpoint"),
        ({"jwks_uri": "http://sso.example/jwks"}, "https"),
    ],
)
def test_metadata_that_cannot_be_trusted_is_refused(changes, why):
    with pytest.raises(MetadataRefused, match=why):
        _parse(_document(**changes))


def test_metadata_may_use_http_in_the_sandbox_only():
    http = _document(token_endpoint="http://localhost:5001/token")
    assert _parse(http, https_only=False).endpoints["token_endpoint"].startswith("http:")


@pytest.mark.parametrize(
    ("token_methods", "revocation_methods", "warned_about"),
    [
        (["client_secret_basic", "client_secret_post"], None, []),
        (["client_secret_basic"], None, ["token_endpoint_auth_methods_supported"]),
        (
            ["client_secret_post"],
            ["client_secret_basic"],
            ["revocation_endpoint_auth_methods_supported"],
        ),
        (None, None, []),  # a server that does not say is taken at its word elsewhere
    ],
)
def test_a_client_auth_method_the_server_does_not_list_is_warned_about(
    token_methods, revocation_methods, warned_about
):
    doc = _document(
        token_endpoint_auth_methods_supported=token_methods,
        revocation_endpoint_auth_methods_supported=revocation_methods,
    )
    warnings = _parse(doc).auth_method_warnings("client_secret_post")
    assert [w.split("server's ")[1].split(" ")[0] for w in warnings] == warned_about
    assert all(w.startswith("PAGERO_TOKEN_AUTH_METHOD client_secret_post") for w in warnings)


def _settings(**env):
    base = {
        "PAGERO_ENV": "production",
        "PAGERO_CLIENT_ID": CLIENT,
        "PAGERO_CLIENT_SECRET": "secret-value",
        "PAGERO_REDIRECT_URI": "https://app.example/callback",
        "PAGERO_ISSUER": ISSUER,
        "SECRET_KEY": GOOD_KEY,
        "PAGERO_DISCOVERY": "true",
    }
    return load_settings({**base, **env})


def test_metadata_beats_profile_defaults_but_not_explicit_variables():
    settings = _settings(PAGERO_REVOCATION_URL="", PAGERO_REQUIRE_ISS="false")
    doc = _document(end_session_endpoint=None)
    effective = apply(settings, _parse(doc))
    assert effective.token_url == "https://sso.example/token"  # profile default replaced
    assert effective.revocation_url is None  # explicitly switched off
    assert effective.end_session_url is None  # the server offers none
    assert effective.require_iss is True  # declared support makes iss mandatory
    assert effective.issuer == ISSUER


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_discovery_reads_lazily_retries_after_failure_and_keeps_a_good_document():
    answers: list = [requests.ConnectionError("down"), _document()]
    calls: list = []

    def fetch(url):
        calls.append(url)
        answer = answers.pop(0) if answers else _document()
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = _Clock()
    discovery = Discovery(_settings(), fetch, clock=clock)
    assert calls == []  # nothing at construction (start-up)
    assert discovery.metadata() is None
    assert discovery.settings().token_url is None  # never the profile's default
    clock.now += discovery.RETRY_INTERVAL / 2
    assert discovery.metadata() is None and len(calls) == 1  # not yet again
    clock.now += discovery.RETRY_INTERVAL
    assert discovery.metadata() is not None and len(calls) == 2
    assert discovery.settings().token_url == "https://sso.example/token"

    answers.append(requests.ConnectionError("down again"))
    discovery.invalidate()
    clock.now += discovery.RETRY_INTERVAL
    assert discovery.metadata() is not None  # the good document stays in use
    assert len(calls) == 3


def test_other_requests_do_not_queue_behind_a_slow_metadata_host():
    release, started = threading.Event(), threading.Event()

    def slow_fetch(url):
        started.set()
        release.wait(5)
        return _document()

    discovery = Discovery(_settings(), slow_fetch)
    reader = threading.Thread(target=discovery.metadata)
    reader.start()
    assert started.wait(5)
    begun = time.monotonic()
    assert discovery.settings().token_url is None  # what is known: nothing, not a default
    assert time.monotonic() - begun < 1  # answered at once
    # An endpoint wanted meanwhile waits for that first read instead of failing.
    threading.Timer(0.2, release.set).start()
    assert discovery.endpoint("token_url") == "https://sso.example/token"
    reader.join(5)
    assert discovery.settings().token_url == "https://sso.example/token"


def test_unreadable_metadata_leaves_only_explicit_endpoints_never_profile_defaults():
    def refused(url):
        return _document(issuer="https://evil.example")

    discovery = Discovery(_settings(PAGERO_TOKEN_URL="https://sso.example/my-token"), refused)
    assert discovery.endpoint("token_url") == "https://sso.example/my-token"  # set explicitly
    with pytest.raises(EndpointUnknown) as unknown:
        discovery.endpoint("authorize_url")  # production's default is not used
    assert (unknown.value.env, unknown.value.failure) == ("PAGERO_AUTHORIZE_URL", "refused")
    assert discovery.settings().jwks_uri is None
