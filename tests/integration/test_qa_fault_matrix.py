"""Every sandbox fault, walked through the real app and sandbox, must give the status and
error code that docs/qa-checklist.md promises QA: the table is the expectation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbox.faults import KNOWN_FAULTS
from tests.browser import Browser, parse_forms
from tests.leaks import assert_no_leaks

CHECKLIST = Path(__file__).resolve().parents[2] / "docs" / "qa-checklist.md"
DOCS = "/api-proxy/document/v1/documents"
#: Below the test sandbox's SANDBOX_SLOW_SECONDS (3), so the slow faults time out.
SLOW = {"PAGERO_HTTP_READ_TIMEOUT": "0.5"}


def documented() -> dict[str, tuple[int, str | None]]:
    """fault -> (status, error code or None), from the checklist's table."""
    rows = {}
    for line in CHECKLIST.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`"):
            code = None if cells[4] == "—" else cells[4].strip("`")
            rows[cells[0].strip("`")] = (int(cells[3]), code)
    return rows


def outcome(response) -> tuple[int, str | None]:
    """The status and error code the app answered: its page's or problem+json's code,
    or the API's own ``error`` passed through."""
    if "json" in response.headers.get("Content-Type", ""):
        body = response.json()
        if "type" in body:
            return response.status_code, body["type"].rsplit(":", 1)[-1]
        return response.status_code, body.get("error")
    marker = 'data-error-code="'
    if marker in response.text:
        start = response.text.index(marker) + len(marker)
        return response.status_code, response.text[start : response.text.index('"', start)]
    return response.status_code, None


# -- what QA does, per the checklist's "QA does" column --------------------------------------


def log_in(browser: Browser, sandbox, fault: str):
    sandbox.faults.add(fault)
    return browser.login()


def start_login(browser: Browser, sandbox, fault: str):
    sandbox.faults.add(fault)
    return browser.open_login()


def log_in_openid(browser: Browser, sandbox, fault: str):
    sandbox.faults.add(fault)
    return browser.login(scope="all openid")


def documents(browser: Browser, sandbox, fault: str):
    assert browser.login().status_code == 303
    sandbox.faults.add(fault)
    return browser.get(DOCS)


def documents_after_the_clock_moved(browser: Browser, sandbox, fault: str):
    assert browser.login().status_code == 303
    sandbox.faults.add(fault)
    sandbox.advance_clock(601)
    return browser.get(DOCS)


def documents_with_short_tokens(browser: Browser, sandbox, fault: str):
    sandbox.faults.add(fault)
    assert browser.login().status_code == 303
    assert browser.get("/session").json()["access_token_expires_in"] <= 5
    assert browser.get(DOCS).status_code == 200
    assert sandbox.counts["refresh_token"] == 0  # the margin (60 s) is capped at 2.5 s
    time.sleep(2.6)
    response = browser.get(DOCS)
    assert sandbox.counts["refresh_token"] == 1  # refreshed before the call
    return response


def log_out(browser: Browser, sandbox, fault: str, fault_first: bool = False):
    if fault_first:
        sandbox.faults.add(fault)
    assert browser.login().status_code == 303
    sandbox.faults.add(fault)
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    response = browser.post("/logout", data=form.fields)
    assert browser.get("/profile").status_code == 401  # logged out whatever happened
    return response


def log_out_fault_first(browser: Browser, sandbox, fault: str):
    response = log_out(browser, sandbox, fault, fault_first=True)
    if fault == "no_end_session_endpoint":
        assert response.headers["Location"] == "/?logged_out=1"  # stays local
    return response


SCENARIOS = {
    "wrong_iss": (log_in, {}),
    "missing_iss": (log_in, {}),
    "token_slow": (log_in, SLOW),
    "token_500": (log_in, {}),
    "token_malformed": (log_in, {}),
    "short_access_tokens": (documents_with_short_tokens, {}),
    "refresh_invalid_grant": (documents_after_the_clock_moved, {}),
    "api_401": (documents, {}),
    "api_503": (documents, {}),
    "api_slow": (documents, SLOW),
    "metadata_wrong_issuer": (start_login, {}),
    "metadata_503": (start_login, {}),
    "no_revocation_endpoint": (log_out_fault_first, {}),
    "revocation_503": (log_out, {}),
    "no_end_session_endpoint": (log_out_fault_first, {}),
    **{name: (log_in_openid, {}) for name in KNOWN_FAULTS if name.startswith("id_token_")},
}


def test_the_checklist_and_this_matrix_cover_every_fault():
    assert set(documented()) == set(KNOWN_FAULTS)
    assert set(SCENARIOS) == set(KNOWN_FAULTS)


@pytest.mark.parametrize("fault", sorted(documented()))
def test_fault_gives_the_documented_status_and_error_code(
    fault, make_app, new_browser, sandbox, caplog
):
    scenario, settings = SCENARIOS[fault]
    make_app(**settings)
    browser = new_browser()
    response = scenario(browser, sandbox, fault)
    assert outcome(response) == documented()[fault]
    assert_no_leaks(sandbox, browser, caplog)
