"""Everything one browser context saw, kept for the secret and origin checks.

The network comes from the HAR file Playwright writes when the context closes: every
request URL, request and response header, cookie, form body and response body, redirects
included. Console messages, script errors, page URLs, cookies and local and session
storage are collected while the journey runs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import BrowserContext, Page

from sandbox.sso import LOGOUT_PATH

STORAGE_JS = "() => [JSON.stringify({...localStorage}), JSON.stringify({...sessionStorage})]"

#: The places a one-time value may travel through the browser, by kind.
CODE = "code"  # the callback URL and the sandbox's redirect to it (RFC 6749 §4.1.2)
ID_TOKEN_HINT = "id_token_hint"  # the end-session URL and the redirect to it (RP logout §2)


@dataclass(frozen=True)
class Seen:
    """One thing the browser saw: where, its text, and which kind of one-time value
    (``CODE``, ``ID_TOKEN_HINT`` or none) may legitimately appear in it."""

    where: str
    text: str
    carries: str = ""


@dataclass
class Recording:
    label: str
    har_path: Path
    app_origin: str
    sandbox_origin: str
    console: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    #: Files of the app or the sandbox the browser asked for and did not get (a 404 in the
    #: console, such as a missing /favicon.ico); the API's own 404s through the proxy aside.
    missing_files: list[str] = field(default_factory=list)
    snapshots: list[Seen] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.on("console", self._on_console)
        context.on("weberror", lambda e: self.script_errors.append(str(e.error)))

    def _on_console(self, message) -> None:
        self.console.append(f"{message.type}: {message.text}")
        url = (message.location or {}).get("url", "")
        missing = message.type == "error" and "status of 404" in message.text
        if missing and "/api-proxy/" not in url:
            self.missing_files.append(url)

    def snapshot(self, page: Page) -> None:
        """The address bar, this origin's local and session storage, and every cookie."""
        url = page.url
        self.snapshots.append(Seen("page url", url, self.carrier(url)))
        local, session = page.evaluate(STORAGE_JS)
        origin = _origin(url)
        self.snapshots.append(Seen(f"localStorage of {origin}", local))
        self.snapshots.append(Seen(f"sessionStorage of {origin}", session))
        for cookie in page.context.cookies():
            self.snapshots.append(Seen(f"cookie {cookie['name']}", json.dumps(cookie)))

    def snapshot_storage_state(self, context: BrowserContext) -> None:
        """Cookies and local storage of every origin, as the context ends."""
        self.snapshots.append(Seen("storage state", json.dumps(context.storage_state())))

    def carrier(self, url: str) -> str:
        """Which one-time value this URL is meant to carry, if any."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin == self.app_origin and parts.path == "/callback":
            return CODE
        if origin == self.sandbox_origin and parts.path == LOGOUT_PATH:
            return ID_TOKEN_HINT
        return ""

    # -- after the context closed (the HAR is written then) ---------------------------

    def har(self) -> dict:
        return json.loads(self.har_path.read_text())["log"]

    def requested_urls(self) -> list[str]:
        return [e["request"]["url"] for e in self.har()["entries"]]

    def carried(self) -> dict[str, str]:
        """Values that arrived where they belong: callback codes, end-session hints."""
        names = {CODE: "code", ID_TOKEN_HINT: "id_token_hint"}
        out = {}
        for url in self.requested_urls():
            kind = self.carrier(url)
            for value in parse_qs(urlsplit(url).query).get(names.get(kind, ""), []):
                out[value] = kind
        return out

    def seen(self) -> list[Seen]:
        """Every text the browser saw, from the network log and the snapshots."""
        har = self.har()
        out = [Seen("page title", p.get("title", "")) for p in har["pages"]]
        for entry in har["entries"]:
            out.extend(self._entry_texts(entry))
        out.extend(Seen(f"console {i}", text) for i, text in enumerate(self.console))
        out.extend(Seen(f"script error {i}", text) for i, text in enumerate(self.script_errors))
        return out + self.snapshots

    def _entry_texts(self, entry: dict) -> list[Seen]:
        request, response = entry["request"], entry["response"]
        url = request["url"]
        name = f"{request['method']} {url.split('?')[0]}"
        carries = self.carrier(url)
        # A redirect may carry what the URL it leads to carries.
        location = response.get("redirectURL", "")
        leads_to = self.carrier(location) if 300 <= response["status"] < 400 else ""
        out = [Seen(f"{name} url", url, carries)]
        out += [
            Seen(f"{name} query {q['name']}", q["value"], carries)
            for q in request.get("queryString", [])
        ]
        out += [Seen(f"{name} request header {h['name']}", h["value"]) for h in request["headers"]]
        out += [Seen(f"{name} request cookie {c['name']}", c["value"]) for c in request["cookies"]]
        if request.get("postData"):
            out.append(Seen(f"{name} request body", request["postData"].get("text", "")))
        for h in response["headers"]:
            is_location = h["name"].lower() == "location"
            carried = leads_to if is_location else ""
            out.append(Seen(f"{name} response header {h['name']}", h["value"], carried))
        out.append(Seen(f"{name} redirect url", location, leads_to))
        out += [
            Seen(f"{name} response cookie {c['name']}", c["value"]) for c in response["cookies"]
        ]
        out.append(Seen(f"{name} response body", _body_text(response.get("content", {}))))
        return out


def _body_text(content: dict) -> str:
    text = content.get("text", "")
    if content.get("encoding") == "base64":
        # Latin-1 maps every byte to one character, so ASCII secrets still match.
        return base64.b64decode(text).decode("latin-1")
    return text


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
