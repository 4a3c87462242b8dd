"""A hostile document opened through /api-proxy, in a real Chromium: it never runs as a page
of the app.

The attack: a document the API serves (a partner's upload, a compromised upstream) is HTML
that loads a second document as its script. Opened at /api-proxy/..., both are the app's
origin: the script could read the anti-forgery token from /session and send calls through
the proxy as the user. Chromium reads ``text/plain, text/html`` as HTML (the last type of
a list), so no list of "active" types can tell; the proxy refuses the ambiguous type (a
download) and sandboxes every answer, and the app's CSP runs scripts from /static/js/ only.
"""

from __future__ import annotations

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from sandbox.state import EXTENSION_KEY

DOCS = "/api-proxy/document/v1/documents"
#: What the hostile script does when it runs: take the token, send a call as the user.
HOSTILE_SCRIPT = """
document.title = "script ran";
fetch("/session").then(function (r) { return r.json(); }).then(function (s) {
  return fetch("/api-proxy/document/v1/documents", {
    method: "POST",
    headers: {"X-CSRF": "1", "Content-Type": "text/plain"},
    body: "sent by the hostile script with " + s.logout.csrf_token
  });
});
"""
UPLOAD_JS = """([body, type]) => fetch("/api-proxy/document/v1/documents", {
  method: "POST", credentials: "same-origin",
  headers: {"X-CSRF": "1", "Content-Type": type, "Accept": "application/json"}, body: body
}).then(r => r.json()).then(d => d.id)"""


def upload(page: Page, body: str, content_type: str) -> str:
    """Send a document through the proxy from the app's own page, as the user would."""
    return page.evaluate(UPLOAD_JS, [body, content_type])


def hostile_pair(page: Page, page_type: str) -> str:
    """A script document and an HTML document of type ``page_type`` loading it; the
    HTML's URL through the proxy."""
    script = upload(page, HOSTILE_SCRIPT, "text/javascript")
    html = (
        "<!doctype html><html><head><title>hostile</title>"
        f'<script src="{DOCS}/{script}/file"></script>'
        '<script>document.title = "inline script ran"</script>'
        "</head><body><p>Partner document</p></body></html>"
    )
    return f"{DOCS}/{upload(page, html, page_type)}/file"


def open_document(page: Page, url: str) -> None:
    """Open ``url`` as a person would; a download instead of a page is fine."""
    try:
        page.goto(url)
    except PlaywrightError as exc:
        assert "Download is starting" in str(exc) or "ERR_ABORTED" in str(exc), exc
    page.wait_for_timeout(1500)  # time for a script to have run and called, if any could


def test_a_list_of_types_is_a_download_and_runs_no_script(journey, e2e_sandbox):
    uploads = e2e_sandbox.extensions[EXTENSION_KEY].uploads
    page = journey.open()
    journey.log_in(page, "demo")
    url = hostile_pair(page, "text/plain, text/html")
    before = set(uploads)
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    open_document(page, url)
    assert set(uploads) == before  # the script never sent its call
    assert [d.url for d in downloads] == [journey.app_url + url]  # a file, not a page
    page.goto("/profile")
    journey.step(page, "profile-after-the-document")
    expect(page.get_by_role("heading", name="You are logged in")).to_be_visible()


def test_an_html_document_is_shown_sandboxed_and_runs_no_script(journey, e2e_sandbox):
    uploads = e2e_sandbox.extensions[EXTENSION_KEY].uploads
    page = journey.open()
    journey.log_in(page, "demo")
    url = hostile_pair(page, "text/html")
    before = set(uploads)
    open_document(page, url)
    # (No journey step here: the recording reads the page's storage, which a sandboxed
    # document of no origin does not have.)
    journey.screenshot(page, "hostile-document")
    expect(page.get_by_text("Partner document")).to_be_visible()  # shown, as a document
    assert page.title() == "hostile"  # neither its own script nor the loaded one ran
    assert set(uploads) == before
    page.goto("/profile")
    journey.step(page, "profile-after-the-document")


def test_the_apps_own_scripts_still_run_under_its_policy(journey):
    """script-src names /static/js/ only: the pages' scripts load and run, unreported."""
    page = journey.open()
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Security Policy" in m.text else None)
    journey.log_in(page, "demo")
    # countdown.js rewrites the server's "\n  600 s" as "600 s", then counts down.
    page.wait_for_function("() => /^\\d+ s$/.test(document.getElementById('expiry').textContent)")
    page.get_by_role("navigation").get_by_role("link", name="Documents").click()
    expect(page.locator("#documents-table tbody tr").first).to_be_visible()  # documents.js
    page.get_by_role("navigation").get_by_role("link", name="API explorer").click()
    page.get_by_role("button", name="Send").click()  # explorer.js
    expect(page.get_by_role("status")).to_contain_text("HTTP 200")
    journey.step(page, "explorer")
    assert refused == []
