"""Shared pieces of the Hypothesis tests: settings, a logged-in test client, the checks.

The app runs in the test process through Flask's test client (fast), against the live
sandbox, so every token request and API call it makes is real HTTP on loopback. Runs are
reproducible: examples are derived from the test's name (``derandomize``), never from a
database, and their number is bounded.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

#: Enough to meet every strategy's odd corners in a few seconds, same examples every run.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def log_in(client: FlaskClient, app_url: str, browser) -> None:
    """A whole login: the test client plays the app's side, ``browser`` the sandbox's."""
    to_sandbox = client.get("/login", base_url=app_url)
    assert to_sandbox.status_code == 302
    page = browser.get(to_sandbox.headers["Location"])
    back = browser.submit_login(page, "demo", "demo")
    done = client.get(back.headers["Location"])
    assert done.status_code == 303, done.get_data(as_text=True)


def check_answer(response, secrets: list[str], hosts: set[str]) -> None:
    """No crash, no secret, no redirect to a host outside ``hosts`` (the app's and
    Pagero's): what every fuzzed answer must meet."""
    text = response.get_data(as_text=True)
    assert response.status_code != 500 and "internal_error" not in text, text[:500]
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    leaked = [s[:12] for s in secrets if s and (s in text or s in headers)]
    assert leaked == [], f"secrets in the answer: {leaked}"
    location = response.headers.get("Location")
    if location:
        assert not location.startswith("//"), location
        assert urlsplit(location).netloc in {"", *hosts}, location
    for cookie in response.headers.getlist("Set-Cookie"):
        assert cookie.startswith("pagero_session="), cookie  # never the API's own
