"""Redis high availability: Cluster, Sentinel failover, honest readiness, durability, TLS.

Every topology is real ``redis-server`` processes on loopback ports
(tests/redis_topologies.py); nothing is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from app import create_app
from config import ConfigError, load_settings
from tests.browser import Browser, parse_forms
from tests.leaks import assert_no_leaks
from tests.redis_topologies import cluster_node, wait_for
from tests.servers import ROOT, RedisServer, free_port, gunicorn_refusal

DOCS = "/api-proxy/document/v1/documents"


def _logout(browser: Browser) -> None:
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    assert browser.post("/logout", data=form.fields).status_code == 303


def _try_login(browser: Browser) -> bool:
    try:
        return browser.login().status_code == 303 and browser.get("/profile").status_code == 200
    except AssertionError:  # a 503 on the way: the store is not back yet
        return False


# -- REDIS_URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:pw@redis.internal:6380/1",
        "unix:///run/redis/redis.sock",
        "redis+sentinel://s1:26379,s2:26379,s3/mymaster",
        "redis+sentinel://:data-pw@s1:26379,s2:26379/mymaster/2",
        "redis+cluster://n1:6379,n2:6379,[::1]:7000",
        "rediss+sentinel://:data-pw@s1:26380,s2:26380/mymaster/1",
        "rediss+cluster://n1:6380,n2:6380",
        "rediss+cluster://n1:6380,n2:6380?ssl_ca_certs=/etc/redis/ca.pem",
        "rediss+sentinel://s1,s2/mymaster?ssl_ca_certs=/etc/redis/ca.pem",
    ],
)
def test_every_documented_redis_url_form_is_accepted(url):
    settings = load_settings({"SESSION_BACKEND": "redis", "REDIS_URL": url})
    assert settings.redis_url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://s1:26379,s2:26379", "expected the master's name after the sentinels"),
        ("redis+sentinel://s1:x/mymaster", "port number from 1 to 65535, got 'x'"),
        ("redis+sentinel://s1/mymaster/zero", "database number"),
        ("redis+cluster://n1:6379/1", "a Redis Cluster has only database 0"),
        ("redis://n1:6379,n2:6379/0", "several hosts need redis+sentinel://"),
        ("rediss://:pw@n1:6380,n2:6380/0", "several hosts need rediss+sentinel://"),
        ("rediss+sentinel://:pw@s1,s2", "expected the master's name after the sentinels"),
        ("rediss+cluster://n1:6380/1", "a Redis Cluster has only database 0"),
        ("redis+cluster://n1?ssl_ca_certs=/ca.pem", "is for the TLS form, rediss+cluster://"),
        ("rediss+cluster://n1?ssl_cert_reqs=none", "expected only ?ssl_ca_certs="),
        ("rediss+sentinel://s1/mymaster?ssl_ca_certs=", "expected one file in ?ssl_ca_certs="),
        ("redis://:6379/0", "expected a host"),
        ("http://redis:6379", "unknown scheme 'http'"),
        ("sentinel:pw@host", "no scheme"),
    ],
)
def test_a_bad_redis_url_is_refused_with_what_is_wrong_not_as_missing(url, says):
    with pytest.raises(ConfigError) as caught:
        load_settings({"SESSION_BACKEND": "redis", "REDIS_URL": url})
    message = caught.value.problems["REDIS_URL"]
    assert says in message and "is required" not in message
    assert "pw" not in message  # the URL may hold a password: never repeated


def test_a_key_prefix_with_a_brace_is_refused():
    """The app's hash tag follows the prefix; a brace in it would move every key."""
    with pytest.raises(ConfigError) as caught:
        load_settings({"SESSION_KEY_PREFIX": "shop{1}:"})
    assert "hash tag" in caught.value.problems["SESSION_KEY_PREFIX"]


# -- Redis Cluster -------------------------------------------------------------------------


def test_login_api_call_refresh_and_logout_work_on_a_redis_cluster(
    make_app, new_browser, sandbox, redis_cluster, caplog
):
    redis_cluster.flush()
    make_app(SESSION_BACKEND="redis", REDIS_URL=redis_cluster.url)
    browser = new_browser()
    assert browser.login("bob", "bob").headers["Location"] == "/profile"
    assert browser.get(DOCS).status_code == 200
    keys = redis_cluster.all_keys()
    (session_key,) = [k for k in keys if k.endswith(":session")]
    (token_key,) = [k for k in keys if k.endswith(":tokens")]
    slot = redis.Redis(port=redis_cluster.nodes[0].port).cluster("keyslot", session_key)
    assert redis.Redis(port=redis_cluster.nodes[0].port).cluster("keyslot", token_key) == slot

    sandbox.advance_clock(601)  # the access token has expired: the next call refreshes
    assert browser.get(DOCS).status_code == 200
    assert sandbox.counts["refresh_token"] == 1
    assert browser.get("/trace").status_code == 200  # the flow trace's list, on the cluster
    assert browser.get("/readyz").json()["checks"]["session_store"] == "ok"

    _logout(browser)
    assert browser.get("/profile").status_code == 401
    assert not [k for k in redis_cluster.all_keys() if k.endswith(":tokens")]
    assert_no_leaks(sandbox, browser, caplog)


def test_a_cluster_none_of_whose_nodes_answers_stops_the_start_in_one_line(app_settings, tmp_path):
    """The cluster's client reads the slot map as it is built: no node, no app. Said
    once, naming REDIS_URL, by the app factory and by gunicorn's master before any worker."""
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError) as caught:
        create_app({**app_settings, "SESSION_BACKEND": "redis", "REDIS_URL": url})
    assert (
        "no node of the Redis Cluster in REDIS_URL answered" in (caught.value.problems["REDIS_URL"])
    )
    said = gunicorn_refusal(
        SESSION_BACKEND="redis", REDIS_URL=url, INSTANCE_PATH=str(tmp_path / "instance")
    )
    assert "REDIS_URL: no node of the Redis Cluster in REDIS_URL answered" in said


# -- Sentinel ------------------------------------------------------------------------------


def test_sentinel_failover_keeps_the_session_and_a_new_login_works_within_30_s(
    make_app, new_browser, sandbox, redis_sentinel
):
    make_app(SESSION_BACKEND="redis", REDIS_URL=redis_sentinel.url)
    browser = new_browser()
    browser.login()
    assert browser.get(DOCS).status_code == 200
    master = redis.Redis(port=redis_sentinel.master.port)
    assert master.execute_command("WAIT", 1, 1000) == 1  # the replica has every write

    redis_sentinel.master.kill()
    killed = time.monotonic()
    while not _try_login(new_browser()):
        assert time.monotonic() - killed < 30, "no new login within 30 s of the failover"
        time.sleep(0.2)
    recovered = time.monotonic() - killed
    assert browser.get("/profile").status_code == 200  # written before: still logged in
    assert browser.get(DOCS).status_code == 200
    promoted = redis.Redis(port=redis_sentinel.replica.port).info("replication")
    assert promoted["role"] == "master"
    print(f"new login {recovered:.1f} s after the master was killed")


# -- /readyz: can the store take a write ---------------------------------------------------


@pytest.fixture
def redis_replica(redis_server, tmp_path):
    replica = RedisServer(
        tmp_path / "replica", "--save", "", "--replicaof", "127.0.0.1", str(redis_server.port)
    ).start()
    yield replica
    replica.stop()


def test_readyz_is_503_read_only_when_redis_url_names_a_replica(
    make_app, new_browser, sandbox, redis_replica
):
    make_app(SESSION_BACKEND="redis", REDIS_URL=f"redis://127.0.0.1:{redis_replica.port}/0")
    client = redis.Redis(port=redis_replica.port)
    assert client.ping()  # it answers: a PING alone would call it ready
    ready = new_browser().get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["session_store"] == "read_only"
    assert ready.json()["checks"]["token_store"] == "read_only"


def test_readyz_is_503_cluster_down_while_a_slot_has_no_node(
    make_app, new_browser, sandbox, tmp_path
):
    node = cluster_node(tmp_path)
    client = redis.Redis(port=node.port)
    try:
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        wait_for(lambda: client.cluster("info")["cluster_state"] == "ok", 10, "cluster ok")
        make_app(SESSION_BACKEND="redis", REDIS_URL=f"redis+cluster://127.0.0.1:{node.port}")
        browser = new_browser()
        assert browser.get("/readyz").status_code == 200

        client.execute_command("CLUSTER", "DELSLOTS", 16383)
        wait_for(lambda: client.cluster("info")["cluster_state"] == "fail", 10, "cluster fail")
        assert client.ping()
        ready = browser.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["session_store"] == "cluster_down"

        client.execute_command("CLUSTER", "ADDSLOTS", 16383)
        wait_for(lambda: client.cluster("info")["cluster_state"] == "ok", 10, "cluster ok")
        assert browser.get("/readyz").status_code == 200
    finally:
        node.stop()


# -- Durability ----------------------------------------------------------------------------


def compose_redis_arguments() -> list[str]:
    """The Redis service's arguments in docker-compose.yml: the documented persistence."""
    text = (ROOT / "docker-compose.yml").read_text()
    service = text[text.index("  redis:") :]
    line = next(x for x in service.splitlines() if x.strip().startswith("command:"))
    command = json.loads(line.split("command:", 1)[1])
    assert command[0] == "redis-server"
    return command[1:]


def test_sessions_survive_a_redis_crash_with_the_documented_persistence(
    make_app, new_browser, sandbox, tmp_path
):
    """AOF with fsync every second: a write older than a second survives kill -9."""
    server = RedisServer(tmp_path / "redis", *compose_redis_arguments()).start()
    try:
        make_app(SESSION_BACKEND="redis", REDIS_URL=server.url)
        browser = new_browser()
        browser.login()
        time.sleep(1.5)  # appendfsync everysec: on disk within a second
        server.kill()
        server.start()  # same folder, same arguments
        wait_for(lambda: redis.Redis(port=server.port).ping(), 10, "redis loaded")
        assert browser.get("/profile").status_code == 200
        assert browser.get(DOCS).status_code == 200
    finally:
        server.stop()


# -- TLS -----------------------------------------------------------------------------------


def test_rediss_with_a_private_ca_works_with_the_ca_bundle_variable(
    make_app, new_browser, sandbox, tls_redis, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_redis.ca))
    make_app(SESSION_BACKEND="redis", REDIS_URL=tls_redis.url)
    browser = new_browser()
    browser.login()
    assert browser.get(DOCS).status_code == 200
    assert browser.get("/readyz").status_code == 200


def test_rediss_with_an_untrusted_certificate_refuses_to_start_naming_the_fix(
    app_settings, tls_redis, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_redis.other_ca))
    with pytest.raises(ConfigError) as caught:
        create_app({**app_settings, "SESSION_BACKEND": "redis", "REDIS_URL": tls_redis.url})
    problem = caught.value.problems["REDIS_URL"]
    assert "TLS certificate is not trusted" in problem and "REQUESTS_CA_BUNDLE" in problem


def test_doctor_reports_an_untrusted_redis_certificate(tls_redis, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    env.update(
        SESSION_BACKEND="redis",
        REDIS_URL=tls_redis.url,
        REQUESTS_CA_BUNDLE=str(tls_redis.other_ca),
        INSTANCE_PATH=str(tmp_path / "instance"),
    )
    out = subprocess.run(
        [sys.executable, "-m", "app.qa.doctor"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(ROOT))},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "FAIL  REDIS_URL" in out.stdout and "not trusted" in out.stdout


def test_gunicorn_refuses_to_start_on_an_untrusted_redis_certificate(tls_redis, tmp_path):
    """Checked once in gunicorn's master: one message and exit status 2, no worker loop."""
    said = gunicorn_refusal(
        SESSION_BACKEND="redis",
        REDIS_URL=tls_redis.url,
        REQUESTS_CA_BUNDLE=str(tls_redis.other_ca),
        INSTANCE_PATH=str(tmp_path / "instance"),
    )
    assert "REDIS_URL: the Redis server's TLS certificate is not trusted" in said
