"""The sandbox's test users, one company each.

Passwords equal user names on purpose: these accounts exist only in this local stand-in and
are printed on the login page and at start-up.
"""

from __future__ import annotations

import hmac
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


def find_user(username: str) -> User | None:
    """The test user with this user name, if any."""
    return _BY_USERNAME.get(username)


def authenticate(username: str, password: str) -> User | None:
    """Check a login form's credentials; the comparison is constant-time out of habit."""
    user = _BY_USERNAME.get(username)
    if user and hmac.compare_digest(user.password.encode(), password.encode()):
        return user
    return None
