"""``flask --app wsgi pagero doctor``: will this configuration work against this Pagero?

Checks, in the order a login needs them, and prints one readable report:

1. the configuration of the chosen profile (``PAGERO_ENV``): the redirect URI is https
   outside the sandbox and its path is this app's own ``/callback`` route, the
   post-logout URI is ``/logged-out`` on the same origin, and settings that are allowed
   but risky;
2. the server metadata, when discovery is on: it answers and names ``PAGERO_ISSUER``;
   with discovery off (or its document unreadable), ``PAGERO_ISSUER`` is compared with
   the issuer the server publishes wherever its metadata is found
   (:func:`app.qa.doctor_login.check_issuer`);
3. each endpoint answers: its host resolves (DNS), TLS verifies, and HTTP answers
   without a server error; the authorize endpoint gets the app's real Step 1;
4. Step 1: the server accepts ``PAGERO_REDIRECT_URI`` (its login page or a redirect,
   not an error page: :func:`app.qa.doctor_login.check_authorization_request`);
5. the client credentials: a made-up code sent through the app's own Step 3
   (:meth:`PageroClient.exchange_code`) must come back ``invalid_grant`` ("this code is
   wrong"), not ``invalid_client`` ("who are you?"), which proves the client ID, secret
   and ``PAGERO_TOKEN_AUTH_METHOD`` without a browser or a user
   (:func:`app.qa.doctor_credentials.check_credentials`).

A server that does not answer costs one timeout: later requests to it are not sent, and
the checks that need its answer are skipped with the reason (:mod:`app.qa.doctor_probe`).

Exit status 0 when nothing failed (warnings allowed), 1 when a check failed, 2 when the
configuration does not even load. A configuration that does not load also stops
``flask`` from loading the app, so ``python -m app.qa.doctor`` runs the same report
without it. The client secret is never printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from config import ConfigError, Settings
from pagero_oauth import metadata as metadata_doc
from pagero_oauth.http import pooled_session

from .doctor_credentials import check_credentials
from .doctor_login import authorization_request, check_authorization_request, check_issuer
from .doctor_probe import Probe, Reached

cli = AppGroup("pagero", help="Pagero client tools.")

#: "skip": a check that needs an answer an earlier line did not get (that line says why).
MARKS = {"ok": "ok  ", "note": "note", "warn": "warn", "fail": "FAIL", "skip": "skip"}


@dataclass
class Report:
    title: str
    #: (section, status, name, detail); status is one of MARKS.
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)
    exit_code: int | None = None

    def add(self, section: str, status: str, name: str, detail: str) -> None:
        self.lines.append((section, status, name, detail))

    def count(self, status: str) -> int:
        return sum(1 for line in self.lines if line[1] == status)

    @property
    def status(self) -> int:
        if self.exit_code is not None:
            return self.exit_code
        return 1 if self.count("fail") else 0

    def render(self) -> str:
        out, section = [self.title, ""], None
        for where, status, name, detail in self.lines:
            if where != section:
                out += ([""] if section else []) + [where]
                section = where
            out.append(f"  {MARKS[status]}  {name:<32} {detail}")
        problems, warnings = self.count("fail"), self.count("warn")
        skipped = f", {self.count('skip')} skipped" if self.count("skip") else ""
        verdict = "All checks passed." if not problems else "Fix the FAIL lines above."
        out += ["", f"{problems} problem(s), {warnings} warning(s){skipped}. {verdict}"]
        return "\n".join(out)


@cli.command("doctor")
@click.option("--timeout", type=float, help="Seconds per network check (default: the app's).")
def doctor_command(timeout: float | None) -> None:
    """Check the configuration, Pagero's endpoints and the client credentials."""
    report = diagnose(current_app, timeout)
    click.echo(report.render())
    raise SystemExit(report.status)


def diagnose(app: Flask, timeout: float | None = None) -> Report:
    """Every check for ``app``'s settings (needs its app context)."""
    configured: Settings = app.extensions["pagero_client"].configured
    report = Report(f"Pagero doctor: profile {configured.profile} (PAGERO_ENV)")
    wait = (configured.http_connect_timeout, timeout or configured.http_read_timeout)
    probe = Probe(pooled_session(pool_size=4), wait)
    routes = _route(app, "auth.callback"), _route(app, "auth.logged_out")
    check_configuration(report, configured, *routes)
    settings, metadata_read = check_metadata(report, configured, probe)
    if not metadata_read:
        check_issuer(_adder(report, "Server metadata"), settings, probe)
    sent = authorization_request(app.extensions["pagero_client"], settings)
    reached = check_endpoints(report, settings, probe, sent)
    check_authorization_request(
        _adder(report, "Step 1: authorization request"),
        settings,
        sent,
        reached["PAGERO_AUTHORIZE_URL"],
    )
    token_unknown = (
        configured.discovery and not metadata_read and "token_url" not in configured.explicit
    )
    check_credentials(
        _adder(report, "Client credentials"), app, reached["PAGERO_TOKEN_URL"], token_unknown, wait
    )
    return report


def _adder(report: Report, section: str):
    return lambda status, name, detail: report.add(section, status, name, detail)


def diagnose_config_error(exc: ConfigError) -> Report:
    report = Report(f"Pagero doctor: profile {exc.profile} (PAGERO_ENV)", exit_code=2)
    for name, why in exc.problems.items():
        report.add("Configuration (does not load)", "fail", name, why)
    return report


def _route(app: Flask, endpoint: str) -> str:
    return next(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)


# -- 1. configuration ---------------------------------------------------------------------


def check_configuration(report: Report, s: Settings, callback: str, logged_out: str) -> None:
    def add(status: str, name: str, detail: str) -> None:
        report.add("Configuration", status, name, detail)

    add("note", "PAGERO_CLIENT_ID", f"{s.client_id} ({s.token_auth_method}; secret set, not shown)")
    redirect = urlsplit(s.redirect_uri)
    if redirect.scheme == "https":
        add("ok", "PAGERO_REDIRECT_URI", f"{s.redirect_uri}: https")
    elif s.profile == "sandbox":
        add("ok", "PAGERO_REDIRECT_URI", f"{s.redirect_uri}: http, fine for the local sandbox")
    elif s.profile == "staging":
        add("warn", "PAGERO_REDIRECT_URI", f"{s.redirect_uri}: http, only for a tester's machine")
    else:
        add("fail", "PAGERO_REDIRECT_URI", f"{s.redirect_uri}: must be https outside the sandbox")
    if redirect.path == callback:
        add("ok", "PAGERO_REDIRECT_URI path", f"{callback}, this app's callback route")
    else:
        add(
            "fail",
            "PAGERO_REDIRECT_URI path",
            f"{redirect.path or '/'} is not this app's callback route {callback}: Pagero "
            "would send every login to a page that does not exist here",
        )
    if s.end_session_url or s.discovery:
        logout = urlsplit(s.post_logout_redirect_uri)
        if logout.path != logged_out:
            add("fail", "PAGERO_POST_LOGOUT_REDIRECT_URI", f"path is not {logged_out}")
        elif (logout.scheme, logout.netloc) != (redirect.scheme, redirect.netloc):
            add("warn", "PAGERO_POST_LOGOUT_REDIRECT_URI", "another origin than the redirect URI")
        else:
            add("ok", "PAGERO_POST_LOGOUT_REDIRECT_URI", s.post_logout_redirect_uri)
    if not s.require_iss:
        add("warn", "PAGERO_REQUIRE_ISS", "false: a callback without iss is accepted (RFC 9207)")
    if s.use_pkce:
        add("ok", "PAGERO_USE_PKCE", "on (S256)")
    else:
        add("warn", "PAGERO_USE_PKCE", "false: an injected authorization code is not detected")
    if s.flow_trace and s.profile == "production":
        add("warn", "PAGERO_FLOW_TRACE", "on in production: /trace shows masked tokens")


# -- 2. server metadata ---------------------------------------------------------------------


def check_metadata(report: Report, s: Settings, probe: Probe) -> tuple[Settings, bool]:
    """Read the metadata like the app does; return the settings with it applied, and
    whether it was read (with discovery off: False)."""
    if not s.discovery:
        report.add("Server metadata", "note", "PAGERO_DISCOVERY", "off: configured endpoints")
        return s, False
    reached = probe.reach("GET", s.metadata_url)
    if reached.status != "ok":
        report.add("Server metadata", "fail", "PAGERO_METADATA_URL", reached.detail)
        return s, False
    try:
        metadata = metadata_doc.ServerMetadata.parse(
            reached.response.json(), expected_issuer=s.issuer, https_only=s.profile != "sandbox"
        )
    except ValueError as exc:
        report.add("Server metadata", "fail", "PAGERO_METADATA_URL", f"not used: {exc}")
        return s, False
    report.add(
        "Server metadata",
        "ok",
        "PAGERO_METADATA_URL",
        f"{reached.detail}; issuer is PAGERO_ISSUER; lists {', '.join(sorted(metadata.endpoints))}",
    )
    return metadata_doc.apply(s, metadata), True


# -- 3. endpoints ---------------------------------------------------------------------------


def check_endpoints(report: Report, s: Settings, probe: Probe, sent: str) -> dict[str, Reached]:
    """Reach each endpoint once; the authorize endpoint gets ``sent``, the app's own Step 1
    (read by :func:`app.qa.doctor_login.check_authorization_request`). Returns what each
    variable's request found."""
    found: dict[str, Reached] = {}
    for env, url, method in (
        ("PAGERO_AUTHORIZE_URL", s.authorize_url, "GET"),
        ("PAGERO_TOKEN_URL", s.token_url, "POST"),
        ("PAGERO_JWKS_URI", s.jwks_uri, "GET"),
        ("PAGERO_REVOCATION_URL", s.revocation_url, "POST"),
        ("PAGERO_END_SESSION_URL", s.end_session_url, "GET"),
        ("PAGERO_API_BASE_URL", s.api_base_url, "GET"),
    ):
        if not url:
            report.add("Endpoints", "note", env, "not configured")
            found[env] = Reached("fail", "not configured", why="no URL")
            continue
        reached = probe.reach(method, sent if env == "PAGERO_AUTHORIZE_URL" else url)
        if reached.status == "ok" and env == "PAGERO_JWKS_URI":
            reached = _check_jwks(reached)
        report.add("Endpoints", reached.status, env, f"{url}: {reached.detail}")
        found[env] = reached
    return found


def _check_jwks(reached: Reached) -> Reached:
    try:
        keys = reached.response.json().get("keys")
    except (ValueError, AttributeError):
        keys = None
    if reached.response.status_code != 200 or not isinstance(keys, list) or not keys:
        return Reached("fail", reached.detail + "; no JSON key set with keys")
    return Reached("ok", f"{reached.detail}; {len(keys)} key(s)")


def main(create_app: Callable[[], Flask]) -> int:
    """``python -m app.qa.doctor``: the same report, even when the app cannot load."""
    try:
        app = create_app()
    except ConfigError as exc:
        report = diagnose_config_error(exc)
    else:
        with app.app_context():
            report = diagnose(app)
    print(report.render())
    return report.status


if __name__ == "__main__":
    from dotenv import find_dotenv, load_dotenv

    load_dotenv(find_dotenv(usecwd=True), override=False)
    from app import create_app  # after .env is loaded, on purpose

    sys.exit(main(create_app))
