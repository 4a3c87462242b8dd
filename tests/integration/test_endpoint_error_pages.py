"""When Pagero gives no usable answer, the page helps the person in front of it.

In the sandbox and staging profiles the page and the problem+json name the variable and
the URL involved (never its query string) and suggest the doctor; production shows a
generic page and logs the variable, URL and cause. "Try again" is offered only where
trying again can help: a timeout or a 5xx, not a closed port, a host name that does not
resolve or a certificate that is not trusted (pagero_oauth/failures.py)."""

from __future__ import annotations

import socket
from urllib.parse import urlencode, urlsplit

import pytest
import requests
import urllib3.exceptions

from pagero_oauth.failures import DOCTOR, Failure, cause_of
from tests.browser import Browser
from tests.servers import free_port
from tests.staging_rehearsal import staging_browser

TOKEN_PATH = "/oauth/v2/oauth-token"
DOCS = "/api-proxy/document/v1/documents"
JSON = {"Accept": "application/json"}
RETRY = "try again"


def callback_after_login(browser: Browser) -> str:
    """Log in at the sandbox; the app's callback URL, not yet followed."""
    to_sandbox = browser.open_login()
    page = browser.get(to_sandbox.headers["Location"])
    back = browser.submit_login(page, "demo", "demo") if page.status_code == 200 else page
    return back.headers["Location"]


# -- sandbox and staging: the variable, the URL and the doctor ---------------------------


def test_sandbox_token_timeout_names_the_variable_the_url_and_the_doctor(
    make_app, new_browser, sandbox, ports
):
    token_url = f"http://localhost:{ports['sandbox']}{TOKEN_PATH}"
    make_app(PAGERO_HTTP_READ_TIMEOUT="0.5", PAGERO_TOKEN_URL=token_url)
    sandbox.faults.add("token_slow")
    browser = new_browser()
    page = browser.get(callback_after_login(browser))
    assert page.status_code == 504
    assert (
        f"PAGERO_TOKEN_URL = {token_url} did not answer within PAGERO_HTTP_READ_TIMEOUT (0.5 s)"
        in page.text
    )
    assert DOCTOR in page.text and RETRY in page.text.lower()

    browser = new_browser()
    answer = browser.get(callback_after_login(browser), headers=JSON)
    body = answer.json()
    assert answer.status_code == 504 and body["variable"] == "PAGERO_TOKEN_URL"
    assert body["url"] == token_url and body["cause"] == "read_timeout"
    assert body["retry_helps"] is True and body["doctor"] == DOCTOR


def test_staging_refused_token_endpoint_says_what_to_check_without_query_or_retry(
    make_staging_app, tls_sandbox, local_tls, app_url
):
    closed = f"https://127.0.0.1:{free_port()}{TOKEN_PATH}"
    make_staging_app(PAGERO_TOKEN_URL=closed + "?api_key=Qx7-not-for-pages")
    browser = staging_browser(app_url, str(local_tls.ca_cert))
    page = browser.get(callback_after_login(browser))
    assert page.status_code == 502
    assert f"PAGERO_TOKEN_URL = {closed} refused the connection" in page.text
    assert "Check the host and port in PAGERO_TOKEN_URL" in page.text and DOCTOR in page.text
    assert RETRY not in page.text.lower() and "Qx7-not-for-pages" not in page.text

    browser = staging_browser(app_url, str(local_tls.ca_cert))
    body = browser.get(callback_after_login(browser), headers=JSON).json()
    assert body["url"] == closed and body["cause"] == "connection_refused"
    assert body["retry_helps"] is False and "Qx7" not in str(body)
    assert RETRY not in body["detail"].lower()


def test_staging_untrusted_certificate_points_at_requests_ca_bundle(
    make_staging_app, tls_sandbox, local_tls, app_url
):
    make_staging_app(trust_ca=False)
    browser = staging_browser(app_url, str(local_tls.ca_cert))
    page = browser.get(callback_after_login(browser))
    assert page.status_code == 502
    token_url = tls_sandbox.base_url + TOKEN_PATH
    assert f"The TLS connection to PAGERO_TOKEN_URL = {token_url} failed" in page.text
    assert "REQUESTS_CA_BUNDLE" in page.text and RETRY not in page.text.lower()


def test_staging_api_timeout_names_the_api_base_url_without_the_query(
    make_staging_app, tls_sandbox, local_tls, app_url
):
    make_staging_app(PAGERO_HTTP_READ_TIMEOUT="0.5")
    browser = staging_browser(app_url, str(local_tls.ca_cert))
    browser.login()
    tls_sandbox.state.faults.add("api_slow")
    answer = browser.get(DOCS + "?filter=Qx7-query")
    body = answer.json()
    assert answer.status_code == 504 and body["variable"] == "PAGERO_API_BASE_URL"
    assert body["url"] == tls_sandbox.base_url + "/api/document/v1/documents"
    assert "PAGERO_HTTP_READ_TIMEOUT (0.5 s)" in body["detail"] and "Qx7" not in answer.text


def test_sandbox_unreachable_metadata_names_pagero_metadata_url(make_app, new_browser, sandbox):
    url = f"http://localhost:{free_port()}/.well-known/openid-configuration"
    make_app(PAGERO_METADATA_URL=url)
    page = new_browser().open_login()
    assert page.status_code == 503
    assert f"PAGERO_METADATA_URL = {url} refused the connection" in page.text
    assert "Or set PAGERO_AUTHORIZE_URL explicitly" in page.text
    assert RETRY not in page.text.lower()


# -- production: a generic page, the details in the log -----------------------------------


def production_callback(app, tls_sandbox, app_url: str, accept: str = "text/html"):
    """A login started and its callback sent, as Pagero would, through the test client
    over https (production refuses an http redirect URI)."""
    base = "https://" + urlsplit(app_url).netloc
    client = app.test_client()
    login = client.get("/login", base_url=base)
    state = dict(p.split("=", 1) for p in urlsplit(login.location).query.split("&"))["state"]
    query = urlencode({"code": "x", "state": state, "iss": tls_sandbox.state.settings.issuer})
    return client.get(f"/callback?{query}", base_url=base, headers={"Accept": accept})


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_production_shows_a_generic_page_and_logs_variable_url_and_cause(
    make_staging_app, tls_sandbox, app_url, caplog, accept
):
    closed = f"https://127.0.0.1:{free_port()}{TOKEN_PATH}"
    redirect = "https://" + urlsplit(app_url).netloc + "/callback"
    app = make_staging_app(
        PAGERO_ENV="production", PAGERO_TOKEN_URL=closed, PAGERO_REDIRECT_URI=redirect
    )
    answer = production_callback(app, tls_sandbox, app_url, accept)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 502
    assert "token_endpoint_unavailable" in text and "log has the details" in text
    for hidden in ("PAGERO_TOKEN_URL", "127.0.0.1", DOCTOR, "connection_refused"):
        assert hidden not in text
    assert RETRY not in text.lower()
    assert f"variable=PAGERO_TOKEN_URL url={closed} cause=connection_refused" in caplog.text


def test_production_timeout_offers_to_try_again(make_staging_app, tls_sandbox, app_url, caplog):
    redirect = "https://" + urlsplit(app_url).netloc + "/callback"
    app = make_staging_app(
        PAGERO_ENV="production", PAGERO_REDIRECT_URI=redirect, PAGERO_HTTP_READ_TIMEOUT="0.5"
    )
    tls_sandbox.state.faults.add("token_slow")
    answer = production_callback(app, tls_sandbox, app_url)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 504 and RETRY in text.lower()
    assert "PAGERO_TOKEN_URL" not in text and tls_sandbox.base_url not in text
    assert "variable=PAGERO_TOKEN_URL" in caplog.text and "cause=read_timeout" in caplog.text


# -- the causes, one by one ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (
            requests.ConnectionError(
                urllib3.exceptions.NameResolutionError("h", None, socket.gaierror())
            ),
            "dns_failure",
        ),
        (requests.ConnectionError(ConnectionRefusedError()), "connection_refused"),
        (requests.exceptions.SSLError("certificate verify failed"), "tls_failure"),
        (requests.ConnectTimeout(), "connect_timeout"),
        (urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), "read_timeout"),
        (urllib3.exceptions.ProtocolError("Connection aborted."), "connection_broken"),
    ],
)
def test_each_cause_is_told_apart(exc, cause):
    assert cause_of(exc) == cause


def test_only_passing_causes_and_server_errors_offer_to_try_again():
    def failure(cause, status=None):
        return Failure("PAGERO_TOKEN_URL", "https://user:pw@sso.example/t?x=1#f", cause, status)

    assert failure("read_timeout").retry_helps and failure("http_status", 503).retry_helps
    for cause in ("dns_failure", "connection_refused", "tls_failure"):
        assert not failure(cause).retry_helps
        assert RETRY not in failure(cause).plainly("Pagero").lower()
    assert not failure("http_status", 404).retry_helps
    assert failure("dns_failure").url == "https://sso.example/t"
