"""/callback with any query string: never a 500, a secret or a call outside Pagero's
token endpoint, and a logged-in session survives every one of them.

Parameters are drawn from the ones that matter (``state``, ``code``, ``iss``, ``error``
...) and from noise, repeated, oversized and oddly encoded (broken ``%`` escapes, NUL,
invalid UTF-8, ``+`` and ``;``). Before each example a login is started, so the real
``state`` and issuer are among the values and the code exchange itself is reached.
"""

from __future__ import annotations

from urllib.parse import quote_from_bytes, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import FUZZ, check_answer, log_in

REAL_STATE, REAL_ISSUER = "\x00state", "\x00iss"  # placeholders for the live values

NAMES = st.sampled_from(
    ["state", "code", "iss", "error", "error_description", "error_uri", "scope", "session_state"]
) | st.text(max_size=12)
ODD = st.sampled_from(["", "%", "%zz", "%0", "%00", "%ff%fe", "%c0%ae", "+", "=", "&", ";", "%26"])
VALUES = st.one_of(
    st.just(REAL_STATE),
    st.just(REAL_ISSUER),
    st.text(max_size=40),
    st.binary(max_size=40).map(quote_from_bytes),
    ODD,
    st.integers(1000, 16000).map(lambda n: "A" * n),  # oversized
)
NOISE = st.lists(st.tuples(NAMES, VALUES, st.booleans()), max_size=8)
#: A well-formed answer (real state and issuer, some code) with noise around it, so
#: examples get past the state and issuer checks to the code exchange.
WELL_FORMED = st.tuples(
    st.just(("state", REAL_STATE, True)),
    st.just(("iss", REAL_ISSUER, True)),
    st.tuples(st.just("code"), VALUES, st.booleans()),
).map(list)
PAIRS = st.one_of(
    NOISE, st.tuples(WELL_FORMED, NOISE).map(lambda t: t[0] + t[1]).flatmap(st.permutations)
)


def _query(pairs, state: str, issuer: str) -> str:
    """The raw query string: each pair percent-encoded, or sent as it is when it asks."""
    parts = []
    for name, value, encode in pairs:
        value = {REAL_STATE: state, REAL_ISSUER: issuer}.get(value, value)
        if encode:
            name, value = (
                quote_from_bytes(x.encode("utf-8", "surrogatepass")) for x in (name, value)
            )
        parts.append(f"{name}={value}")
    return "&".join(parts)


def test_any_callback_query_is_answered_safely(
    make_app, app_url, new_browser, sandbox, ports, upstream_calls
):
    app = make_app()
    client = app.test_client()
    log_in(client, app_url, new_browser())
    issuer = f"http://localhost:{ports['sandbox']}/oauth/v2/oauth-anonymous"
    token_url = f"http://localhost:{ports['sandbox']}/oauth/v2/oauth-token"
    hosts = {urlsplit(app_url).netloc, f"localhost:{ports['sandbox']}"}
    secrets = sandbox.issued_secrets()
    exchanges = []

    @FUZZ
    @given(pairs=PAIRS)
    def fuzz(pairs):
        start = client.get("/login", base_url=app_url)
        state = dict(p.split("=", 1) for p in urlsplit(start.headers["Location"]).query.split("&"))
        upstream_calls.clear()
        query = _query(pairs, state["state"], issuer)
        response = client.get(
            "/callback",
            base_url=app_url,
            query_string=query.encode("utf-8", "surrogatepass").decode("latin-1"),
        )
        check_answer(response, secrets, hosts)
        assert response.status_code in (400, 502), response.status_code  # no code is valid
        assert set(upstream_calls) <= {token_url}, upstream_calls
        exchanges.extend(upstream_calls)

    fuzz()
    assert exchanges, "no example reached the token endpoint: the fuzzing missed Step 3"
    session = client.get("/session", base_url=app_url)
    assert session.status_code == 200  # the login before the fuzzing is still there
