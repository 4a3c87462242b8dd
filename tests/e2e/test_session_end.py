"""A login that ends while a page is open: the page says so and the header stops offering
Log out (static/js/header.js)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from sandbox.state import EXTENSION_KEY
from tests.e2e.test_api_journeys import open_documents

DOCUMENTS_CALL = re.compile(r"/api-proxy/document/v1/documents(\?|$)")


def test_documents_after_the_login_ended_offer_log_in_not_log_out(journey, e2e_sandbox):
    state = e2e_sandbox.extensions[EXTENSION_KEY]
    page = journey.open()
    journey.log_in(page, "demo")
    open_documents(page)
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    state.faults.add("refresh_invalid_grant")
    state.advance_clock(601)  # the access token expired; Pagero refuses the refresh
    try:
        with page.expect_response(DOCUMENTS_CALL) as call:
            page.get_by_role("button", name="Load").click()
        assert call.value.status == 401
    finally:
        state.faults.discard("refresh_invalid_grant")
        state.advance_clock(-601)
    expect(page.locator("#documents-status")).to_contain_text("log in again")
    journey.step(page, "documents-login-ended")
    expect(nav.get_by_role("button", name="Log out")).to_have_count(0)
    expect(nav.get_by_role("link", name="Documents")).to_have_count(0)
    nav.get_by_role("link", name="Log in").click()  # the sandbox remembers: straight back
    page.wait_for_url(journey.app_url + "/profile")


def test_the_profile_keeps_tokens_under_technical_details(journey):
    page = journey.open()
    journey.log_in(page, "demo", openid=True)
    expect(page.get_by_text("You are logged in as Dana Demo of Demo Company AB")).to_be_visible()
    expect(page.get_by_text("Scope asked for")).to_be_hidden()
    page.get_by_text("Technical details").click()
    expect(page.get_by_text("Scope asked for")).to_be_visible()
    journey.step(page, "profile-technical-details")
