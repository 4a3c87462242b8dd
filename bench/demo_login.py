"""Logging the sandbox's demo user in for a benchmark, over real HTTP.

Two ways, because the benchmarks compare the two sides of the proxy: through the app, as a
browser does (the app's session cookie is what /api-proxy calls carry), and directly, with
the benchmark playing the OAuth client itself (the bearer token the direct API calls carry).
Both fill in the sandbox's own login form, so they need no browser and no test helpers.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import requests


def login_through_app(app_url: str) -> str:
    """A whole browser login; returns the app's session cookie header."""
    http = requests.Session()
    to_sso = http.get(app_url + "/login", allow_redirects=False)
    page = http.get(to_sso.headers["Location"])
    back = _submit_login(http, page)
    http.get(back.headers["Location"], allow_redirects=False)
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies if c.name == "pagero_session")


def direct_access_token(sso: str, app_url: str) -> str:
    """The same user's token obtained by the benchmark itself (it plays the client)."""
    http = requests.Session()
    redirect_uri = app_url + "/callback"
    page = http.get(
        sso + "/oauth/v2/oauth-authorize",
        params={
            "response_type": "code",
            "client_id": "pagero-demo-client",
            "redirect_uri": redirect_uri,
            "state": "bench",
        },
    )
    back = _submit_login(http, page)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    token = http.post(
        sso + "/oauth/v2/oauth-token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        auth=("pagero-demo-client", "pagero-demo-secret"),
    )
    return token.json()["access_token"]


def _submit_login(http: requests.Session, page: requests.Response) -> requests.Response:
    action = re.search(r'<form[^>]*action="([^"]*)"', page.text).group(1).replace("&amp;", "&")
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields.update(username="demo", password="demo", action="login")
    return http.post(urljoin(page.url, action), data=fields, allow_redirects=False)
