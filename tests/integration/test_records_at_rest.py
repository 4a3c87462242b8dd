"""What the stores keep is sealed (pagero_oauth/sealing.py): a copy of Redis or of the
session folder gives away no token, no session id and no PKCE verifier; a new
SECRET_KEY rolls out through SECRET_KEY_FALLBACKS; a planted pickle is never unpickled;
records from before sealing are still read."""

from __future__ import annotations

import pickle
import struct
import time
from pathlib import Path

import pytest
import redis

from pagero_oauth.stores.base import encode
from tests.browser import Browser

DOCS = "/api-proxy/document/v1/documents"
KEY_A = "a" * 16 + "b" * 16 + "c" * 16 + "d" * 16
KEY_B = "0123456789abcdef" * 4


def _session_id(browser: Browser) -> str:
    (cookie,) = [c for c in browser.http.cookies if c.name.endswith("pagero_session")]
    return cookie.value


def _files(instance: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in instance.rglob("*") if p.is_file()}


def _redis_values(url: str) -> dict[str, bytes]:
    client = redis.Redis.from_url(url)
    out = {}
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == b"string":
            out[key.decode()] = client.get(key)
        elif kind == b"list":
            out[key.decode()] = b"\n".join(client.lrange(key, 0, -1))
    return out


@pytest.mark.parametrize("backend", ["filesystem", "redis"])
def test_a_copy_of_the_store_gives_away_no_token_session_id_or_verifier(
    make_app, new_browser, sandbox, app_settings, redis_url, backend
):
    settings = {"SESSION_BACKEND": backend, "PAGERO_FLOW_TRACE": "false", "SECRET_KEY": KEY_A}
    if backend == "redis":
        settings["REDIS_URL"] = redis_url
    make_app(**settings)
    browser = new_browser()
    browser.login(scope="all openid")
    assert browser.get(DOCS).status_code == 200
    assert browser.get("/login", allow_redirects=False).status_code == 302  # a pending login

    if backend == "redis":
        at_rest = _redis_values(redis_url)
    else:
        at_rest = _files(Path(app_settings["INSTANCE_PATH"]))
    assert len([k for k in at_rest if "session" in k]) >= 1  # there is something to read
    blob = b"\n".join(at_rest.values())
    secrets = [*sandbox.issued_secrets(), _session_id(browser)]
    assert len(secrets) >= 5
    assert [s[:12] for s in secrets if s.encode() in blob] == []
    for field in (b"access_token", b"refresh_token", b"code_verifier", b"nonce", b"token_key"):
        assert field not in blob, field


def test_a_new_secret_key_keeps_logins_while_the_old_one_is_a_fallback(
    make_app, new_browser, sandbox, caplog
):
    make_app(SECRET_KEY=KEY_A)
    browser = new_browser()
    browser.login()
    assert browser.get(DOCS).status_code == 200

    make_app(SECRET_KEY=KEY_B, SECRET_KEY_FALLBACKS=KEY_A)
    assert browser.get(DOCS).status_code == 200
    sandbox.advance_clock(601)  # a refresh: the new pair is sealed with KEY_B
    assert browser.get(DOCS).status_code == 200

    make_app(SECRET_KEY=KEY_B)  # the fallback removed: the session was sealed with KEY_A
    answer = browser.get(DOCS)
    assert answer.status_code == 401 and answer.json()["type"].endswith(":login_required")
    assert "a stored session was not opened, so it starts afresh" in caplog.text
    assert KEY_A not in caplog.text and KEY_B not in caplog.text
    browser.login()  # and logging in again works
    assert browser.get(DOCS).status_code == 200


class _Payload:
    """A pickle that creates ``marker`` when it is unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_session_written_without_the_key_is_refused_never_unpickled(
    make_app, new_browser, app_settings, redis_url, tmp_path
):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Payload(marker))

    app = make_app(SECRET_KEY=KEY_A)  # the filesystem: cachelib's file layout
    browser = new_browser()
    browser.login()
    interface = app.session_interface
    path = interface.cache._get_filename(interface._get_store_id(_session_id(browser)))
    Path(path).write_bytes(struct.pack("I", int(time.time()) + 3600) + payload)
    assert browser.get(DOCS).status_code == 401

    app = make_app(SECRET_KEY=KEY_A, SESSION_BACKEND="redis", REDIS_URL=redis_url)
    browser = new_browser()
    browser.login()
    key = app.session_interface._get_store_id(_session_id(browser))
    redis.Redis.from_url(redis_url).set(key, payload)
    assert browser.get(DOCS).status_code == 401
    assert not marker.exists()


def test_records_from_before_sealing_are_still_read(make_app, new_browser, redis_url):
    """An upgrade logs no one out: a session and tokens stored in the clear still serve."""
    app = make_app(SECRET_KEY=KEY_A, SESSION_BACKEND="redis", REDIS_URL=redis_url)
    browser = new_browser()
    browser.login()
    sid = _session_id(browser)
    interface = app.session_interface
    client = redis.Redis.from_url(redis_url)
    session_key = interface._get_store_id(sid)
    session = interface.serializer.decode(client.get(session_key))
    client.set(session_key, interface.serializer.inner.encode(session))  # msgpack, clear
    store = interface.token_store
    tokens = store.get(sid)
    client.set(store.redis_key(sid), encode(tokens, 3600))  # JSON, clear
    assert b"refresh_token" in client.get(store.redis_key(sid))

    assert browser.get(DOCS).status_code == 200
