"""Checks that no secret the sandbox issued reached the browser or the logs."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.browser import Browser


def response_texts(browser: Browser) -> list[tuple[str, str]]:
    """(where, text) for everything the app sent this browser: bodies, headers, cookies."""
    out = []
    for r in browser.app_responses:
        where = f"{r.request.method} {urlsplit(r.url).path}"
        out.append((where + " body", r.text if _is_text(r) else ""))
        out.extend((f"{where} header {k}", v) for k, v in r.headers.items())
    for cookie in browser.http.cookies:
        out.append((f"cookie {cookie.name}", f"{cookie.name}={cookie.value}"))
    return out


def find_leaks(secrets: list[str], texts: list[tuple[str, str]]) -> list[str]:
    found = []
    for secret in secrets:
        if not secret:
            continue
        found.extend(f"{where}: ...{secret[:12]}..." for where, text in texts if secret in text)
    return found


def assert_no_leaks(sandbox, browser: Browser, caplog) -> None:
    """Every code, token and id_token the sandbox issued, and the client secret,
    is absent from every app response, cookie and log line."""
    secrets = sandbox.issued_secrets()
    assert secrets, "the sandbox issued nothing: this check would prove nothing"
    texts = [*response_texts(browser), ("logs", server_logs(caplog))]
    # After the callback no app URL may carry a code: check the URLs we were sent to.
    texts += [("visited url", u) for u in browser.visited if "/callback" not in u]
    assert find_leaks(secrets, texts) == []


#: The authorization server's own loggers (the sandbox, and Authlib's server
#: grants it is built on). They stand for Pagero's logs, not ours.
AUTHORIZATION_SERVER_LOGGERS = ("sandbox", "authlib.oauth2.rfc", "authlib.oidc")


def server_logs(caplog) -> str:
    """Log lines the app wrote while serving requests (server threads), not the
    test's own HTTP client, which logs the URLs it opens in the main thread."""
    return "\n".join(
        caplog.handler.format(r)
        for r in caplog.records
        if r.threadName != "MainThread" and not r.name.startswith(AUTHORIZATION_SERVER_LOGGERS)
    )


def _is_text(response) -> bool:
    kind = response.headers.get("Content-Type", "")
    return kind.startswith(("text/", "application/json", "application/problem+json"))
