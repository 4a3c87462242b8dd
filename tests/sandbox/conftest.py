"""Fixtures for the sandbox's own tests: a fresh sandbox per test and a driver for its flows."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey
from werkzeug.test import TestResponse

from sandbox import create_sandbox
from sandbox.serving import RunningSandbox, serve_in_thread
from sandbox.signing_keys import SigningKeys
from sandbox.state import SandboxState

CLIENT_ID = "pagero-demo-client"
CLIENT_SECRET = "pagero-demo-secret"
REDIRECT_URI = "http://localhost:5000/callback"
POST_LOGOUT_URI = "http://localhost:5000/"
BASE_URL = "http://localhost:5001"
ISSUER = BASE_URL + "/oauth/v2/oauth-anonymous"
LARGE_BYTES = 4096

#: Every setting spelled out, so a developer's SANDBOX_* environment cannot leak in.
TEST_CONFIG: dict[str, Any] = {
    "SANDBOX_PORT": "5001",
    "SANDBOX_BASE_URL": BASE_URL,
    "SANDBOX_ISSUER": None,
    "SANDBOX_CLIENT_ID": CLIENT_ID,
    "SANDBOX_CLIENT_SECRET": CLIENT_SECRET,
    "SANDBOX_REDIRECT_URIS": REDIRECT_URI,
    "SANDBOX_POST_LOGOUT_REDIRECT_URIS": POST_LOGOUT_URI,
    "SANDBOX_ACCESS_TOKEN_TTL": "600",
    "SANDBOX_REFRESH_TOKEN_TTL": "86400",
    "SANDBOX_CODE_TTL": "60",
    "SANDBOX_SECRET_KEY": "sandbox-test-secret-key",
    "SANDBOX_LARGE_DOCUMENT_BYTES": str(LARGE_BYTES),
    "SANDBOX_FAULTS": "",
    "SANDBOX_SLOW_SECONDS": "0.3",
}


def make_pkce() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge) pair (RFC 7636 §4.1, §4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def redirect_params(response: TestResponse) -> dict[str, str]:
    """The query parameters of a redirect back to the client."""
    assert response.status_code == 302, response.get_data(as_text=True)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return {key: values[0] for key, values in query.items()}


class SandboxDriver:
    """Walks a browser and the client through the sandbox's flows.

    Test modules reach the test configuration and helpers through this object rather than
    by importing conftest.
    """

    CLIENT_ID = CLIENT_ID
    CLIENT_SECRET = CLIENT_SECRET
    REDIRECT_URI = REDIRECT_URI
    POST_LOGOUT_URI = POST_LOGOUT_URI
    BASE_URL = BASE_URL
    ISSUER = ISSUER
    LARGE_BYTES = LARGE_BYTES
    make_pkce = staticmethod(make_pkce)
    redirect_params = staticmethod(redirect_params)

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        #: Where the "browser" and the client reach the sandbox (the test client's default).
        self.base_url = "http://localhost"
        self.state: SandboxState = client.application.extensions["pagero_sandbox"]

    def authorize(self, **params: str | None) -> TestResponse:
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "state": "state-123",
            **params,
        }
        query = {key: value for key, value in query.items() if value is not None}
        return self.client.get(
            "/oauth/v2/oauth-authorize", query_string=query, base_url=self.base_url
        )

    def login(
        self, username: str = "demo", password: str | None = None, action: str = "login", **params
    ) -> TestResponse:
        """Open the login form for an authorization request and submit it."""
        form_page = self.authorize(**params)
        assert form_page.status_code == 200, form_page.get_data(as_text=True)
        html = form_page.get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        form_action = unescape(re.search(r'<form method="post" action="([^"]+)"', html).group(1))
        data = {"csrf_token": csrf, "username": username, "action": action}
        data["password"] = username if password is None else password
        return self.client.post(form_action, data=data, base_url=self.base_url)

    def code(self, username: str = "demo", **params) -> str:
        return redirect_params(self.login(username, **params))["code"]

    def exchange(
        self, code: str, auth: str = "basic", redirect_uri: str = REDIRECT_URI, **extra
    ) -> TestResponse:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return self.token_request({**data, **extra}, auth)

    def refresh(self, refresh_token: str, auth: str = "basic") -> TestResponse:
        return self.token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth
        )

    def token_request(
        self, data: dict[str, str], auth: str = "basic", secret: str = CLIENT_SECRET
    ) -> TestResponse:
        return self._post("/oauth/v2/oauth-token", data, auth, secret)

    def revoke(
        self, token: str, auth: str = "basic", secret: str = CLIENT_SECRET, **extra
    ) -> TestResponse:
        return self._post("/oauth/v2/oauth-revoke", {"token": token, **extra}, auth, secret)

    def tokens(self, username: str = "demo", **params) -> dict[str, Any]:
        """Log in and exchange the code: the token response body."""
        response = self.exchange(self.code(username, **params))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def api(self, path: str, token: str | None, **kwargs) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        return self.client.get("/api" + path, headers=headers, base_url=self.base_url, **kwargs)

    def _post(self, path: str, data: dict, auth: str, secret: str) -> TestResponse:
        if auth == "basic":
            return self.client.post(
                path, data=data, auth=(CLIENT_ID, secret), base_url=self.base_url
            )
        if auth == "post":
            data = {**data, "client_id": CLIENT_ID, "client_secret": secret}
        return self.client.post(path, data=data, base_url=self.base_url)


@pytest.fixture(scope="session")
def _key_pool() -> list[RSAKey]:
    return [SigningKeys._generate() for _ in range(3)]


@pytest.fixture(autouse=True)
def _reuse_signing_keys(monkeypatch: pytest.MonkeyPatch, _key_pool: list[RSAKey]) -> None:
    """Hand out pre-generated RSA keys: a 2048-bit key per test app would dominate the run.

    Consecutive keys always differ, so rotation still yields a new kid.
    """
    pool = itertools.cycle(_key_pool)
    monkeypatch.setattr(SigningKeys, "_generate", staticmethod(lambda: next(pool)))


@pytest.fixture
def sandbox_app() -> Flask:
    return create_sandbox(TEST_CONFIG)


@pytest.fixture
def state(sandbox_app: Flask) -> SandboxState:
    return sandbox_app.extensions["pagero_sandbox"]


@pytest.fixture
def client(sandbox_app: Flask) -> FlaskClient:
    return sandbox_app.test_client()


@pytest.fixture
def sso(client: FlaskClient) -> SandboxDriver:
    return SandboxDriver(client)


@pytest.fixture
def make_sso() -> Callable[..., SandboxDriver]:
    """A driver for a separate sandbox built with some settings overridden."""

    def make(**overrides: Any) -> SandboxDriver:
        return SandboxDriver(create_sandbox({**TEST_CONFIG, **overrides}).test_client())

    return make


@pytest.fixture
def serve_live() -> Callable[..., AbstractContextManager[RunningSandbox]]:
    """Serve a sandbox with some settings overridden over real HTTP on a free loopback port."""

    def serve(**overrides: Any) -> AbstractContextManager[RunningSandbox]:
        config = {
            k: v for k, v in TEST_CONFIG.items() if k not in ("SANDBOX_PORT", "SANDBOX_BASE_URL")
        }
        return serve_in_thread({**config, **overrides})

    return serve


@pytest.fixture
def live_sandbox(serve_live) -> Iterator[RunningSandbox]:
    """A sandbox served over real HTTP on a free loopback port."""
    with serve_live() as running:
        yield running


@pytest.fixture
def sandbox_free_environ() -> dict[str, str]:
    """This process's environment without any SANDBOX_* setting, for subprocesses."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
