"""The secret and origin checks catch what they must."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.e2e.invariants import foreign_requests, secret_leaks
from tests.e2e.recording import CODE, ID_TOKEN_HINT, Seen

APP = "http://localhost:5000"
THE_CODE = "c0de-abc"
TOKEN = "_0XBPWQQ_token"
CALLBACK = f"{APP}/callback?code={THE_CODE}&state=s"


def test_code_is_allowed_only_in_the_callback_url_and_the_redirect_to_it():
    seen = [
        Seen("GET /callback url", CALLBACK, CODE),
        Seen("GET /callback query code", THE_CODE, CODE),
        Seen("sandbox response header Location", CALLBACK, CODE),
        Seen("page url", CALLBACK, CODE),
    ]
    assert secret_leaks([THE_CODE, TOKEN], seen, {THE_CODE: CODE}) == []


def test_code_anywhere_else_is_a_leak():
    seen = [Seen("GET /static/css/app.css request header Referer", CALLBACK)]
    assert secret_leaks([THE_CODE], seen, {THE_CODE: CODE}) == [
        "code c0de-abc… in GET /static/css/app.css request header Referer"
    ]


def test_code_in_two_callback_urls_is_a_leak():
    seen = [
        Seen("GET /callback url", CALLBACK, CODE),
        Seen("page url", CALLBACK + "&again=1", CODE),
    ]
    assert len(secret_leaks([THE_CODE], seen, {THE_CODE: CODE})) == 1


def test_token_is_a_leak_even_where_a_code_may_be():
    seen = [Seen("page url", f"{APP}/callback?code={TOKEN}", CODE)]
    assert secret_leaks([TOKEN], seen, {}) == [f"secret {TOKEN[:10]}… in page url"]


def test_a_value_allowed_in_one_kind_of_place_is_a_leak_in_another():
    seen = [Seen("page url", f"{APP}/callback?code={TOKEN}", CODE)]
    assert secret_leaks([TOKEN], seen, {TOKEN: ID_TOKEN_HINT}) == [
        f"id_token_hint {TOKEN[:10]}… in page url"
    ]


def test_url_encoded_secret_is_a_leak():
    seen = [Seen("console 0", "token=a%2Fb")]
    assert secret_leaks(["a/b"], seen, {}) == ["secret a/b… in console 0"]


def test_requests_outside_the_app_and_sandbox_are_reported():
    urls = [f"{APP}/", "https://cdn.example/x.js", "data:image/png;base64,AA"]
    assert foreign_requests(urls, {APP}) == ["https://cdn.example/x.js"]


def test_a_token_in_the_browser_is_caught(new_journey, issued_secrets):
    """The whole recorder, end to end: plant the access token and the used code where a
    careless page might (storage, console) and check they are reported."""
    trip = new_journey("planted-secrets")
    page = trip.open()
    page.goto("/")
    trip.start_login(page)
    with page.expect_request(re.compile(r"/callback\?")) as callback:
        trip.sandbox_login(page, "demo", step=None)
    page.wait_for_url(trip.app_url + "/profile")
    code = parse_qs(urlsplit(callback.value.url).query)["code"][0]
    token = next(s for s in reversed(issued_secrets()) if s.startswith("_0XBPWQQ_"))
    page.evaluate("([t, c]) => { sessionStorage.setItem('t', t); console.log(c); }", [token, code])
    trip.close()
    found = trip.problems(issued_secrets())["browser"]
    assert any(f.startswith("secret _0XBPWQQ_") and "sessionStorage" in f for f in found), found
    assert any(f.startswith("code ") and "console" in f for f in found), found


def test_the_id_token_never_reaches_the_browser_even_at_logout(new_journey, issued_secrets):
    """With the default configuration no token passes through the browser at all: the
    end-session URL names the client (``client_id``), not the login (``id_token_hint``)."""
    trip = new_journey("logout-without-id-token-hint")
    page = trip.open()
    trip.log_in(page, "demo", openid=True)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(trip.app_url + "/logged-out?**")
    expect(page.get_by_role("heading", name="You are logged out")).to_be_visible()
    trip.close()
    carried = trip.recording(page).carried()
    assert [v for v, kind in carried.items() if kind == ID_TOKEN_HINT] == []
    assert trip.problems(issued_secrets()) == {}
