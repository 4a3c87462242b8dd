"""``flask pagero doctor`` against the live sandbox: a good configuration passes, and
each kind of mistake fails with a line that names it (and never shows the secret)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from werkzeug.serving import make_server

from app.qa.doctor import Report, check_configuration
from tests.factories import production_settings
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pagero-demo-secret"


def doctor(app, *args: str):
    result = app.test_cli_runner().invoke(args=["pagero", "doctor", *args])
    assert SECRET not in result.output
    return result


def line(output: str, name: str) -> str:
    (found,) = [x for x in output.splitlines() if f"  {name} " in x]
    return found


def test_a_good_configuration_passes_every_check(client_app, sandbox):
    result = doctor(client_app)
    assert result.exit_code == 0, result.output
    assert "profile sandbox" in result.output
    assert line(result.output, "PAGERO_REDIRECT_URI path").lstrip().startswith("ok")
    assert "issuer is PAGERO_ISSUER" in line(result.output, "PAGERO_METADATA_URL")
    assert "HTTP 200" in line(result.output, "PAGERO_JWKS_URI")
    assert "DNS localhost" in line(result.output, "PAGERO_TOKEN_URL")
    assert "invalid_grant, not invalid_client" in result.output
    assert "0 problem(s)" in result.output
    assert sandbox.counts["authorization_code"] == 0  # the made-up code got nothing


def test_a_wrong_secret_fails_with_invalid_client(make_app, sandbox):
    result = doctor(make_app(PAGERO_CLIENT_SECRET="not-the-secret"))
    assert result.exit_code == 1
    credentials = line(result.output, "PAGERO_CLIENT_ID and _SECRET")
    assert credentials.lstrip().startswith("FAIL") and "invalid_client" in credentials
    assert "not-the-secret" not in result.output


def test_an_unreachable_token_endpoint_fails(make_app, sandbox):
    closed = free_port()
    result = doctor(make_app(PAGERO_TOKEN_URL=f"http://localhost:{closed}/oauth/v2/oauth-token"))
    assert result.exit_code == 1
    token = line(result.output, "PAGERO_TOKEN_URL")
    assert token.lstrip().startswith("FAIL") and "Connection refused" in token
    credentials = line(result.output, "PAGERO_CLIENT_ID and _SECRET")
    assert credentials.lstrip().startswith("skip") and "cannot connect" in credentials


@contextmanager
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """A server that accepts connections and never answers: (its URL, the connections)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


def test_a_silent_token_endpoint_costs_one_timeout_and_skips_the_credentials_check(
    make_app, sandbox
):
    with silent_server() as (url, accepted):
        # The app's default read timeout, as on staging.
        app = make_app(
            PAGERO_TOKEN_URL=f"{url}/oauth/v2/oauth-token", PAGERO_HTTP_READ_TIMEOUT="10"
        )
        started = time.monotonic()
        result = doctor(app)
        took = time.monotonic() - started
        assert len(accepted) == 1  # asked once, never again
    assert result.exit_code == 1
    token = line(result.output, "PAGERO_TOKEN_URL")
    assert token.lstrip().startswith("FAIL") and "no answer within 10.0 s" in token
    assert result.output.count("within 10.0 s") == 1  # the timeout is named once
    credentials = line(result.output, "PAGERO_CLIENT_ID and _SECRET")
    assert credentials.lstrip().startswith("skip")
    assert "PAGERO_TOKEN_URL, which failed above (no answer)" in credentials
    assert "1 skipped" in result.output
    assert took < 15


def test_endpoints_on_a_server_that_was_silent_are_not_asked_again(make_app, sandbox):
    with silent_server() as (url, accepted):
        app = make_app(
            PAGERO_TOKEN_URL=f"{url}/oauth/v2/oauth-token",
            PAGERO_REVOCATION_URL=f"{url}/oauth/v2/oauth-revoke",
            PAGERO_HTTP_READ_TIMEOUT="1",
        )
        result = doctor(app)
        assert len(accepted) == 1
    revocation = line(result.output, "PAGERO_REVOCATION_URL")
    assert revocation.lstrip().startswith("FAIL")
    assert "not asked again" in revocation and "gave no answer above" in revocation


def test_a_host_that_does_not_resolve_fails_at_dns(make_app, sandbox):
    result = doctor(make_app(PAGERO_API_BASE_URL="http://pagero-api.invalid/api"))
    assert result.exit_code == 1
    assert "DNS: pagero-api.invalid does not resolve" in line(result.output, "PAGERO_API_BASE_URL")


def test_an_endpoint_with_an_untrusted_certificate_fails_at_tls(make_app, sandbox):
    port = free_port()
    server = make_server("127.0.0.1", port, lambda env, start: [], ssl_context="adhoc")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = doctor(make_app(PAGERO_API_BASE_URL=f"https://localhost:{port}/api"))
    finally:
        server.shutdown()
    assert result.exit_code == 1
    assert "TLS failed" in line(result.output, "PAGERO_API_BASE_URL")
    assert "certificate" in line(result.output, "PAGERO_API_BASE_URL")


def test_a_server_error_fails_and_a_5xx_metadata_is_reported(make_app, sandbox):
    sandbox.faults.update({"metadata_503", "token_500"})
    result = doctor(make_app())
    assert result.exit_code == 1
    assert line(result.output, "PAGERO_METADATA_URL").lstrip().startswith("FAIL")
    assert "HTTP 500" in line(result.output, "PAGERO_TOKEN_URL")


def test_a_redirect_uri_that_is_not_the_callback_route_fails(make_app, sandbox, ports):
    app = make_app(PAGERO_REDIRECT_URI=f"http://localhost:{ports['app']}/auth/callback")
    result = doctor(app)
    assert result.exit_code == 1
    path = line(result.output, "PAGERO_REDIRECT_URI path")
    assert "/auth/callback is not this app's callback route /callback" in path


def test_risky_settings_are_warnings_and_https_is_required_outside_the_sandbox():
    report = Report("test")
    settings = production_settings(PAGERO_FLOW_TRACE="true", PAGERO_REQUIRE_ISS="false").replace(
        redirect_uri="http://app.example.com/callback"
    )
    check_configuration(report, settings, "/callback", "/logged-out")
    statuses = {name: status for _, status, name, _ in report.lines}
    assert statuses["PAGERO_FLOW_TRACE"] == "warn"
    assert statuses["PAGERO_REQUIRE_ISS"] == "warn"
    assert statuses["PAGERO_REDIRECT_URI"] == "fail"
    assert report.status == 1


def test_a_configuration_that_does_not_load_is_reported_variable_by_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    env.update(PYTHONPATH=str(ROOT), PAGERO_ENV="staging", INSTANCE_PATH=str(tmp_path / "i"))
    env["PAGERO_HTTP_READ_TIMEOUT"] = "soon"
    out = subprocess.run(
        [sys.executable, "-m", "app.qa.doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2, out.stderr
    assert "profile staging" in out.stdout
    for name in ("PAGERO_CLIENT_ID", "PAGERO_TOKEN_URL", "PAGERO_HTTP_READ_TIMEOUT", "SECRET_KEY"):
        assert line(out.stdout, name).lstrip().startswith("FAIL")
    assert "RuntimeWarning" not in out.stderr


def test_flask_app_wsgi_pagero_doctor_runs_it(sandbox, ports, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    env.update(SANDBOX_PORT=str(ports["sandbox"]), APP_PORT=str(ports["app"]))
    env.update(PYTHONPATH=str(ROOT), INSTANCE_PATH=str(tmp_path / "i"))
    flask = str(Path(sys.executable).parent / "flask")
    out = subprocess.run(
        [flask, "--app", "wsgi", "pagero", "doctor"],
        cwd=tmp_path,  # no developer's .env
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "All checks passed." in out.stdout


def test_flask_with_a_configuration_that_does_not_load_names_the_variables(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERO_", "SANDBOX_"))}
    env.update(PYTHONPATH=str(ROOT), PAGERO_ENV="production", INSTANCE_PATH=str(tmp_path / "i"))
    env.pop("SECRET_KEY", None)
    flask = str(Path(sys.executable).parent / "flask")
    out = subprocess.run(
        [flask, "--app", "wsgi", "pagero", "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2  # as gunicorn and python -m app.qa.doctor; 1 is "a check failed"
    assert "Invalid configuration for profile 'production'" in out.stderr
    for name in ("PAGERO_CLIENT_ID", "PAGERO_REDIRECT_URI", "SECRET_KEY"):
        assert name in out.stderr
    assert "python -m app.qa.doctor" in out.stderr
    assert "Traceback" not in out.stderr
