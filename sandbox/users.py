"""The sandbox's test users, one company each.

Passwords equal user names on purpose: these accounts exist only in this local stand-in and
are printed on the login page and at start-up. ``SANDBOX_EXTRA_USERS=N`` adds ``user001`` ...
for load tests (:func:`extra_users`).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    """A Pagero Online user and the company they act for."""

    username: str
    password: str
    name: str
    email: str
    #: Pagero's stable public user id; the access token response names it in ``claims`` and
    #: the id_token uses it as ``sub``.
    publicid: str
    company_id: str
    company_name: str


TEST_USERS: tuple[User, ...] = (
    User(
        username="demo",
        password="demo",  # noqa: S106 - public test account
        name="Dana Demo",
        email="dana.demo@demo-company.example",
        publicid="6f1c2a9e-3b0d-4c55-9a61-0d5e8f7a1001",
        company_id="1000001",
        company_name="Demo Company AB",
    ),
    User(
        username="alice",
        password="alice",  # noqa: S106 - public test account
        name="Alice Andersson",
        email="alice@alice-trading.example",
        publicid="b7d4e2f0-58a1-4e0c-8c3b-2a9f6e4d2002",
        company_id="1000002",
        company_name="Alice Trading Ltd",
    ),
    User(
        username="bob",
        password="bob",  # noqa: S106 - public test account
        name="Bob Becker",
        email="bob@bob-logistics.example",
        publicid="0c8e5a3d-9f27-4b16-b4d8-71e3c5a93003",
        company_id="1000003",
        company_name="Bob Logistics GmbH",
    ),
)

_BY_USERNAME = {user.username: user for user in TEST_USERS}
_PUBLICIDS = uuid.UUID("3a7e0c52-6d1b-4f08-9e2c-7b5d4a1f0e99")


def extra_users(count: int) -> tuple[User, ...]:
    """``user001`` ... ``user{count}`` (password = user name), each in a company of its own.

    For load tests that log many distinct people in at once: every identifying value
    (user name, email, company name) contains the user name, so a test can search any
    response for a user name that is not its own.
    """
    width = max(3, len(str(count)))
    users = []
    for n in range(1, count + 1):
        username = f"user{n:0{width}d}"
        users.append(
            User(
                username=username,
                password=username,
                name=f"Load Tester {username}",
                email=f"{username}@load-test.example",
                publicid=str(uuid.uuid5(_PUBLICIDS, username)),
                company_id=str(2_000_000 + n),
                company_name=f"Load Test Company {username}",
            )
        )
    return tuple(users)


def directory(extra: int = 0) -> dict[str, User]:
    """Every user who can log in, by user name: the test users and ``extra`` more."""
    return {user.username: user for user in (*TEST_USERS, *extra_users(extra))}


def find_user(username: str) -> User | None:
    """The test user with this user name, if any."""
    return _BY_USERNAME.get(username)


def authenticate(
    username: str, password: str, users: Mapping[str, User] = _BY_USERNAME
) -> User | None:
    """Check a login form's credentials; the comparison is constant-time out of habit."""
    user = users.get(username)
    if user and hmac.compare_digest(user.password.encode(), password.encode()):
        return user
    return None
