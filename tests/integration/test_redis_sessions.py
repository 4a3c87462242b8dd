"""SESSION_BACKEND=redis against a real redis-server: shared by instances, and outages."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests.browser import Browser, parse_forms
from tests.leaks import assert_no_leaks
from tests.servers import free_port, gunicorn

DOCS = "/api-proxy/document/v1/documents"
SECRET = "s" * 48


@pytest.fixture
def two_instances(ports, sandbox, redis_url, tmp_path):
    """Instance A (on the registered redirect URI's port) and B, one Redis, two workers each."""
    a_port, b_port = ports["gunicorn"], free_port()
    env = {
        "PAGERO_ENV": "sandbox",
        "SANDBOX_PORT": str(ports["sandbox"]),
        "PAGERO_REDIRECT_URI": f"http://localhost:{a_port}/callback",
        "SESSION_BACKEND": "redis",
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "GUNICORN_WORKERS": "2",
    }
    with (
        gunicorn(a_port, tmp_path / "a.log", INSTANCE_PATH=str(tmp_path / "a"), **env),
        gunicorn(b_port, tmp_path / "b.log", INSTANCE_PATH=str(tmp_path / "b"), **env),
    ):
        yield f"http://localhost:{a_port}", f"http://localhost:{b_port}"


def test_login_on_one_instance_works_on_the_other_and_logout_ends_both(two_instances, sandbox):
    a_url, b_url = two_instances
    on_a = Browser(a_url)
    assert on_a.login("bob", "bob", scope="all openid").headers["Location"] == "/profile"
    on_b = Browser(b_url)
    on_b.http.cookies = on_a.http.cookies  # one browser: cookies are per host, not port
    profile = on_b.get("/profile")
    assert profile.status_code == 200 and "Bob Logistics" in profile.text
    assert on_b.get(DOCS).status_code == 200

    form = next(f for f in parse_forms(profile.text) if f.action == "/logout")
    assert on_b.post("/logout", data=form.fields).status_code == 303
    assert on_a.get("/profile").status_code == 401


def test_single_flight_holds_across_two_instances(two_instances, sandbox):
    a_url, b_url = two_instances
    on_a = Browser(a_url)
    on_a.login()
    on_b = Browser(b_url)
    on_b.http.cookies = on_a.http.cookies
    sandbox.advance_clock(601)  # Pagero now refuses the access token both instances hold
    barrier = threading.Barrier(16)

    def call(i: int) -> int:
        barrier.wait()
        return (on_a if i % 2 else on_b).get(DOCS).status_code

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(call, range(16))) == [200] * 16
    assert sandbox.counts["refresh_token"] == 1
    assert sandbox.counts["refresh_token_rejected"] == 0


def test_redis_keys_are_prefixed_expire_and_hold_no_token_in_the_session(
    make_app, new_browser, sandbox, redis_url, caplog
):
    make_app(SESSION_BACKEND="redis", REDIS_URL=redis_url, SESSION_KEY_PREFIX="shop1:")
    browser = new_browser()
    browser.login()
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.keys("*"))
    assert all(k.startswith("shop1:") for k in keys), keys
    (session_key,) = [k for k in keys if k.endswith("}:session")]
    (token_key,) = [k for k in keys if k.endswith("}:tokens")]
    # One hash tag, a digest of the session id (never the id itself): one cluster slot.
    assert session_key.split("}")[0] == token_key.split("}")[0]
    sid = browser.http.cookies["pagero_session"]
    assert sid not in " ".join(keys)
    assert 0 < client.ttl(session_key) <= 3600 + 60  # idle timeout (+ write interval)
    assert 3600 < client.ttl(token_key) <= 28800  # absolute lifetime
    session_bytes = client.get(session_key)
    assert all(secret.encode() not in session_bytes for secret in sandbox.issued_secrets())

    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    browser.post("/logout", data=form.fields)
    assert not [k for k in client.keys("*") if k.endswith(b":tokens")]
    assert_no_leaks(sandbox, browser, caplog)


def _commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT, without the test's own."""
    stats = client.info("commandstats")
    calls = {name[len("cmdstat_") :]: v["calls"] for name, v in stats.items()}
    return {name: n for name, n in calls.items() if not name.startswith(("config", "info"))}


def test_an_api_call_reads_session_and_tokens_in_one_redis_round_trip(
    make_app, new_browser, sandbox, redis_url
):
    """The tokens are keyed by the session id, so one MGET brings both; a session whose
    tokens sit under another key (saved before this scheme) still works, with one GET more."""
    # The flow trace (on in the sandbox profile) writes its own events; production has it off.
    app = make_app(SESSION_BACKEND="redis", REDIS_URL=redis_url, PAGERO_FLOW_TRACE="false")
    browser = new_browser()
    browser.login()
    client = redis.Redis.from_url(redis_url)
    client.config_resetstat()
    assert browser.get(DOCS).status_code == 200
    assert _commands(client) == {"mget": 1}

    interface = app.session_interface
    (session_key,) = client.keys("pagero:{*}:session")
    data = interface.serializer.decode(client.get(session_key))
    store = app.extensions["pagero"].stores.tokens
    store.put("an-older-random-key", store.get(data["token_key"]), ttl=600)
    store.delete(data["token_key"])
    data["token_key"] = "an-older-random-key"
    client.set(session_key, interface.serializer.encode(data), ex=600)
    client.config_resetstat()
    assert browser.get(DOCS).status_code == 200
    assert _commands(client) == {"mget": 1, "get": 1}


def test_redis_outage_is_a_clear_503_and_the_app_recovers_by_itself(
    make_app, new_browser, sandbox, redis_server, redis_url, caplog
):
    make_app(SESSION_BACKEND="redis", REDIS_URL=redis_url)
    browser = new_browser()
    browser.login()
    assert browser.get("/readyz").status_code == 200

    redis_server.stop()
    page = browser.get("/profile")
    assert page.status_code == 503
    assert "briefly unavailable" in page.text and "Traceback" not in page.text
    assert page.headers["Retry-After"] == "1"
    api = browser.get(DOCS)
    assert api.status_code == 503
    assert api.json()["type"] == "urn:pagero-client:error:session_store_unavailable"
    ready = browser.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["session_store"] == "unreachable"
    assert browser.get("/healthz").status_code == 200  # alive: do not restart it
    stranger = new_browser()
    start = stranger.get("/login")  # nothing can be stored: no half-started login
    assert start.status_code == 503 and "Location" not in start.headers
    assert "Traceback" not in caplog.text

    redis_server.start()
    assert browser.get("/profile").status_code == 200  # same session, nothing lost
    assert browser.get(DOCS).status_code == 200
    assert browser.get("/readyz").status_code == 200


@pytest.mark.parametrize("backend", ["filesystem", "redis"])
def test_pop_hands_a_record_to_exactly_one_of_many_concurrent_callers(backend, tmp_path, redis_url):
    """What makes a state single-use across workers (pagero_oauth/logins.py: take)."""

    from pagero_oauth.stores.files import FileStore
    from pagero_oauth.stores.redis import RedisStore

    if backend == "redis":
        store = RedisStore(redis.Redis.from_url(redis_url)).sibling("logins")
    else:
        store = FileStore(str(tmp_path)).sibling("logins")
    for round_ in range(20):
        key = f"login:pending:binding:{round_}"
        store.put(key, {"state": round_}, ttl=60)
        barrier, got = threading.Barrier(8), []

        def claim(key=key, barrier=barrier, got=got) -> None:
            barrier.wait()
            if (record := store.pop(key)) is not None:
                got.append(record)

        threads = [threading.Thread(target=claim) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == [{"state": round_}]
        assert store.get(key) is None


def test_hundreds_of_requests_in_a_redis_call_at_once_all_get_a_connection(redis_url):
    """A worker serves up to GUNICORN_WORKER_CONNECTIONS requests at once, and under
    gevent each may hold a Redis connection while it waits for its turn. redis-py's own
    limit (100) made the 101st fail with MaxConnectionsError: 503s for 200 logins at
    once (pagero_oauth/stores/redis_client.py, MAX_CONNECTIONS)."""
    from pagero_oauth.stores.redis_client import connect

    client = connect(redis_url)
    calls = 150
    barrier = threading.Barrier(calls)

    def hold_a_connection(n: int) -> object:
        barrier.wait()
        return client.blpop([f"nothing:{n}"], timeout=1)  # each holds its connection 1 s

    try:
        with ThreadPoolExecutor(calls) as pool:
            answers = list(pool.map(hold_a_connection, range(calls)))
    finally:
        client.close()
    assert answers == [None] * calls
