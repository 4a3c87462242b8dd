"""Logout against the sandbox over real HTTP: RFC 7009 revocation, the server-side session
deleted, and OpenID Connect RP-initiated logout with a checked return to /logged-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.browser import Browser, parse_forms, query_of
from tests.leaks import assert_no_leaks, find_leaks, response_texts, server_logs
from tests.servers import free_port

SESSION_COOKIE = "pagero_session"
END_SESSION = "/oauth/v2/oauth-session/logout"
REVOKE = "/oauth/v2/oauth-revoke"


def log_out(browser: Browser):
    """Press the Log out button of the profile page; return the app's answer."""
    form = next(f for f in parse_forms(browser.get("/profile").text) if f.action == "/logout")
    return browser.post("/logout", data=form.fields)


def assert_no_leaks_but_the_logout_hint(sandbox, browser, caplog, id_token: str) -> None:
    """:func:`tests.leaks.assert_no_leaks`, except that the id_token may travel where
    RP-initiated logout puts it: the redirect answering ``POST /logout`` (its Location,
    and the body Werkzeug writes for it) and the end-session URL the browser opened.
    Nothing else, and no other secret, may appear there."""
    secrets = sandbox.issued_secrets()
    carriers = ("POST /logout header Location", "POST /logout body")
    texts = response_texts(browser)
    hint = [(w, t) for w, t in texts if w in carriers]
    hint += [("end-session url", u) for u in browser.visited if END_SESSION in u]
    others = [(w, t) for w, t in texts if w not in carriers]
    others.append(("logs", server_logs(caplog)))
    others += [
        ("visited url", u) for u in browser.visited if "/callback" not in u and END_SESSION not in u
    ]
    assert find_leaks(secrets, others) == []
    assert find_leaks([s for s in secrets if s != id_token], hint) == []


def test_openid_logout_sends_no_token_through_the_browser_by_default(browser, sandbox, caplog):
    browser.login("alice", "alice", scope="all openid")
    done = log_out(browser)
    params = query_of(done.headers["Location"])
    assert "id_token_hint" not in params
    assert params["client_id"] == ["pagero-demo-client"]
    back = browser.get(done.headers["Location"])
    assert browser.get(back.headers["Location"]).status_code == 200
    assert_no_leaks(sandbox, browser, caplog)  # strict: no id_token anywhere either


def test_logout_revokes_deletes_the_session_and_ends_the_pagero_login(
    make_app, new_browser, sandbox, sandbox_recorder, ports, caplog
):
    make_app(PAGERO_LOGOUT_ID_TOKEN_HINT="true")  # the server wants the hint
    browser = new_browser()
    before = len(sandbox.issued_secrets())
    browser.login("alice", "alice", scope="all openid")
    (id_token,) = [s for s in sandbox.issued_secrets()[before:] if s.count(".") == 2]
    stolen_cookie = browser.http.cookies.get(SESSION_COOKIE)

    done = log_out(browser)
    assert done.status_code == 303
    target = urlsplit(done.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == (
        f"http://localhost:{ports['sandbox']}{END_SESSION}"
    )
    params = {k: v[0] for k, v in query_of(done.headers["Location"]).items()}
    assert params["id_token_hint"] == id_token
    assert params["post_logout_redirect_uri"] == f"{browser.app_url}/logged-out"
    assert params["client_id"] == "pagero-demo-client"
    assert len(params["state"]) >= 43  # 256 bits
    revocations = sandbox_recorder.to(REVOKE)
    assert [r.form["token_type_hint"][0] for r in revocations] == ["refresh_token", "access_token"]
    assert all(r.headers["Authorization"].startswith("Basic ") for r in revocations)
    assert sandbox.counts["revocation"] == 2

    back = browser.get(done.headers["Location"])  # the sandbox ends its login...
    assert back.status_code == 302
    assert back.headers["Location"] == f"{browser.app_url}/logged-out?state={params['state']}"
    page = browser.get(back.headers["Location"])  # ...and sends the browser back
    assert page.status_code == 200 and "You are logged out" in page.text

    assert browser.get("/profile").status_code == 401
    replay = Browser(browser.app_url)
    replayed = replay.get("/profile", headers={"Cookie": f"{SESSION_COOKIE}={stolen_cookie}"})
    assert replayed.status_code == 401
    # Pagero's login is over too: the next login asks for the password again.
    assert browser.get(browser.open_login().headers["Location"]).status_code == 200
    assert browser.get(back.headers["Location"]).status_code == 400  # the state works once
    assert_no_leaks_but_the_logout_hint(sandbox, browser, caplog, id_token)


def test_logout_without_openid_ends_the_pagero_login_without_a_hint(browser, sandbox, caplog):
    browser.login()
    done = log_out(browser)
    params = query_of(done.headers["Location"])
    assert "id_token_hint" not in params
    assert params["client_id"] == ["pagero-demo-client"]
    back = browser.get(done.headers["Location"])
    assert browser.get(back.headers["Location"]).status_code == 200
    assert browser.get("/profile").status_code == 401
    assert_no_leaks(sandbox, browser, caplog)


def test_logged_out_page_refuses_a_state_it_did_not_send(browser, sandbox, caplog):
    browser.login()
    for query in ("?state=forged", ""):
        response = browser.get("/logged-out" + query)
        assert response.status_code == 400
        assert 'data-error-code="logout_state_mismatch"' in response.text
    assert browser.get("/profile").status_code == 200  # nothing was changed
    assert_no_leaks(sandbox, browser, caplog)


def test_logout_without_an_end_session_endpoint_stays_local(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    sandbox.faults.add("no_end_session_endpoint")
    make_app()
    browser = new_browser()
    browser.login(scope="all openid")
    done = log_out(browser)
    assert done.headers["Location"] == "/?logged_out=1"
    assert sandbox.counts["revocation"] == 2
    assert sandbox_recorder.to(END_SESSION) == []
    assert "You are logged out" in browser.get(done.headers["Location"]).text
    assert browser.get("/profile").status_code == 401
    assert_no_leaks(sandbox, browser, caplog)  # the id_token never left the server


def test_revocation_authenticates_as_the_token_endpoint_does(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    """RFC 7009 section 2.1: a client registered for ``client_secret_post`` sends its
    credentials in the form at the revocation endpoint too, never as HTTP Basic."""
    make_app(PAGERO_TOKEN_AUTH_METHOD="client_secret_post")
    browser = new_browser()
    browser.login()
    assert log_out(browser).status_code == 303
    revocations = sandbox_recorder.to(REVOKE)
    assert [r.form["token_type_hint"][0] for r in revocations] == ["refresh_token", "access_token"]
    assert all("Authorization" not in r.headers for r in revocations)
    assert all(r.form["client_id"] == ["pagero-demo-client"] for r in revocations)
    assert all(r.form["client_secret"] == ["pagero-demo-secret"] for r in revocations)
    assert sandbox.counts["revocation"] == 2  # the sandbox accepted both
    assert_no_leaks(sandbox, browser, caplog)


def test_logout_without_a_revocation_endpoint_still_ends_both_logins(
    make_app, new_browser, sandbox, sandbox_recorder, caplog
):
    sandbox.faults.add("no_revocation_endpoint")
    make_app()
    browser = new_browser()
    browser.login()
    done = log_out(browser)
    assert sandbox_recorder.to(REVOKE) == []
    assert "no revocation endpoint" in caplog.text
    assert urlsplit(done.headers["Location"]).path == END_SESSION
    assert browser.get("/profile").status_code == 401
    assert_no_leaks(sandbox, browser, caplog)


def test_logout_completes_when_the_revocation_endpoint_is_down(
    make_app, new_browser, sandbox, caplog
):
    make_app(PAGERO_REVOCATION_URL=f"http://localhost:{free_port()}{REVOKE}")
    browser = new_browser()
    browser.login()
    done = log_out(browser)
    assert done.status_code == 303
    assert urlsplit(done.headers["Location"]).path == END_SESSION
    assert "revocation of refresh_token failed: ConnectionError" in caplog.text
    assert "revocation of access_token failed: ConnectionError" in caplog.text
    assert browser.get("/profile").status_code == 401
    assert_no_leaks(sandbox, browser, caplog)


def test_logout_completes_when_the_revocation_endpoint_answers_503(browser, sandbox, caplog):
    browser.login()
    sandbox.faults.add("revocation_503")
    assert log_out(browser).status_code == 303
    assert "revocation of refresh_token answered HTTP 503" in caplog.text
    assert browser.get("/profile").status_code == 401
    assert_no_leaks(sandbox, browser, caplog)
