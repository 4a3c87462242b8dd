"""Usable by everyone: a phone-sized screen, the keyboard alone, labelled forms.

Every step of every journey also checks that each form control has a label
(:meth:`tests.e2e.journey.Journey.step`).
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.journey import PHONE

FOCUSED_JS = """() => { const e = document.activeElement;
  return [e.tagName.toLowerCase(), e.type || '', e.value || '', e.textContent.trim()]; }"""


def test_phone_sized_screen_needs_no_horizontal_scrolling(journey):
    page = journey.open("phone", **PHONE)
    page.goto("/")
    journey.step(page, "home", fits=True)
    journey.start_login(page, openid=True)
    page.wait_for_url(journey.sandbox_url + "/**")
    journey.step(page, "sandbox-login", fits=True)
    journey.sandbox_login(page, "demo", step=None)
    page.wait_for_url(journey.app_url + "/profile")
    journey.step(page, "profile", fits=True)
    with page.expect_response(re.compile("/api-proxy/")):
        page.get_by_role("link", name="Documents").first.click()
    expect(page.locator("#documents-table")).to_be_visible()
    journey.step(page, "documents", fits=True, docs="phone-documents.png", docs_full_page=False)
    page.goto("/explorer")
    with page.expect_response(re.compile("/api-proxy/")):
        page.get_by_role("button", name="Send").click()
    journey.step(page, "explorer", fits=True)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(re.escape(journey.app_url) + r"/(\?logged_out=1|logged-out)"))
    journey.step(page, "logged-out", fits=True)
    page.goto("/profile")
    journey.step(page, "login-required", fits=True)


def tab_to(page: Page, kind: str, value: str = "", text: str = "", limit: int = 20) -> None:
    """Press Tab until the focused element is a ``kind`` with this value or text."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        tag_or_type = page.evaluate(FOCUSED_JS)
        if kind in tag_or_type[:2] and value in tag_or_type[2] and text in tag_or_type[3]:
            return
    raise AssertionError(f"Tab never reached {kind} {value or text!r}")


def test_login_with_the_keyboard_only(journey):
    page = journey.open()
    page.goto("/")
    tab_to(page, "checkbox", value="openid")
    page.keyboard.press("Space")
    journey.step(page, "home-openid-ticked")
    tab_to(page, "submit", text="Log in with Pagero")
    page.keyboard.press("Enter")
    page.wait_for_url(journey.sandbox_url + "/**")
    # The sandbox focuses the user name field on load.
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    page.keyboard.type("demo")
    journey.step(page, "sandbox-filled")
    page.keyboard.press("Enter")
    page.wait_for_url(journey.app_url + "/profile")
    journey.step(page, "profile")
    expect(page.get_by_role("heading", name=re.compile("Who you are"))).to_be_visible()
