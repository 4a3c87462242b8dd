"""Pending logins, from Step 1 (``/login``) to Step 2 (``/callback``).

Why one record per pending login: a user may start a login in several tabs;
each tab's ``state`` must stay valid until its own callback arrives (the
Authlib Flask client does the same). Why we remember *used* states: so the
browser's Back button onto an old callback URL gets a friendly "already used"
page instead of a scary "unknown state".

Why in the token store (:mod:`app.token_store`) and not in the session:
Flask-Session writes the whole session at the end of a request that changed
it, so two ``/login`` requests of one browser at the same moment (two tabs, a
double click) would each write their own copy and the last would silently
drop the other's pending login; two callbacks with the same ``state`` could
both read it before either wrote it back. Here each pending login is its own
record, written once by ``/login`` and taken by the callback with an atomic
read-and-delete (:meth:`TokenStore.pop`), so exactly one callback gets it,
across workers and instances.

What ties a record to this browser is a random *login binding* kept in the
session (RFC 6749 section 10.12: the state must be bound to the user agent).
It is set once, travels with the session when the callback gives it a new id,
and is forgotten at logout. The store key is a digest of binding and state, so
neither appears in a file name or a Redis key; the live ``state`` values are
random 256-bit strings (section 10.10 asks for at least 128).

Why a cap (:data:`MAX_PENDING_LOGINS`): every ``/login`` writes a record, and a
script repeating ``/login`` with one cookie would otherwise fill the store. Each
browser's pending logins are listed, oldest first, in one more record (by digest,
under the store's lock, so concurrent ``/login`` requests cannot lose an entry);
a new login beyond the cap deletes the oldest, whose callback is then refused as
an unknown state.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

from . import errors, tokens
from .token_store import LockTimeout, TokenStore

log = logging.getLogger(__name__)

#: The session key of the random value that binds pending logins to this browser.
BINDING_KEY = "login_binding"
#: How long past its expiry a pending login is kept, to say "expired" rather than
#: "unknown" when its callback arrives late (the store deletes it afterwards).
EXPIRED_GRACE = 3600
#: How long a used state is recognised, for the Back button's "already used" page.
USED_TTL = 24 * 3600
#: Pending logins kept per browser session; a newer login drops the oldest.
MAX_PENDING_LOGINS = 10
#: Seconds a /login waits for another /login of the same browser to list its own.
INDEX_LOCK_TIMEOUT = 5


@dataclass(frozen=True)
class PendingLogin:
    """What /login remembers so /callback can finish the same login."""

    state: str
    created_at: float
    scope: str
    nonce: str | None = None
    code_verifier: str | None = None
    return_to: str | None = None


def remember(
    session: MutableMapping[str, Any], store: TokenStore, login: PendingLogin, max_age: int
) -> None:
    """Keep ``login`` until its callback takes it (or ``max_age`` plus a grace passes).

    The session is written only the first time, to set the binding; every
    later login of this browser leaves it alone.
    """
    binding = session.get(BINDING_KEY)
    if not binding:
        binding = session[BINDING_KEY] = secrets.token_urlsafe(32)
    ttl = max_age + EXPIRED_GRACE
    digest = _digest(login.state)
    store.put(f"login:pending:{binding}:{digest}", asdict(login), ttl)
    _list_and_cap(store, binding, digest, ttl)


def _list_and_cap(store: TokenStore, binding: str, digest: str, ttl: int) -> None:
    """Add the new login to this browser's list; delete those beyond the cap.

    The list may name logins already taken (deleting them again is harmless), so
    it never holds fewer than the pending ones. Were the lock not to come, the
    login still starts; only its place in the list is missing (it then expires).
    """
    index = f"login:index:{binding}"
    try:
        with store.lock(index, timeout=INDEX_LOCK_TIMEOUT):
            listed = (store.get(index) or {}).get("pending", [])
            listed = [*listed, digest]
            for dropped in listed[:-MAX_PENDING_LOGINS]:
                store.delete(f"login:pending:{binding}:{dropped}")
            store.put(index, {"pending": listed[-MAX_PENDING_LOGINS:]}, ttl)
    except LockTimeout:
        log.warning("pending logins of one browser not capped: their list stayed locked")


def take(
    session: Mapping[str, Any],
    store: TokenStore,
    state: str | None,
    max_age: int,
    now: float | None = None,
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
    binding = session.get(BINDING_KEY)
    if not binding:
        raise errors.NoLoginSession(
            "This browser has no login in progress with this app: the session cookie "
            "set when the login started did not come back. The usual cause is opening "
            "the app on one host name (e.g. 127.0.0.1) while the redirect URI "
            "registered with Pagero uses another (e.g. localhost); cookies are kept "
            "per host. Open the app on the redirect URI's host, or allow cookies, and "
            "start again."
        )
    entry = store.pop(_key("pending", binding, state))
    if entry is None:
        if store.get(_key("used", binding, state)) is not None:
            raise errors.ReusedState(
                "This login link has already been used. Each link from Pagero works "
                "once, so going Back to it cannot log you in again."
            )
        raise errors.UnknownState(
            "The 'state' in the answer from Pagero does not match any login started in "
            "this browser. Please start again."
        )
    store.put(_key("used", binding, state), {"used_at": now}, USED_TTL)
    login = PendingLogin(**entry)
    if now - login.created_at > max_age:
        raise errors.ExpiredState(
            f"The login was started more than {tokens.duration(max_age)} ago and has "
            "expired. Please start again."
        )
    return login


def _key(kind: str, binding: str, state: str) -> str:
    return f"login:{kind}:{binding}:{_digest(state)}"


def _digest(state: str) -> str:
    # The stores hash keys too; hashing the state here also makes any string (it comes
    # from the URL) a valid key.
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()
