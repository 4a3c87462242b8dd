"""A browser without a screen: requests.Session plus a form parser.

It follows Pagero's login flow the way a person does (open /login, fill the
sandbox's form, get sent back), and records every response the app sent so
tests can assert that no secret ever reached the browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif self.forms and tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "submit":
                self.forms[-1].buttons.append((a.get("name", ""), a.get("value", "")))
            elif kind == "checkbox":
                if "checked" in a:
                    self.forms[-1].fields[a.get("name", "")] = a.get("value", "on")
            elif a.get("name"):
                self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif self.forms and tag == "button" and a.get("type", "submit") == "submit":
            self.forms[-1].buttons.append((a.get("name", ""), a.get("value", "")))


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    """Follows redirects by hand so each hop can be inspected."""

    def __init__(self, app_url: str):
        self.app_url = app_url.rstrip("/")
        self.http = requests.Session()
        self.app_origin = urlsplit(self.app_url).netloc
        #: Every response that came from the app (not the sandbox).
        self.app_responses: list[requests.Response] = []
        self.visited: list[str] = []

    def get(self, url: str, **kwargs) -> requests.Response:
        return self._send("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self._send("POST", url, **kwargs)

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        url = urljoin(self.app_url + "/", url)
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", 30)
        response = self.http.request(method, url, **kwargs)
        self.visited.append(url)
        if urlsplit(url).netloc == self.app_origin:
            self.app_responses.append(response)
        return response

    def follow(self, response: requests.Response, limit: int = 10) -> requests.Response:
        """Follow redirects (GET) until a page that is not a redirect."""
        for _ in range(limit):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            response = self.get(urljoin(response.url, response.headers["Location"]))
        raise AssertionError("too many redirects")

    def open_login(self, scope=None, prompt=None, **params) -> requests.Response:
        """/login, then follow to the sandbox page (login form or straight back)."""
        query = dict(params)
        if scope:
            query["scope"] = scope.split()
        if prompt:
            query["prompt"] = prompt
        return self.get("/login", params=query)

    def submit_login(
        self, page: requests.Response, username: str, password: str, cancel: bool = False
    ) -> requests.Response:
        """Fill and submit the sandbox's login form; return the redirect to the callback."""
        form = next(f for f in parse_forms(page.text) if "password" in f.fields or cancel)
        data = dict(form.fields)
        button = next(
            (b for b in form.buttons if (b[1].lower() == "cancel") == cancel and b[0]), None
        )
        if cancel:
            data.pop("password", None)
            data.pop("username", None)
        else:
            data.update(username=username, password=password)
        if button:
            data[button[0]] = button[1]
        action = urljoin(page.url, form.action or page.url)
        return self.post(action, data=data)

    def login(
        self, username: str = "demo", password: str = "demo", scope=None, prompt=None
    ) -> requests.Response:
        """A whole login. Returns the app's answer to the callback (not followed)."""
        to_sandbox = self.open_login(scope=scope, prompt=prompt)
        assert to_sandbox.status_code == 302, to_sandbox.text
        page = self.get(to_sandbox.headers["Location"])
        back = self.submit_login(page, username, password) if page.status_code == 200 else page
        assert back.status_code in (302, 303), back.text
        return self.get(back.headers["Location"])

    def callback_url_from(self, response: requests.Response) -> str:
        location = response.headers["Location"]
        assert urlsplit(location).path.endswith("/callback"), location
        return location


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)
