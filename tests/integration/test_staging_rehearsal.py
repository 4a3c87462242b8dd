"""Rehearse the staging checklist on one machine: the app with PAGERO_ENV=staging against
the sandbox over https (docs/staging-qa.md, "Rehearse on your machine"), in this process and
as ``scripts/staging-rehearsal.sh`` runs it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sandbox.settings import SandboxConfigError, load_settings
from sandbox.tls import ensure_local_certificates
from tests.browser import parse_forms
from tests.servers import project_script
from tests.staging_rehearsal import staging_browser

ROOT = Path(__file__).resolve().parents[2]
DOCS = "/api-proxy/document/v1/documents"


def test_staging_logs_in_and_calls_the_api_against_the_sandbox_over_https(
    make_staging_app, tls_sandbox, local_tls, app_url
):
    app = make_staging_app()
    assert app.config["PAGERO_SETTINGS"].profile == "staging"
    assert tls_sandbox.base_url.startswith("https://")
    browser = staging_browser(app_url, str(local_tls.ca_cert))
    assert browser.login(scope="all openid").headers["Location"] == "/profile"
    assert "demo" in browser.get("/profile").text
    documents = browser.get(DOCS)
    assert documents.status_code == 200 and documents.json()["items"]
    assert tls_sandbox.state.counts["authorization_code"] == 1
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    assert browser.post("/logout", data=form.fields).status_code == 303
    assert browser.get("/profile").status_code == 401


def test_sandbox_tls_settings_come_in_pairs_and_make_the_base_url_https(local_tls):
    settings = load_settings(
        {"SANDBOX_TLS_CERT": str(local_tls.cert), "SANDBOX_TLS_KEY": str(local_tls.key)}
    )
    assert settings.tls and settings.base_url.startswith("https://localhost:")
    with pytest.raises(SandboxConfigError, match="set together"):
        load_settings({"SANDBOX_TLS_CERT": str(local_tls.cert), "SANDBOX_TLS_KEY": ""})


def test_local_certificates_are_made_once_and_reused(tmp_path):
    first = ensure_local_certificates(tmp_path)
    made = first.ca_cert.read_bytes()
    assert ensure_local_certificates(tmp_path).ca_cert.read_bytes() == made
    assert oct(first.key.stat().st_mode & 0o777) == "0o600"


def test_local_certificates_for_clients_too_replace_kept_ones_that_are_not(tmp_path):
    """``client_auth`` (a TLS Redis Cluster node's certificate) is not met by https-only ones."""

    def usages(found):
        cert = x509.load_pem_x509_certificate(found.cert.read_bytes())
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)

    https_only = ensure_local_certificates(tmp_path)
    assert usages(https_only) == {ExtendedKeyUsageOID.SERVER_AUTH}
    made = https_only.ca_cert.read_bytes()
    both = ensure_local_certificates(tmp_path, client_auth=True)
    assert both.ca_cert.read_bytes() != made
    assert usages(both) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert ensure_local_certificates(tmp_path).ca_cert.read_bytes() == both.ca_cert.read_bytes()


def test_the_rehearsal_script_runs_staging_against_the_tls_sandbox(tmp_path):
    with project_script(
        "staging-rehearsal.sh", tmp_path, "Staging rehearsal is running", 45
    ) as run:
        ports, proc, out = run
        text = out.read_text()
        assert "Pagero doctor: profile staging" in text and "All checks passed" in text
        assert "pagero-demo-secret" not in text
        url = f"http://localhost:{ports['APP_PORT']}"
        ca = tmp_path / "instance" / "sandbox-tls" / "ca.pem"
        browser = staging_browser(url, str(ca))
        assert browser.login().headers["Location"] == "/profile"
        sso = browser.visited[1]
        assert sso.startswith(f"https://localhost:{ports['SANDBOX_PORT']}/"), sso
        assert browser.get(DOCS).json()["items"]
        ready = browser.get("/readyz").json()["checks"]
        assert ready["pagero_token_endpoint"] == "ok" and ready["pagero_api"] == "ok"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
        assert proc.wait(timeout=30) == 0
        assert "rehearsal: stopped" in out.read_text()
