"""Pending logins, from Step 1 (``/login``) to Step 2 (``/callback``).

Why one record per pending login: a user may start a login in several tabs;
each tab's ``state`` must stay valid until its own callback arrives (the
Authlib Flask client does the same). Why we remember *used* states: so the
browser's Back button onto an old callback URL gets a friendly "already used"
page instead of a scary "unknown state".

Why in the store (:mod:`pagero_oauth.stores`, beside the tokens) and not in the session:
Flask-Session writes the whole session at the end of a request that changed
it, so two ``/login`` requests of one browser at the same moment (two tabs, a
double click) would each write their own copy and the last would silently
drop the other's pending login; two callbacks with the same ``state`` could
both read it before either wrote it back. Here each pending login is its own
record, written once by ``/login`` and taken by the callback with an atomic
read-and-delete (:meth:`Store.pop`), so exactly one callback gets it,
across workers and instances.

What ties a record to this browser is a random *login binding* kept in the
session (RFC 6749 section 10.12: the state must be bound to the user agent).
It is set once, travels with the session when the callback gives it a new id,
and is forgotten at logout. The store key is a digest of binding and state, so
neither appears in a file name or a Redis key; the live ``state`` values are
random 256-bit strings (section 10.10 asks for at least 128).

Resent callbacks: a proxy (nginx ``proxy_next_upstream``) resends a callback whose
first attempt died with its instance, to another instance, with the same cookie. The
callback holds a lock on its state (:func:`claim`) from taking the pending login until
the login's session exists, and the pending login stays, for :data:`RESEND_WINDOW`,
beside the "used" marker. A resend of the same browser then waits for a live first
attempt, or finds the lock free because the first one died (the kernel drops a file
lock at once, a Redis lock's lease ends within seconds): it exchanges the code itself
if the first never finished, or gets the session the first attempt created. The
browser is recognised by its binding, or, when the first attempt already gave the
session a new id, by the pre-login session id its cookie still carries (recorded for
the same window). A code the first attempt had already sent to Pagero is spent; the
resend then ends in ``invalid_grant`` and a new login. Another browser replaying the
URL has neither, and is refused as before.

Why a cap (:data:`MAX_PENDING_LOGINS`): every ``/login`` writes a record, and a
script repeating ``/login`` with one cookie would otherwise fill the store. Each
browser's pending logins are listed, oldest first, in one more record (by digest,
under the store's lock, so concurrent ``/login`` requests cannot lose an entry);
a new login beyond the cap deletes the oldest, whose callback is then refused as
an unknown state.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

from authlib.common.security import generate_token

from . import errors, tokens
from .settings import Settings
from .stores import LockTimeout, Store

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
#: How long a used state can still finish its login when its callback is resent (a
#: proxy resends within its own timeouts, well under this).
RESEND_WINDOW = 120


@dataclass(frozen=True)
class PendingLogin:
    """What /login remembers so /callback can finish the same login."""

    state: str
    created_at: float
    scope: str
    nonce: str | None = None
    code_verifier: str | None = None
    return_to: str | None = None


def new_login(settings: Settings, scope: str, return_to: str | None = None) -> PendingLogin:
    """A fresh pending login: 256-bit ``state``, a ``nonce`` for ``openid``, a PKCE
    verifier unless ``PAGERO_USE_PKCE=false``."""
    return PendingLogin(
        state=secrets.token_urlsafe(32),
        created_at=time.time(),
        scope=scope,
        nonce=secrets.token_urlsafe(32) if "openid" in scope.split() else None,
        code_verifier=generate_token(64) if settings.use_pkce else None,
        return_to=return_to,
    )


def remember(
    session: MutableMapping[str, Any], store: Store, login: PendingLogin, max_age: int
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


def _list_and_cap(store: Store, binding: str, digest: str, ttl: int) -> None:
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
    store: Store,
    state: str | None,
    max_age: int,
    now: float | None = None,
) -> PendingLogin:
    """Remove and return the pending login for ``state``, or raise why not.

    The state is consumed *before* the code is exchanged, so a second callback
    with the same state fails even if the first one is still in flight.
    """
    now = time.time() if now is None else now
    _require_state(state)
    binding = session.get(BINDING_KEY)
    if not binding:
        raise _no_login_session()
    entry = store.pop(_key("pending", binding, state))
    if entry is None:
        raise _used_or_unknown(store, binding, state)
    store.put(_key("used", binding, state), {"used_at": now}, USED_TTL)
    return _in_time(PendingLogin(**entry), max_age, now)


def _require_state(state: str | None) -> None:
    if not state:
        raise errors.MissingState(
            "The answer from Pagero has no 'state' parameter, so it cannot be matched "
            "to a login started here. Please start again."
        )


def _no_login_session() -> errors.NoLoginSession:
    return errors.NoLoginSession(
        "This browser has no login in progress with this app: the session cookie "
        "set when the login started did not come back. The usual cause is opening "
        "the app on one host name (e.g. 127.0.0.1) while the redirect URI "
        "registered with Pagero uses another (e.g. localhost); cookies are kept "
        "per host. Open the app on the redirect URI's host, or allow cookies, and "
        "start again."
    )


def _used_or_unknown(store: Store, binding: str, state: str) -> errors.CallbackError:
    if store.get(_key("used", binding, state)) is not None:
        return errors.ReusedState(
            "This login link has already been used. Each link from Pagero works "
            "once, so going Back to it cannot log you in again."
        )
    return errors.UnknownState(
        "The 'state' in the answer from Pagero does not match any login started in "
        "this browser. Please start again."
    )


def _in_time(login: PendingLogin, max_age: int, now: float) -> PendingLogin:
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


class Claim:
    """A callback's hold on its login, for as long as :func:`claim`'s ``with`` block runs.

    ``login`` is the login to finish by exchanging ``code``; or, for a resent callback
    whose first attempt finished, ``finished_sid`` is the session that login created.
    """

    def __init__(self, store: Store, binding: str, state: str, login: PendingLogin):
        self.store, self.binding, self.state, self.login = store, binding, state, login
        self.code: str | None = None
        self.finished_sid: str | None = None
        self.login_at: float | None = None

    def moving(self, earlier_sid: str | None) -> None:
        """The session named ``earlier_sid`` is about to get a new id, and the old one
        is deleted at once: a resend of this callback whose cookie still names it (a
        double click, a proxy's retry) must find the login's binding even in the instant
        before :meth:`finish`. So this is said first, before the old session goes."""
        if earlier_sid:
            self.store.put(f"login:moved:{earlier_sid}", {"binding": self.binding}, RESEND_WINDOW)

    def finish(self, sid: str, login_at: float) -> None:
        """The login is done and its session is ``sid``: a resend of this callback by the
        same browser (found by its binding, or by :meth:`moving`) is given that session."""
        done = {"sid": sid, "login_at": login_at, "return_to": self.login.return_to}
        self.store.put(_key("resume", self.binding, self.state), done, RESEND_WINDOW)


@contextlib.contextmanager
def claim(
    session: MutableMapping[str, Any],
    store: Store,
    state: str | None,
    max_age: int,
    wait: float,
    earlier_sid: str | None = None,
    now: float | None = None,
) -> Iterator[Claim]:
    """Take the pending login for ``state`` and hold it while the ``with`` block runs.

    Like :func:`take`, but a callback resent after its first attempt died finishes the
    same login (module docstring). ``earlier_sid`` is the session id the request's
    cookie named; ``wait`` bounds the wait for a first attempt still under way. A
    failure inside the block ends the login: a later resend is "already used".
    """
    now = time.time() if now is None else now
    _require_state(state)
    binding = session.get(BINDING_KEY)
    if not binding and earlier_sid:
        binding = (store.get(f"login:moved:{earlier_sid}") or {}).get("binding")
    if not binding:
        raise _no_login_session()
    held = contextlib.ExitStack()
    try:
        held.enter_context(store.lock(_key("claim", binding, state), timeout=wait))
    except LockTimeout:
        raise errors.LoginInProgress(
            "This login is still being completed by an earlier attempt. Please reload "
            "the page in a moment."
        ) from None
    with held:
        taken = _claim_held(session, store, binding, state, max_age, now)
        try:
            yield taken
        except BaseException:
            if taken.finished_sid is None:
                store.delete(_key("resume", binding, state))
            raise


def _claim_held(
    session: MutableMapping[str, Any],
    store: Store,
    binding: str,
    state: str,
    max_age: int,
    now: float,
) -> Claim:
    """The claim, decided under the state's lock (so no other attempt is under way)."""
    entry = store.pop(_key("pending", binding, state))
    if entry is not None:
        store.put(_key("used", binding, state), {"used_at": now}, USED_TTL)
        login = _in_time(PendingLogin(**entry), max_age, now)
        store.put(_key("resume", binding, state), {"login": entry}, RESEND_WINDOW)
        return Claim(store, binding, state, login)
    resume = store.get(_key("resume", binding, state))
    if resume is None:
        raise _used_or_unknown(store, binding, state)
    if "sid" not in resume:
        # The attempt that took the state stopped before finishing: we hold its lock.
        log.warning("resent callback: its first attempt stopped; finishing the login here")
        return Claim(store, binding, state, _in_time(PendingLogin(**resume["login"]), max_age, now))
    if getattr(session, "sid", None) == resume["sid"]:
        raise _used_or_unknown(store, binding, state)  # the Back button, already logged in
    done = Claim(store, binding, state, PendingLogin(state, now, "", return_to=resume["return_to"]))
    done.finished_sid, done.login_at = resume["sid"], resume["login_at"]
    session[BINDING_KEY] = binding
    return done
