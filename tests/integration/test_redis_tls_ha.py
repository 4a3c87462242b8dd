"""TLS to Redis Sentinel and Redis Cluster: ``rediss+sentinel://`` and ``rediss+cluster://``.

Real ``redis-server`` processes speaking only TLS (``port 0``), their links too
(replication, the cluster bus), with certificates from a private CA
(tests/redis_topologies.py); nothing is mocked. ``rediss://`` to one server is in
test_redis_ha.py.
"""

from __future__ import annotations

import pytest
from redis.sentinel import MasterNotFoundError

from app import create_app
from config import ConfigError
from pagero_oauth.stores.redis_client import connect, failure
from tests.browser import Browser, parse_forms
from tests.leaks import assert_no_leaks
from tests.redis_topologies import RedisClusterUnderTest, SentinelUnderTest
from tests.servers import gunicorn_refusal

DOCS = "/api-proxy/document/v1/documents"

Topology = RedisClusterUnderTest | SentinelUnderTest


@pytest.fixture(params=["cluster", "sentinel"])
def topology(request) -> Topology:
    """Each TLS topology in turn, emptied for the test."""
    found = request.getfixturevalue(f"tls_redis_{request.param}")
    found.flush()
    return found


def _logout(browser: Browser) -> None:
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    assert browser.post("/logout", data=form.fields).status_code == 303


def test_login_api_call_and_logout_work_over_tls(
    make_app, new_browser, sandbox, topology, monkeypatch, caplog
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(topology.tls.ca))
    make_app(SESSION_BACKEND="redis", REDIS_URL=topology.url)
    browser = new_browser()
    assert browser.login("bob", "bob").headers["Location"] == "/profile"
    assert browser.get(DOCS).status_code == 200
    assert browser.get("/readyz").json()["checks"]["session_store"] == "ok"
    keys = topology.all_keys()  # read back over TLS: the app wrote there
    assert [k for k in keys if k.endswith(":session")]
    assert [k for k in keys if k.endswith(":tokens")]

    _logout(browser)
    assert browser.get("/profile").status_code == 401
    assert not [k for k in topology.all_keys() if k.endswith(":tokens")]
    assert_no_leaks(sandbox, browser, caplog)


def test_an_untrusted_certificate_refuses_to_start_naming_the_ca_bundle(
    app_settings, topology, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(topology.tls.other_ca))
    with pytest.raises(ConfigError) as caught:
        create_app({**app_settings, "SESSION_BACKEND": "redis", "REDIS_URL": topology.url})
    problem = caught.value.problems["REDIS_URL"]
    assert "TLS certificate is not trusted" in problem
    assert f"the CA bundle {topology.tls.other_ca}" in problem and "REQUESTS_CA_BUNDLE" in problem


def test_the_urls_ssl_ca_certs_wins_over_the_ca_bundle(app_settings, topology, monkeypatch):
    """One rule for every TLS form, as for ``rediss://``: the URL's CA first."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(topology.tls.other_ca))
    settings = {**app_settings, "SESSION_BACKEND": "redis"}
    app = create_app({**settings, "REDIS_URL": f"{topology.url}?ssl_ca_certs={topology.tls.ca}"})
    assert app.test_client().get("/readyz").json["checks"]["session_store"] == "ok"

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(topology.tls.ca))
    with pytest.raises(ConfigError) as caught:
        create_app(
            {**settings, "REDIS_URL": f"{topology.url}?ssl_ca_certs={topology.tls.other_ca}"}
        )
    problem = caught.value.problems["REDIS_URL"]
    assert f"the ssl_ca_certs= file {topology.tls.other_ca} in REDIS_URL" in problem


def test_gunicorn_refuses_to_start_on_an_untrusted_certificate(topology, tmp_path):
    """Checked once in gunicorn's master, which has no client yet: one message, status 2."""
    said = gunicorn_refusal(
        SESSION_BACKEND="redis",
        REDIS_URL=topology.url,
        REQUESTS_CA_BUNDLE=str(topology.tls.other_ca),
        INSTANCE_PATH=str(tmp_path / "instance"),
    )
    assert "REDIS_URL: the Redis server's TLS certificate is not trusted" in said


def test_readiness_says_when_the_sentinels_certificate_stops_verifying(
    make_app, tls_redis_sentinel, monkeypatch
):
    """redis-py reports a sentinel it could not use only as "no master found": /readyz
    then asks each sentinel itself, and says why instead of ``unreachable``."""
    topology = tls_redis_sentinel
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(topology.tls.ca))
    app = make_app(SESSION_BACKEND="redis", REDIS_URL=topology.url)
    assert app.test_client().get("/readyz").json["checks"]["session_store"] == "ok"

    # The certificates stop verifying while the app runs (here: its clients now trust
    # another CA, as after a certificate was replaced by one from an unknown CA).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(topology.tls.other_ca))
    distrusting = connect(topology.url)
    monkeypatch.setattr(app.session_interface, "client", distrusting)
    monkeypatch.setattr(app.session_interface.token_store, "redis", distrusting)
    with pytest.raises(MasterNotFoundError) as caught:
        distrusting.set("probe", "1")
    assert failure(caught.value) == "unreachable"  # all redis-py's error says by itself
    checks = app.test_client().get("/readyz").json["checks"]
    assert checks["session_store"] == checks["token_store"] == "tls_certificate_not_trusted"
