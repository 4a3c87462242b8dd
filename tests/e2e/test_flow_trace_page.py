"""The flow trace in a real browser, on a phone: every step of a login and an API call,
readable without sideways scrolling, and (checked after the test, like every journey)
without a single whole token, code or secret in it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.journey import PHONE

#: Every login has these; metadata and JWKS reads only where a worker had none cached yet.
STEPS = ("authorize", "callback", "token_request", "token_response", "logged_in")


def open_trace_with(page: Page, kind: str) -> None:
    """Steps are written just after each answer has gone out: reload until ``kind`` is in."""
    for _ in range(40):
        if page.locator(f'#trace li[data-kind="{kind}"]').count():
            return
        page.wait_for_timeout(100)
        page.reload()
    raise AssertionError(f"no {kind} step in the trace")


def test_flow_trace_shows_each_step_of_a_login_and_an_api_call(journey):
    page = journey.open("phone", **PHONE)
    journey.log_in(page, "demo", openid=True)
    with page.expect_response(re.compile("/api-proxy/")) as call:
        page.get_by_role("link", name="Documents").first.click()
    assert call.value.status == 200
    page.get_by_role("navigation").get_by_role("link", name="Flow trace").click()
    page.wait_for_url(journey.app_url + "/trace")
    open_trace_with(page, "api_call")
    for kind in STEPS:
        expect(page.locator(f'#trace li[data-kind="{kind}"]')).to_have_count(1)
    journey.step(page, "trace", fits=True)

    callback = page.locator('#trace li[data-kind="callback"]')
    callback.get_by_text("Callback: details").click()
    expect(callback.locator(".checks .pass")).to_have_count(2)
    request = page.locator('#trace li[data-kind="token_request"]')
    request.get_by_text("Token request: details").click()
    expect(request).to_contain_text("Basic [redacted]")
    request.get_by_role("link", name="Step 3: Exchanging to a token").click()
    expect(page.locator("#doc-step-3")).to_be_in_viewport()
    journey.step(page, "trace-details", fits=True)
