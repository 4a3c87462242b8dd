"""Several logins of one browser at once, over real HTTP against the sandbox: two tabs, logins
started at the same instant, the cap on pending logins per browser, and one callback arriving
twice together. Each must end logged in, or refused cleanly, and the code goes to Pagero once.

One login at a time, for each way it may be configured, is in ``test_login_flow.py``.
"""

from __future__ import annotations

import http.client
import threading
from pathlib import Path
from urllib.parse import urlsplit

from pagero_oauth import logins as login_state
from tests.browser import query_of
from tests.recorder import token_requests


def test_logins_started_in_two_tabs_both_complete(browser, sandbox):
    first = browser.open_login()
    second = browser.open_login()
    assert (
        query_of(first.headers["Location"])["state"]
        != query_of(second.headers["Location"])["state"]
    )
    page = browser.get(second.headers["Location"])
    back_second = browser.submit_login(page, "demo", "demo")
    # The sandbox now remembers the user: the first tab's login comes straight back.
    back_first = browser.get(first.headers["Location"])
    assert browser.get(back_second.headers["Location"]).headers["Location"] == "/profile"
    assert browser.get(back_first.headers["Location"]).headers["Location"] == "/profile"
    assert sandbox.counts["authorization_code"] == 2


def _raw_get(url: str, cookie: str) -> tuple[int, str]:
    """GET without redirects through http.client: unlike requests' urllib3, it logs nothing,
    so the code in a callback URL never reaches the run's log check from a test thread."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}", headers={"Cookie": cookie})
        answer = conn.getresponse()
        answer.read()
        return answer.status, answer.getheader("Location", "")
    finally:
        conn.close()


def _at_once(count: int, call) -> list:
    """``call(i)`` in ``count`` threads released together: requests of one browser that
    reach the app at the same instant (tabs restored together, a double click)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_logins_started_at_the_same_instant_in_one_browser_all_complete(browser, sandbox, app_url):
    # A first login gives this browser its session, then six more start at once on it.
    first = browser.open_login()
    cookie = f"pagero_session={browser.http.cookies['pagero_session']}"
    starts = _at_once(6, lambda i: _raw_get(f"{app_url}/login?", cookie))
    assert all(status == 302 for status, _ in starts)
    page = browser.get(first.headers["Location"])
    back = [browser.submit_login(page, "demo", "demo")]
    back += [browser.get(location) for _, location in starts]  # the sandbox remembers
    # Every one of them still finds its pending login (none lost to another's write).
    for answer in back:
        done = browser.get(answer.headers["Location"])
        assert done.status_code == 303 and done.headers["Location"] == "/profile", done.text


def test_pending_logins_per_browser_are_capped_and_the_oldest_is_dropped(
    browser, client_app, sandbox
):
    cap = login_state.MAX_PENDING_LOGINS
    started = [browser.open_login().headers["Location"] for _ in range(cap + 3)]
    folder = Path(client_app.extensions["pagero"].stores.logins.directory)
    # The newest `cap` pending logins and the list of them; nothing more piles up.
    assert len(list(folder.glob("logins-*.json"))) == cap + 1
    page = browser.get(started[-1])
    newest = browser.submit_login(page, "demo", "demo").headers["Location"]
    assert browser.get(newest).headers["Location"] == "/profile"
    # The sandbox remembers the user now: each older login comes straight back.
    oldest_kept = browser.get(started[-cap]).headers["Location"]
    assert browser.get(oldest_kept).headers["Location"] == "/profile"
    for dropped in started[:3]:
        refused = browser.get(browser.get(dropped).headers["Location"])
        assert refused.status_code == 400 and "unknown_state" in refused.text


def test_two_callbacks_with_one_state_at_the_same_instant_exchange_the_code_once(
    browser, sandbox, sandbox_recorder, app_url
):
    page = browser.get(browser.open_login().headers["Location"])
    callback = browser.submit_login(page, "demo", "demo").headers["Location"]
    cookie = f"pagero_session={browser.http.cookies['pagero_session']}"
    sandbox_recorder.clear()
    answers = _at_once(2, lambda i: _raw_get(callback, cookie))
    # A double click (or a proxy's resend) of one browser: the second waits for the
    # first and is given the session it created; the code goes to Pagero once.
    assert answers == [(303, "/profile")] * 2
    assert len(token_requests(sandbox_recorder)) == 1


def test_a_second_callback_in_the_instant_after_the_old_session_is_deleted_gets_the_login(
    browser, sandbox, sandbox_recorder, monkeypatch
):
    """The first callback deletes the pre-login session (a new id) before it has stored
    where the login went. A double click landing in between, its cookie naming the deleted
    session, must still be recognised and given the new session, not "session not found"."""
    from app.extension import pagero

    page = browser.get(browser.open_login().headers["Location"])
    callback = browser.submit_login(page, "demo", "demo").headers["Location"]
    cookie = f"pagero_session={browser.http.cookies['pagero_session']}"
    second: list = []
    thread = threading.Thread(target=lambda: second.append(_raw_get(callback, cookie)))
    save = pagero.save

    def save_with_a_double_click_arriving(session, token_set):
        # The old session is gone (regenerate ran); the new one is not finished yet.
        thread.start()
        thread.join(0.3)  # the second request is answered at once, or waits for this one
        save(session, token_set)

    monkeypatch.setattr(pagero, "save", save_with_a_double_click_arriving)
    sandbox_recorder.clear()
    assert _raw_get(callback, cookie) == (303, "/profile")
    thread.join(10)
    assert second == [(303, "/profile")]
    assert len(token_requests(sandbox_recorder)) == 1
