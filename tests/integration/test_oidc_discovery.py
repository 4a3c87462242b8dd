"""Server metadata against the sandbox over real HTTP: read lazily and once, its endpoints
used, explicit variables still winning, a foreign issuer refused, a dead host survived."""

from __future__ import annotations

import re
import time

from tests.browser import query_of
from tests.leaks import assert_no_leaks
from tests.servers import free_port

METADATA = "/oauth/v2/oauth-anonymous/.well-known/openid-configuration"
ISSUER_PATH = "/oauth/v2/oauth-anonymous"


def _sandbox_url(ports, path: str = "") -> str:
    return f"http://localhost:{ports['sandbox']}{path}"


def test_start_up_reads_no_metadata_the_first_use_reads_it_once(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    make_app()
    assert sandbox_recorder.to(METADATA) == []  # create_app never waits for Pagero
    for user in ("alice", "bob"):
        browser = new_browser()
        assert browser.login(user, user, scope="all openid").headers["Location"] == "/profile"
    assert len(sandbox_recorder.to(METADATA)) == 1
    assert "server metadata read from" in caplog.text
    assert_no_leaks(sandbox, browser, caplog)


def test_metadata_endpoints_replace_the_profiles_defaults(
    make_app, new_browser, sandbox, sandbox_recorder, ports, caplog
):
    # Every profile default now points at a port where nothing listens; only the
    # issuer (and so the metadata URL derived from it) names the real sandbox.
    app = make_app(SANDBOX_PORT=str(free_port()), PAGERO_ISSUER=_sandbox_url(ports, ISSUER_PATH))
    browser = new_browser()
    to_sandbox = browser.open_login(scope="all openid")
    assert to_sandbox.headers["Location"].startswith(_sandbox_url(ports, "/oauth/v2/"))
    page = browser.get(to_sandbox.headers["Location"])
    done = browser.get(browser.submit_login(page, "demo", "demo").headers["Location"])
    assert done.headers["Location"] == "/profile"
    assert len(sandbox_recorder.to(ISSUER_PATH + "/jwks")) == 1
    effective = app.extensions["pagero_client"].settings
    assert effective.token_url == _sandbox_url(ports, "/oauth/v2/oauth-token")
    assert effective.revocation_url == _sandbox_url(ports, "/oauth/v2/oauth-revoke")
    assert effective.end_session_url == _sandbox_url(ports, "/oauth/v2/oauth-session/logout")
    assert_no_leaks(sandbox, browser, caplog)


def test_explicit_variables_override_the_metadata(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    dead = f"http://localhost:{free_port()}/oauth/v2/oauth-revoke"
    make_app(PAGERO_REVOCATION_URL=dead, PAGERO_END_SESSION_URL="")
    browser = new_browser()
    browser.login(scope="all openid")
    csrf = browser.get("/profile").text.split('name="csrf_token" value="')[1].split('"')[0]
    done = browser.post("/logout", data={"csrf_token": csrf})
    assert done.headers["Location"] == "/?logged_out=1"  # end-session explicitly off
    assert sandbox_recorder.to("/oauth/v2/oauth-revoke") == []  # went to the dead URL
    assert "PAGERO_REVOCATION_URL=" + dead + " overrides the metadata's" in caplog.text
    assert "PAGERO_END_SESSION_URL=(empty) overrides the metadata's" in caplog.text


def _error_code(response) -> str | None:
    found = re.search(r'data-error-code="([^"]+)"', response.text)
    return found.group(1) if found else None


def test_metadata_naming_another_issuer_refuses_the_login_instead_of_using_profile_defaults(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    sandbox.faults.add("metadata_wrong_issuer")
    app = make_app()
    browser = new_browser()
    answer = browser.open_login()
    # Neither the foreign document's endpoints nor the profile's defaults: a clear 503.
    assert answer.status_code == 503
    assert _error_code(answer) == "server_metadata_unavailable"
    assert "PAGERO_METADATA_URL" in answer.text and "another issuer" in answer.text
    assert sandbox_recorder.to("/oauth/v2/oauth-authorize") == []
    scripted = new_browser().get("/login", headers={"Accept": "application/json"})
    assert scripted.status_code == 503
    assert scripted.headers["Content-Type"] == "application/problem+json"
    assert scripted.json()["reason"] == "refused"
    refused = [
        r for r in caplog.records if r.name == "pagero_oauth.discovery" and r.levelname == "ERROR"
    ]
    assert refused, caplog.text
    message = refused[0].getMessage()
    for part in ("PAGERO_METADATA_URL", "issuer.invalid", "PAGERO_ISSUER", "mix-up"):
        assert part in message
    assert app.extensions["pagero_client"].discovery.metadata() is None
    # Reached, but not trusted: readiness says so rather than "unreachable".
    ready = new_browser().get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["authorization_server_metadata"] == "refused"


def test_unreachable_metadata_host_does_not_block_start_up_and_login_answers_503(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    url = f"http://localhost:{free_port()}/.well-known/openid-configuration"
    started = time.monotonic()
    make_app(PAGERO_METADATA_URL=url)
    assert time.monotonic() - started < 2
    answer = new_browser().open_login()
    assert answer.status_code == 503
    assert _error_code(answer) == "server_metadata_unavailable"
    assert "could not be reached" in answer.text
    assert sandbox_recorder.to("/oauth/v2/oauth-authorize") == []
    assert f"server metadata from PAGERO_METADATA_URL {url} not used (ConnectionError)" in (
        caplog.text
    )
    checks = new_browser().get("/readyz").json()["checks"]
    assert checks["authorization_server_metadata"] == "unreachable"


def test_endpoints_set_explicitly_still_work_while_the_metadata_is_unreachable(
    make_app, new_browser, sandbox, ports, caplog
):
    url = f"http://localhost:{free_port()}/.well-known/openid-configuration"
    make_app(
        PAGERO_METADATA_URL=url,
        PAGERO_AUTHORIZE_URL=_sandbox_url(ports, "/oauth/v2/oauth-authorize"),
        PAGERO_TOKEN_URL=_sandbox_url(ports, "/oauth/v2/oauth-token"),
        PAGERO_JWKS_URI=_sandbox_url(ports, ISSUER_PATH + "/jwks"),
    )
    browser = new_browser()
    assert browser.login(scope="all openid").headers["Location"] == "/profile"
    assert_no_leaks(sandbox, browser, caplog)


def test_token_exchange_while_the_metadata_is_refused_never_uses_the_profile_default(
    make_app, new_browser, sandbox, sandbox_recorder, ports
):
    # Only the login page is set explicitly: the token endpoint would be a profile default.
    sandbox.faults.add("metadata_wrong_issuer")
    make_app(PAGERO_AUTHORIZE_URL=_sandbox_url(ports, "/oauth/v2/oauth-authorize"))
    browser = new_browser()
    to_sandbox = browser.open_login()
    assert to_sandbox.status_code == 302
    page = browser.get(to_sandbox.headers["Location"])
    answer = browser.get(browser.submit_login(page, "demo", "demo").headers["Location"])
    assert answer.status_code == 503
    assert _error_code(answer) == "server_metadata_unavailable"
    assert "PAGERO_TOKEN_URL" in answer.text
    assert sandbox_recorder.to("/oauth/v2/oauth-token") == []


def test_refresh_while_the_metadata_is_refused_answers_503_and_keeps_the_tokens(
    make_app, new_browser, sandbox, sandbox_recorder
):
    # 5 s tokens and a margin just under their life: every API call wants a refresh.
    make_app(PAGERO_REFRESH_MARGIN="4")
    sandbox.faults.add("short_access_tokens")
    browser = new_browser()
    assert browser.login().headers["Location"] == "/profile"
    # A new worker on the same session store finds the metadata refused.
    sandbox.faults.add("metadata_wrong_issuer")
    make_app(PAGERO_REFRESH_MARGIN="4")
    sandbox_recorder.clear()
    answer = browser.get("/api-proxy/document/v1/documents")
    assert answer.status_code == 503
    assert answer.json()["type"] == "urn:pagero-client:error:server_metadata_unavailable"
    assert answer.json()["endpoint"] == "PAGERO_TOKEN_URL"
    assert sandbox_recorder.to("/oauth/v2/oauth-token") == []
    assert browser.get("/session").status_code == 200  # still logged in, for a later try


def test_logout_while_the_metadata_is_refused_stays_local_and_uses_no_default(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    make_app()
    browser = new_browser()
    assert browser.login().headers["Location"] == "/profile"
    sandbox.faults.add("metadata_wrong_issuer")
    make_app()
    csrf = browser.get("/profile").text.split('name="csrf_token" value="')[1].split('"')[0]
    done = browser.post("/logout", data={"csrf_token": csrf})
    assert done.headers["Location"] == "/?logged_out=1"  # no end-session endpoint known
    assert sandbox_recorder.to("/oauth/v2/oauth-revoke") == []
    assert "tokens not revoked" in caplog.text
    assert browser.get("/profile").status_code == 401


def test_metadata_is_read_again_after_a_failure_but_not_on_every_request(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    sandbox.faults.add("metadata_503")
    app = make_app()
    assert new_browser().open_login().status_code == 503
    assert "HTTP 503" in caplog.text
    sandbox.faults.clear()
    assert new_browser().open_login().status_code == 503  # within the retry interval
    assert len(sandbox_recorder.to(METADATA)) == 1  # no new try
    app.extensions["pagero_client"].discovery.RETRY_INTERVAL = 0
    assert new_browser().login().headers["Location"] == "/profile"
    assert len(sandbox_recorder.to(METADATA)) == 2
    assert app.extensions["pagero_client"].discovery.metadata() is not None


def test_declared_iss_support_makes_iss_mandatory_whatever_the_setting(
    make_app, new_browser, sandbox
):
    make_app(PAGERO_REQUIRE_ISS="false")
    sandbox.faults.add("missing_iss")
    browser = new_browser()
    to_sandbox = browser.open_login()
    page = browser.get(to_sandbox.headers["Location"])
    back = browser.submit_login(page, "demo", "demo")
    assert "iss" not in query_of(back.headers["Location"])
    response = browser.get(back.headers["Location"])
    assert response.status_code == 400
    assert 'data-error-code="missing_issuer"' in response.text


def test_discovery_off_reads_no_metadata(make_app, new_browser, sandbox, sandbox_recorder):
    make_app(PAGERO_DISCOVERY="false")
    assert new_browser().login(scope="all openid").headers["Location"] == "/profile"
    assert sandbox_recorder.to(METADATA) == []
