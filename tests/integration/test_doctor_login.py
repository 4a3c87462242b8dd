"""The doctor's checks of what a login needs from Pagero (app/qa/doctor_login.py), against
the live sandbox: a redirect URI the server refuses and a wrong issuer with discovery off
(staging's default) each fail with a line naming the variable, before anyone logs in."""

from __future__ import annotations

from urllib.parse import parse_qs

from app.qa.doctor_login import metadata_candidates
from tests.factories import production_settings
from tests.integration.test_doctor import doctor, line
from tests.servers import free_port

REGISTERED = "PAGERO_REDIRECT_URI registered"


def test_a_redirect_uri_the_server_does_not_accept_fails_naming_it(make_app, sandbox, ports):
    unregistered = f"http://localhost:{free_port()}/callback"
    result = doctor(make_app(PAGERO_REDIRECT_URI=unregistered))
    assert result.exit_code == 1, result.output
    found = line(result.output, REGISTERED)
    assert found.lstrip().startswith("FAIL")
    assert unregistered in found and "HTTP 400" in found
    # The sandbox's page lists the registered URIs; the doctor quotes none of it.
    assert f"localhost:{ports['gunicorn']}/callback" not in result.output
    assert sandbox.counts["authorization_code"] == 0


def test_the_registered_redirect_uri_is_accepted_with_the_apps_own_step_1(
    client_app, sandbox, sandbox_recorder, ports
):
    result = doctor(client_app)
    assert result.exit_code == 0, result.output
    found = line(result.output, REGISTERED)
    assert found.lstrip().startswith("ok") and "HTTP 200, the login page" in found
    assert f"http://localhost:{ports['app']}/callback" in found
    (sent,) = sandbox_recorder.to("/oauth/v2/oauth-authorize")
    query = parse_qs(sent.query)
    assert query["response_type"] == ["code"] and query["client_id"] == ["pagero-demo-client"]
    assert query["scope"] == ["all"] and query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 43


def test_a_wrong_issuer_without_discovery_fails_naming_both_issuers(make_app, sandbox, ports):
    wrong = f"http://localhost:{ports['sandbox']}/oauth/v2/oauth-staging"
    right = f"http://localhost:{ports['sandbox']}/oauth/v2/oauth-anonymous"
    result = doctor(make_app(PAGERO_DISCOVERY="false", PAGERO_ISSUER=wrong))
    assert result.exit_code == 1, result.output
    found = line(result.output, "PAGERO_ISSUER")
    assert found.lstrip().startswith("FAIL")
    assert wrong in found and f"publishes: {right}" in found


def test_the_right_issuer_without_discovery_is_confirmed_by_the_servers_metadata(make_app, sandbox):
    result = doctor(make_app(PAGERO_DISCOVERY="false"))
    assert result.exit_code == 0, result.output
    assert "PAGERO_DISCOVERY" in result.output  # off
    found = line(result.output, "PAGERO_ISSUER")
    assert found.lstrip().startswith("ok") and "the server's metadata names it" in found


def test_an_issuer_on_another_host_without_metadata_is_a_warning(make_app, sandbox, ports):
    sandbox.faults.add("metadata_503")  # no document anywhere to compare with
    other_host = f"http://127.0.0.1:{ports['sandbox']}/oauth/v2/oauth-anonymous"
    result = doctor(make_app(PAGERO_DISCOVERY="false", PAGERO_ISSUER=other_host))
    found = line(result.output, "PAGERO_ISSUER")
    assert found.lstrip().startswith("warn"), result.output
    assert "PAGERO_AUTHORIZE_URL and PAGERO_TOKEN_URL" in found
    assert result.exit_code == 0  # a warning, not a failure


def test_metadata_is_looked_for_under_the_issuer_and_on_the_authorize_endpoints_host():
    settings = production_settings().replace(
        issuer="https://sso.example.com/oauth/v2/wrong",
        authorize_url="https://login.example.com/oauth/v2/oauth-authorize",
    )
    assert metadata_candidates(settings) == [
        "https://sso.example.com/oauth/v2/wrong/.well-known/openid-configuration",
        "https://sso.example.com/.well-known/oauth-authorization-server/oauth/v2/wrong",
        "https://login.example.com/oauth/v2/wrong/.well-known/openid-configuration",
        "https://login.example.com/oauth/v2/oauth-anonymous/.well-known/openid-configuration",
        "https://login.example.com/.well-known/openid-configuration",
        "https://login.example.com/.well-known/oauth-authorization-server",
    ]
