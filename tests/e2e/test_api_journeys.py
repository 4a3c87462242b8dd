"""The user's data through the backend-for-frontend proxy, in a real browser: the
documents page, and two people logged in at once each seeing only their own."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from sandbox.users import find_user

CURRENCY = {"demo": "SEK", "alice": "GBP", "bob": "EUR"}
DOCUMENTS_CALL = re.compile(r"/api-proxy/document/v1/documents(\?|$)")


def document_rows(page: Page) -> list[list[str]]:
    rows = page.locator("#documents-table tbody tr")
    return [row.locator("td").all_inner_texts() for row in rows.all()]


def open_documents(page: Page) -> None:
    with page.expect_response(DOCUMENTS_CALL) as call:
        page.get_by_role("navigation").get_by_role("link", name="Documents").click()
    assert call.value.status == 200
    expect(page.locator("#documents-table")).to_be_visible()


def test_documents_page_lists_the_users_documents(journey):
    page = journey.open()
    journey.log_in(page, "demo")
    open_documents(page)
    journey.step(page, "documents", docs="documents.png")
    rows = document_rows(page)
    assert rows and all(row[5].endswith("SEK") for row in rows)
    expect(page.get_by_role("status")).to_contain_text(f"showing {len(rows)} of")

    page.get_by_label("Direction").select_option("inbound")
    with page.expect_response(DOCUMENTS_CALL) as call:
        page.get_by_role("button", name="Load").click()
    assert "direction=inbound" in call.value.url
    expect(page.get_by_role("status")).to_contain_text("showing")
    journey.step(page, "documents-inbound")
    inbound = document_rows(page)
    assert inbound and all(row[2] == "inbound" for row in inbound)


def test_two_users_at_once_each_see_only_their_own(journey):
    pages = {user: journey.open(user) for user in ("demo", "alice")}
    for user, page in pages.items():
        page.goto("/")
        journey.start_login(page, openid=True)
        journey.sandbox_login(page, user, step=None)
        page.wait_for_url(journey.app_url + "/profile")
    # Both sessions are live now; each, reloaded, is still its own person.
    for user, page in pages.items():
        other = "alice" if user == "demo" else "demo"
        page.reload()
        journey.step(page, "profile")
        expect(page.locator(".facts").first).to_contain_text(find_user(user).email)
        expect(page.locator("main")).not_to_contain_text(find_user(other).email)
        expect(page.locator("main")).not_to_contain_text(find_user(other).name)
    for user, page in pages.items():
        open_documents(page)
        journey.step(page, "documents")
        rows = document_rows(page)
        assert rows and all(row[5].endswith(CURRENCY[user]) for row in rows), rows


def test_api_explorer_sends_a_call_through_the_proxy(journey):
    page = journey.open()
    journey.log_in(page, "alice")
    page.get_by_role("navigation").get_by_role("link", name="API explorer").click()
    page.wait_for_url(journey.app_url + "/explorer")
    page.get_by_label("Path").fill("document/v1/documents?limit=3")
    with page.expect_response(DOCUMENTS_CALL) as call:
        page.get_by_role("button", name="Send").click()
    assert call.value.status == 200
    expect(page.get_by_role("status")).to_contain_text("HTTP 200")
    expect(page.locator("#explorer-output")).to_contain_text('"currency": "GBP"')
    journey.step(page, "explorer")
