"""Logging in through a real browser: the pages a user sees from the home page to the
profile, and the ways a login ends without one."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from sandbox.users import find_user


def test_login_with_all_shows_the_profile_without_identity(journey):
    page = journey.open()
    page.goto("/")
    journey.step(page, "home", docs="home.png")
    journey.start_login(page)
    journey.sandbox_login(page, "demo")
    page.wait_for_url(journey.app_url + "/profile")
    journey.step(page, "profile")
    expect(page.get_by_role("heading", name="You are logged in")).to_be_visible()
    page.get_by_text("Technical details").click()
    expect(page.locator(".facts")).to_contain_text("Scope asked for")
    expect(page.get_by_text("Log in again with openid")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Who you are"))).to_have_count(0)


def test_login_with_openid_shows_the_validated_claims(journey):
    demo = find_user("demo")
    page = journey.open()
    page.goto("/")
    journey.start_login(page, openid=True)
    journey.sandbox_login(page, "demo")
    page.wait_for_url(journey.app_url + "/profile")
    journey.step(page, "profile-openid", docs="profile.png")
    expect(page.get_by_role("heading", name=re.compile("Who you are"))).to_be_visible()
    who = page.locator("dl.facts").first
    for value in (demo.name, demo.email, demo.company_name, demo.publicid):
        expect(who).to_contain_text(value)
    # Every validated claim is listed too; the subject is Pagero's public user id.
    page.get_by_text("Technical details").click()
    page.get_by_text("All validated id_token claims").click()
    sub = page.locator("dt", has_text=re.compile(r"^\s*sub\s*$"))
    expect(sub.locator("xpath=following-sibling::dd[1]")).to_have_text(demo.publicid)
    journey.step(page, "profile-all-claims")


def test_prompt_login_shows_the_login_form_although_the_sandbox_remembers(journey):
    page = journey.open()
    journey.log_in(page, "demo")
    # Without prompt=login the sandbox remembers demo and sends the browser straight back.
    page.goto("/")
    journey.start_login(page)
    page.wait_for_url(journey.app_url + "/profile")
    journey.step(page, "profile-without-form")
    # With it, the login form is shown again.
    page.goto("/")
    journey.start_login(page, prompt_login=True)
    page.wait_for_url(re.compile(r"[?&]prompt=login(&|$)"))
    expect(page.get_by_label("Password")).to_be_visible()
    journey.sandbox_login(page, "demo", step="sandbox-login-again")
    page.wait_for_url(journey.app_url + "/profile")
    journey.step(page, "profile-after-prompt")


def test_cancel_at_the_sandbox_gives_the_access_denied_page(journey):
    page = journey.open()
    page.goto("/")
    journey.start_login(page)
    page.wait_for_url(journey.sandbox_url + "/**")
    journey.step(page, "sandbox-login")
    with page.expect_response(re.compile(r"/callback\?")) as callback:
        page.get_by_role("button", name="Cancel").click()
    assert callback.value.status == 400
    journey.step(page, "access-denied")
    expect(page.locator("[data-error-code]")).to_have_attribute("data-error-code", "access_denied")
    expect(page.get_by_role("heading", name="Pagero did not log you in")).to_be_visible()
    expect(page.get_by_role("link", name="Log in again")).to_be_visible()


def test_back_onto_the_used_callback_gives_the_already_used_page(journey):
    """Back from the profile re-opens the sandbox's page, which (remembering the user)
    sends the browser to /callback again with the same, now used, state."""
    page = journey.open()
    journey.log_in(page, "demo")
    with page.expect_response(re.compile(r"/callback\?")) as callback:
        page.go_back()
    assert callback.value.status == 400
    page.wait_for_url(re.compile(r"/callback\?"))
    journey.step(page, "already-used", docs="already-used.png")
    expect(page.locator("[data-error-code]")).to_have_attribute(
        "data-error-code", "state_already_used"
    )
    expect(page.get_by_role("heading")).to_contain_text("already used")
    # Still logged in: the first login stands.
    page.get_by_role("link", name="Go to your profile").click()
    page.wait_for_url(journey.app_url + "/profile")
    expect(page.get_by_role("heading", name="You are logged in")).to_be_visible()


def test_logout_then_the_profile_asks_to_log_in(journey):
    page = journey.open()
    journey.log_in(page, "demo")
    page.get_by_role("button", name="Log out").click()
    # Home, or /logged-out after the sandbox's end-session page (RP-Initiated Logout).
    page.wait_for_url(re.compile(re.escape(journey.app_url) + r"/(\?logged_out=1|logged-out)"))
    journey.step(page, "logged-out")
    expect(page.get_by_text("You are logged out").first).to_be_visible()
    response = page.goto("/profile")
    assert response is not None and response.status == 401
    journey.step(page, "profile-after-logout")
    expect(page.locator("[data-error-code]")).to_have_attribute("data-error-code", "login_required")
    expect(page.get_by_role("link", name="Log in again")).to_be_visible()
