"""Many people logging in at once: does every session stay its own? ``make load``.

Starts the sandbox with ``SANDBOX_EXTRA_USERS`` load-test users (user001 ...), the app
under gunicorn with several workers (the Dockerfile's command) and, for the Redis backend,
a real redis-server, all on loopback. Then, for each session backend:

1. **logins**: N browser-less flows start together, each as a different user: /login
   with ``scope=all openid``, the sandbox's login form, the callback, then ``GET /session``
   and the documents through ``/api-proxy``;
2. **refresh storm**: every session calls the API again at once, and each call refreshes
   first (the app runs with ``PAGERO_REFRESH_MARGIN`` a second under the sandbox tokens'
   600 s life, so a token is always within it; a margin as long as the life would be
   capped to half of it): exactly one refresh grant per session, none presented twice.
   (Moving the sandbox's clock
   instead would not do: its id_tokens would be issued in the app's future, and the app
   rightly refuses those);
3. **still there**: every session asks ``GET /session`` once more.

Each flow must end logged in as its own user, every document it sees must belong to its
user's company, no app response may name another load-test user or carry a token, and no
session may be lost. Exits 1 on any violation. Bounded: N flows, three phases, 60 s
timeouts; nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import ProtocolError

from bench import servers
from bench.cli import count

DOCS = "/api-proxy/document/v1/documents?limit=100"
TIMEOUT = 60
#: App settings for a load run: every API call refreshes its token first (see above).
APP_SETTINGS = {"PAGERO_REFRESH_MARGIN": "599"}
#: Any load-test user name (user001 ...): in the user name, email and company name.
LOAD_USER = re.compile(r"user\d{3,}")
#: A whole token as the sandbox issues them, or a JWT (id_token): never in an answer.
TOKEN = re.compile(r"_[0-9]XBPWQQ_[0-9A-Fa-f-]{8,}|eyJ[\w-]{8,}\.[\w-]{8,}\.")


def load_users(n: int) -> list[str]:
    """The sandbox's first ``n`` extra users (``SANDBOX_EXTRA_USERS`` >= n)."""
    width = max(3, len(str(n)))
    return [f"user{i:0{width}d}" for i in range(1, n + 1)]


@dataclass
class Flow:
    """One person's browser: its cookies, what it learned, what went wrong."""

    username: str
    app_url: str
    http: requests.Session = field(default_factory=requests.Session)
    company_id: str | None = None
    login_seconds: float = 0.0
    login_done_at: float = 0.0
    problems: list[str] = field(default_factory=list)
    #: The request under way (for a connection error's report).
    step: str = ""
    #: Requests sent again after the server closed an idle keep-alive connection.
    resent: int = 0
    #: (where, text) of every answer the app sent, for the caller's own secret checks.
    answers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.send("GET", url, **kwargs)

    def send(self, method: str, url: str, **kwargs) -> requests.Response:
        """One request, not following redirects; an app answer is inspected.

        A keep-alive connection the server closes just as a request goes out on it
        fails with nothing processed; browsers then send again on a new connection,
        and so does this (once, counted in :attr:`resent`).
        """
        url = urljoin(self.app_url + "/", url)
        self.step = f"{method} {urlsplit(url).netloc}{urlsplit(url).path}"
        kwargs.update(allow_redirects=False, timeout=TIMEOUT)
        try:
            response = self.http.request(method, url, **kwargs)
        except requests.ConnectionError as exc:
            if not _closed_before_answer(exc):
                raise
            self.resent += 1
            response = self.http.request(method, url, **kwargs)
        if urlsplit(url).netloc == urlsplit(self.app_url).netloc:
            self._inspect(f"{method} {urlsplit(url).path}", response)
        return response

    def _inspect(self, where: str, response: requests.Response) -> None:
        text = response.text
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.answers.append((where, text + "\n" + headers))
        if response.status_code >= 500:
            self.problems.append(f"{where} answered {response.status_code}")
        if foreign := set(LOAD_USER.findall(text + headers)) - {self.username}:
            self.problems.append(f"{where} named other users {sorted(foreign)[:3]}")
        if TOKEN.search(text + headers):
            self.problems.append(f"{where} carried a token")

    def fail(self, message: str) -> None:
        self.problems.append(message)


def _closed_before_answer(exc: requests.ConnectionError) -> bool:
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, ProtocolError) and any(
        isinstance(arg, ConnectionResetError | BrokenPipeError) for arg in reason.args
    )


def log_in(flow: Flow) -> None:
    """Step 1 to 3 the way a browser does them: redirects and the sandbox's login form."""
    started = time.perf_counter()
    to_sandbox = flow.get("/login?scope=all&scope=openid")
    if to_sandbox.status_code != 302:
        return flow.fail(f"/login answered {to_sandbox.status_code}")
    page = flow.get(to_sandbox.headers["Location"])
    form = re.search(r'<form method="post" action="([^"]+)"', page.text)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code != 200 or not form or not csrf:
        return flow.fail(f"the sandbox's login page answered {page.status_code}")
    back = flow.send(
        "POST",
        urljoin(page.url, unescape(form.group(1))),
        data={
            "csrf_token": csrf.group(1),
            "username": flow.username,
            "password": flow.username,
            "action": "login",
        },
    )
    if back.status_code != 302 or "/callback" not in back.headers.get("Location", ""):
        return flow.fail(f"the sandbox's login form answered {back.status_code}")
    done = flow.get(back.headers["Location"])
    flow.login_seconds = time.perf_counter() - started
    flow.login_done_at = time.monotonic()
    if done.status_code != 303:
        return flow.fail(f"/callback answered {done.status_code}")
    check_session(flow)


def check_session(flow: Flow, phase: str = "after login") -> None:
    """``GET /session`` names this flow's user, and the same company as before."""
    answer = flow.get("/session")
    if answer.status_code != 200:
        return flow.fail(f"{phase}: /session answered {answer.status_code} (session lost)")
    user = answer.json().get("user") or {}
    if user.get("preferred_username") != flow.username:
        return flow.fail(f"{phase}: /session names {user.get('preferred_username')!r}")
    if flow.company_id is None:
        flow.company_id = user.get("company_id")
    elif user.get("company_id") != flow.company_id:
        flow.fail(f"{phase}: /session's company changed to {user.get('company_id')!r}")


def check_documents(flow: Flow, phase: str) -> None:
    """Every document through /api-proxy belongs to this flow's company."""
    answer = flow.get(DOCS)
    if answer.status_code != 200:
        why = answer.json().get("detail", "") if answer.text.startswith("{") else ""
        return flow.fail(f"{phase}: documents answered {answer.status_code} {why}".rstrip())
    companies = {d.get("companyId") for d in answer.json().get("items", [])}
    if not companies or companies != {flow.company_id}:
        flow.fail(f"{phase}: documents of companies {sorted(map(str, companies))[:3]}")


@dataclass
class LoadReport:
    flows: list[Flow]
    login_wall_seconds: float
    refresh_grants: int | None = None
    refresh_rejected: int | None = None

    @property
    def logins_per_second(self) -> float:
        return len(self.flows) / self.login_wall_seconds

    def login_quantile(self, q: int) -> float:
        samples = [f.login_seconds for f in self.flows if f.login_seconds]
        return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else 0.0

    @property
    def resent(self) -> int:
        return sum(f.resent for f in self.flows)

    def problems(self) -> list[str]:
        found = [f"{f.username}: {p}" for f in self.flows for p in f.problems]
        companies = [f.company_id for f in self.flows if f.company_id]
        if len(set(companies)) != len(companies):
            found.append("two flows ended in the same company")
        n = len(self.flows)
        if self.refresh_grants is not None and self.refresh_grants != n:
            found.append(f"{self.refresh_grants} refresh grants for {n} sessions (want {n})")
        if self.refresh_rejected:
            found.append(f"{self.refresh_rejected} refresh tokens were presented twice")
        return found


def _all_at_once(flows: list[Flow], step: Callable[[Flow], None]) -> None:
    """Run ``step`` for every flow in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(flows))

    def run(flow: Flow) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            step(flow)
        except Exception as exc:  # a broken flow is a finding, not a crash of the run
            flow.fail(f"{flow.step}: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(len(flows)) as pool:
        list(pool.map(run, flows))


def run_load(
    app_url: str,
    usernames: list[str],
    grant_counts: Callable[[], dict[str, int]] | None = None,
) -> LoadReport:
    """The three phases against an app run with :data:`APP_SETTINGS`; ``grant_counts``
    reads the sandbox's grant counters (in this process or over its admin API). Without
    it there is no refresh storm, and the app may run with any settings."""
    flows = [Flow(name, app_url) for name in usernames]
    started = time.monotonic()
    _all_at_once(flows, lambda f: (log_in(f), f.company_id and check_documents(f, "login")))
    done = [f.login_done_at for f in flows if f.login_done_at]
    report = LoadReport(flows, (max(done) if done else time.monotonic()) - started)
    if grant_counts is not None:
        before = grant_counts().get("refresh_token", 0)
        _all_at_once(flows, lambda f: check_documents(f, "refresh storm"))
        counts = grant_counts()
        report.refresh_grants = counts.get("refresh_token", 0) - before
        report.refresh_rejected = counts.get("refresh_token_rejected", 0)
    _all_at_once(flows, lambda f: check_session(f, "at the end"))
    for flow in flows:
        flow.http.close()
    return report


def sandbox_counts(sandbox_url: str) -> Callable[[], dict[str, int]]:
    """The grant counters of a sandbox in another process (its /_sandbox API)."""
    return lambda: requests.get(f"{sandbox_url}/_sandbox/stats", timeout=10).json()["counts"]


def load_run(backend: str, flows: int, workers: int, folder: Path) -> tuple[LoadReport, float]:
    """Start sandbox, Redis (if asked) and app; run the load; return it and its wall time."""
    app_port, sso_port = servers.free_port(), servers.free_port()
    app_url, sso_url = f"http://localhost:{app_port}", f"http://localhost:{sso_port}"
    with ExitStack() as stack:
        redis_url = None
        if backend == "redis":
            redis_url = stack.enter_context(servers.redis(folder))
        stack.enter_context(
            servers.sandbox(sso_port, [app_url], folder, SANDBOX_EXTRA_USERS=str(flows))
        )
        stack.enter_context(
            servers.app(app_port, sso_port, folder, workers, redis_url=redis_url, **APP_SETTINGS)
        )
        started = time.monotonic()
        report = run_load(app_url, load_users(flows), sandbox_counts(sso_url))
        return report, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=count, default=200, help="concurrent logins (users)")
    parser.add_argument("--workers", type=count, default=4, help="gunicorn workers of the app")
    parser.add_argument("--backends", default="filesystem,redis")
    args = parser.parse_args()

    failed = False
    folder = Path(tempfile.mkdtemp(prefix="pagero-load-"))
    print(
        f"{args.flows} concurrent logins, app: gunicorn {args.workers} gevent "
        "workers, sandbox: gunicorn 1 gevent worker, loopback"
    )
    for backend in args.backends.split(","):
        report, wall = load_run(backend, args.flows, args.workers, folder)
        problems = report.problems()
        print(
            f"{backend:>10}: {report.logins_per_second:6.1f} logins/s, login p50 "
            f"{report.login_quantile(50):.2f} s p99 {report.login_quantile(99):.2f} s, "
            f"{report.refresh_grants} refreshes, {report.resent} resent on a closed keep-alive "
            f"connection, {len(problems)} problems ({wall:.0f} s)"
        )
        for problem in problems[:20]:
            print("    " + problem)
        failed |= bool(problems)
    print("FAILED: sessions were not isolated" if failed else "OK: every session stayed its own")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
