"""Pending logins kept in the server-side session (Step 1 -> Step 2).

Why a dictionary of pending logins rather than one ``state`` value: a user
may start a login in several tabs; each tab's ``state`` must stay valid until
its own callback arrives (the Authlib Flask client does the same). Why we
remember *used* states: so the browser's Back button onto an old callback URL
gets a friendly "already used" page instead of a scary "unknown state".

Only digests of used states are kept; the live ``state`` values are random
128+ bit strings (RFC 6749 section 10.10) and never leave the session store.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

from . import errors

PENDING_KEY = "pending_logins"
USED_KEY = "used_states"
#: A user with more open login tabs than this loses the oldest one.
MAX_PENDING = 10
MAX_USED = 20


@dataclass(frozen=True)
class PendingLogin:
    """What /login remembers so /callback can finish the same login."""

    state: str
    created_at: float
    scope: str
    nonce: str | None = None
    code_verifier: str | None = None
    return_to: str | None = None


def remember(session: MutableMapping[str, Any], login: PendingLogin) -> None:
    pending = dict(session.get(PENDING_KEY) or {})
    pending[login.state] = asdict(login)
    while len(pending) > MAX_PENDING:
        oldest = min(pending, key=lambda s: pending[s]["created_at"])
        del pending[oldest]
    session[PENDING_KEY] = pending


def take(
    session: MutableMapping[str, Any], state: str | None, max_age: int, now: float | None = None
) -> PendingLogin:
    """Remove and return the pending login for ``state``, or raise why not.

    The state is consumed *before* the code is exchanged, so a second callback
    with the same state fails even if the first one is still in flight.
    """
    now = time.time() if now is None else now
    if not state:
        raise errors.MissingState(
            "The answer from Pagero has no 'state' parameter, so it cannot be matched "
            "to a login started here. Please start again."
        )
    pending = dict(session.get(PENDING_KEY) or {})
    entry = pending.pop(state, None)
    if entry is None:
        if _digest(state) in (session.get(USED_KEY) or {}):
            raise errors.ReusedState(
                "This login link has already been used. Each link from Pagero works "
                "once, so going Back to it cannot log you in again."
            )
        if not pending and not session.get(USED_KEY):
            raise errors.NoLoginSession(
                "This browser has no login in progress with this app: the session cookie "
                "set when the login started did not come back. The usual cause is opening "
                "the app on one host name (e.g. 127.0.0.1) while the redirect URI "
                "registered with Pagero uses another (e.g. localhost); cookies are kept "
                "per host. Open the app on the redirect URI's host, or allow cookies, and "
                "start again."
            )
        raise errors.UnknownState(
            "The 'state' in the answer from Pagero does not match any login started in "
            "this browser. Please start again."
        )
    session[PENDING_KEY] = pending
    mark_used(session, state, now)
    login = PendingLogin(**entry)
    if now - login.created_at > max_age:
        raise errors.ExpiredState(
            f"The login was started more than {max_age // 60} minutes ago and has "
            "expired. Please start again."
        )
    return login


def mark_used(session: MutableMapping[str, Any], state: str, now: float) -> None:
    used = dict(session.get(USED_KEY) or {})
    used[_digest(state)] = now
    while len(used) > MAX_USED:
        del used[min(used, key=used.__getitem__)]
    session[USED_KEY] = used


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()[:32]
