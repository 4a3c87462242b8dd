"""A journey: one or more browser contexts driven through the app like a person would,
with a screenshot and the page checks at every step, and a recording of all they saw."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.invariants import foreign_requests, secret_leaks
from tests.e2e.recording import Recording

DESKTOP = {"width": 1024, "height": 720}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

#: Form controls a user fills in, each of which must have a <label> (WCAG 1.3.1, 4.1.2).
UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.labels.length === 0)
  .map(e => e.outerHTML)"""
OVERFLOW_JS = "() => [document.documentElement.scrollWidth, window.innerWidth]"
#: Short code words (scope names, error codes) squeezed into a narrow box, or broken
#: inside a word rather than at a space or hyphen, are hard to read.
BROKEN_WORDS_JS = """() => [...document.querySelectorAll('code')].filter(e => {
  const text = e.textContent, node = e.firstChild;
  if (text.trim().length > 24 || e.childNodes.length !== 1 || node.nodeType !== 3) return false;
  if (e.getClientRects().length === 1)
    return e.getBoundingClientRect().height > 2.2 * parseFloat(getComputedStyle(e).fontSize);
  const range = document.createRange();
  let top = null;
  for (let i = 0; i < text.length; i++) {
    range.setStart(node, i); range.setEnd(node, i + 1);
    const now = range.getBoundingClientRect().top;
    if (top !== null && now > top + 1 && !/[\\s\\-\\/]/.test(text[i - 1] + text[i])) return true;
    top = now;
  }
  return false;
}).map(e => e.textContent)"""


class Journey:
    def __init__(
        self,
        browser: Browser,
        app_url: str,
        sandbox_url: str,
        name: str,
        artifacts: Path,
        docs: Path | None,
    ):
        self.browser = browser
        self.app_url = app_url
        self.sandbox_url = sandbox_url
        self.name = re.sub(r"[^\w.-]+", "_", name)
        self.artifacts = artifacts
        self.docs = docs
        self.steps = 0
        self.contexts: list[tuple[BrowserContext, Recording]] = []

    # -- browsers ---------------------------------------------------------------------

    def open(self, label: str = "browser", **options) -> Page:
        """A new browser context (its own cookies: another person) with one page."""
        har = self.artifacts / "har" / f"{self.name}-{label}.har"
        har.parent.mkdir(parents=True, exist_ok=True)
        options.setdefault("viewport", DESKTOP)
        context = self.browser.new_context(
            base_url=self.app_url, record_har_path=har, record_har_content="embed", **options
        )
        context.set_default_timeout(10_000)
        recording = Recording(label, har, self.app_url, self.sandbox_url)
        recording.attach(context)
        self.contexts.append((context, recording))
        return context.new_page()

    def recording(self, page: Page) -> Recording:
        return next(r for c, r in self.contexts if c is page.context)

    # -- every step -------------------------------------------------------------------

    def step(
        self,
        page: Page,
        name: str,
        docs: str | None = None,
        fits: bool = False,
        docs_full_page: bool = True,
    ) -> None:
        """Record what the page holds, check it, and take its screenshot.

        ``docs``: also save a screenshot as ``docs/screenshots/<docs>`` (when regenerating),
        of the whole page or, with ``docs_full_page=False``, of the screen only.
        ``fits``: assert no horizontal scrolling and no short word broken over lines (phones).
        """
        page.wait_for_load_state("load")
        self.recording(page).snapshot(page)
        assert page.evaluate(UNLABELLED_JS) == [], f"{name}: form controls without a label"
        if fits:
            scroll_width, inner_width = page.evaluate(OVERFLOW_JS)
            assert scroll_width <= inner_width, f"{name}: {scroll_width}px wide in {inner_width}px"
            assert page.evaluate(BROKEN_WORDS_JS) == [], f"{name}: words broken over lines"
        path = self.screenshot(page, name)
        if docs and self.docs is not None:
            self.docs.mkdir(parents=True, exist_ok=True)
            target = self.docs / docs
            if docs_full_page:
                shutil.copyfile(path, target)
            else:
                page.screenshot(path=target, animations="disabled", caret="hide")
            # Committed and shown in the README: keep the repository light.
            assert target.stat().st_size < 150_000, f"{target.name} is over 150 KB"

    def screenshot(self, page: Page, name: str) -> Path:
        """test-artifacts/screenshots/<test>/<NN>-<browser>-<step>.png"""
        self.steps += 1
        label = self.recording(page).label
        path = self.artifacts / "screenshots" / self.name / f"{self.steps:02d}-{label}-{name}.png"
        page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
        return path

    # -- the flow, through the pages --------------------------------------------------

    def start_login(self, page: Page, openid: bool = False, prompt_login: bool = False) -> None:
        """From the home page: choose scopes and press "Log in with Pagero"."""
        if page.url.split("?")[0] != self.app_url + "/":
            page.goto("/")
        scope_openid = page.get_by_role("checkbox", name=re.compile(r"^openid"))
        scope_openid.set_checked(openid)
        page.get_by_role("checkbox", name=re.compile("Force re-authentication")).set_checked(
            prompt_login
        )
        page.get_by_role("button", name="Log in with Pagero").click()

    def sandbox_login(self, page: Page, user: str, step: str | None = "sandbox-login") -> None:
        """On the sandbox's login page: user name and password (= user name), "Log in"."""
        page.wait_for_url(self.sandbox_url + "/oauth/v2/oauth-authorize?**")
        if step:
            self.step(page, step)
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(user)
        page.get_by_role("button", name="Log in", exact=True).click()

    def log_in(self, page: Page, user: str = "demo", openid: bool = False) -> None:
        """A whole first login, ending on the profile page."""
        page.goto("/")
        self.start_login(page, openid=openid)
        self.sandbox_login(page, user, step=None)
        page.wait_for_url(self.app_url + "/profile")
        expect(page.get_by_role("heading", name="You are logged in")).to_be_visible()

    # -- the end: the invariants over everything seen ---------------------------------

    def close(self, failed: bool = False) -> None:
        """End every context (which writes its HAR); on failure, screenshot each page first."""
        for context, recording in self.contexts:
            for page in context.pages:
                if failed:
                    self.screenshot(page, "failed")
                else:
                    recording.snapshot(page)
            recording.snapshot_storage_state(context)
            context.close()

    def problems(self, secrets: list[str]) -> dict[str, list[str]]:
        """After :meth:`close`: every broken invariant, by browser; empty when all hold."""
        assert secrets, "the sandbox issued nothing: the secret check would prove nothing"
        out: dict[str, list[str]] = {}
        for _, recording in self.contexts:
            seen = recording.seen()
            assert seen, f"{recording.label}: nothing was recorded"
            found = secret_leaks(secrets, seen, recording.carried())
            found += [f"script error: {e}" for e in recording.script_errors]
            found += [f"missing file (404): {url}" for url in recording.missing_files]
            origins = {self.app_url, self.sandbox_url}
            found += [
                f"request outside the app and sandbox: {url}"
                for url in foreign_requests(recording.requested_urls(), origins)
            ]
            if found:
                out[recording.label] = found
        return out
