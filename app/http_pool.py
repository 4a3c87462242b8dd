"""The one outgoing HTTP session per worker: pooled, cookieless, configured once.

Every call to Pagero (token endpoint, JWKS, metadata, API) goes through it, so
keep-alive connections are reused across users. Two ``requests`` defaults are
wrong for a backend that serves many users and are switched off here:

* the cookie jar: a load balancer's affinity cookie from one user's call would
  ride along on everybody's next call;
* reading proxy settings from the environment on *every* request (about a
  millisecond each on a busy machine): they are read once at start-up instead,
  and only kept live when a proxy is actually configured, so ``NO_PROXY`` keeps
  its meaning.
"""

from __future__ import annotations

import os
import urllib.request

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar

USER_AGENT = "pagero-reference-client/1.0"


class NoCookies(RequestsCookieJar):
    """A jar that keeps nothing, so no response can set state shared by all users."""

    def set_cookie(self, cookie, *args, **kwargs) -> None:
        return None

    def extract_cookies(self, response, request) -> None:
        return None


def pooled_session(pool_size: int = 64) -> requests.Session:
    http = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    http.headers["User-Agent"] = USER_AGENT
    http.cookies = NoCookies()
    if not urllib.request.getproxies():
        http.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            http.verify = bundle
    return http


def pool_manager(http: requests.Session) -> urllib3.PoolManager:
    """The urllib3 pool under ``http`` (both schemes share one adapter)."""
    return http.get_adapter("https://").poolmanager
