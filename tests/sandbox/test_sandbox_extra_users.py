"""SANDBOX_EXTRA_USERS: distinct load-test identities, each in a company of its own."""

from __future__ import annotations

import pytest

from sandbox.settings import SandboxConfigError, load_settings

DOCUMENTS = "/document/v1/documents"


def test_no_extra_users_by_default(sso):
    assert set(sso.state.users) == {"demo", "alice", "bob"}
    assert sso.login("user001").status_code == 401


def test_extra_users_log_in_and_see_only_their_own_company(make_sso):
    sso = make_sso(SANDBOX_EXTRA_USERS="12")
    assert len(sso.state.users) == 15
    seen = {}
    for name in ("user001", "user012", "demo"):
        tokens = sso.tokens(name, prompt="login")
        items = sso.api(DOCUMENTS, tokens["access_token"]).get_json()["items"]
        companies = {d["companyId"] for d in items}
        assert len(companies) == 1, companies
        seen[name] = companies.pop()
    assert len(set(seen.values())) == 3  # three users, three companies
    assert sso.login("user013", prompt="login").status_code == 401  # only as many as asked for
    assert sso.login("user001", password="demo", prompt="login").status_code == 401


def test_every_identifying_value_of_a_load_user_names_it(make_sso):
    user = make_sso(SANDBOX_EXTRA_USERS="3").state.users["user002"]
    assert user.password == "user002"
    for value in (user.email, user.name, user.company_name):
        assert "user002" in value
    assert user.company_id not in {"1000001", "1000002", "1000003"}


def test_login_page_mentions_the_extra_users(make_sso):
    sso = make_sso(SANDBOX_EXTRA_USERS="200")
    page = sso.authorize().get_data(as_text=True)
    assert "200 load-test users" in page and "user001" in page
    assert "user150" not in page  # the table stays short


@pytest.mark.parametrize("value", ["-1", "many", "10000"])
def test_bad_extra_users_setting_is_named(value):
    with pytest.raises(SandboxConfigError, match="SANDBOX_EXTRA_USERS"):
        load_settings({"SANDBOX_EXTRA_USERS": value})
