"""The client against our 6clicks-compatible sandbox (real subprocess over HTTP), with fault injection."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from scim_client import (
    AuthenticationError,
    PermissionDenied,
    RateLimited,
    ScimClient,
    ServerError,
    TokenExchangeError,
    exchange_api_key,
    filters,
)


def raw_ids(box, resource: str) -> list[str]:
    """Every id as the sandbox lists it, fetched plainly page by page (the reference)."""
    out: list[str] = []
    with box.client() as http:
        start = 1
        while True:
            page = http.get(f"/{resource}", params={"startIndex": start, "count": 100}).json()
            items = page.get("Resources") or []
            out += [r["id"] for r in items]
            if not items or start + len(items) > page["totalResults"]:
                return out
            start += len(items)


def test_exchange_api_key_against_the_sandbox(sandbox):
    issued = exchange_api_key(sandbox.api_url, sandbox.api_key)
    assert issued.expiry_source == "jwt-exp"
    assert timedelta(days=364) < issued.expires_at - datetime.now(UTC) <= timedelta(days=366)
    short = exchange_api_key(sandbox.api_url, sandbox.api_key, long_lived=False)
    assert timedelta(minutes=50) < short.expires_at - datetime.now(UTC) <= timedelta(minutes=61)
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(sandbox.api_url, "6ck_test_not-a-real-key-000000")
    assert err.value.kind == "rejected"
    with ScimClient(sandbox.scim_url, token=issued.access_token) as c:
        assert c.service_provider_config()["filter"]["maxResults"] == 100
        assert c.effective_page_size() == 100


def test_list_users_and_groups_match_the_server(sandbox):
    with ScimClient(sandbox.scim_url, token=sandbox.token()) as c:
        users = c.list_users()
        groups = c.list_groups()
        light = c.list_groups(members=False)
    assert len(users) == 200 and users.total_results == 200 and not users.changed_during_listing
    assert sorted(u.id for u in users) == sorted(raw_ids(sandbox, "Users"))
    assert sorted(g.id for g in groups) == sorted(raw_ids(sandbox, "Groups"))
    assert all(g.member_ids is not None for g in groups) and any(g.member_ids for g in groups)
    assert all(g.member_ids is None for g in light)
    user_ids = {u.id for u in users}
    assert all(set(g.member_ids) <= user_ids for g in groups)
    assert all(u.user_name for u in users)
    # seeded as Entra provisions people: a few have no mailbox, so no e-mail; the others have their work e-mail
    assert all(bool(u.email) == bool(u.raw.get("emails")) for u in users)
    assert sum(bool(u.email) for u in users) > 0.9 * len(users)


def test_filters_and_lookups_on_the_sandbox(sandbox):
    with ScimClient(sandbox.scim_url, token=sandbox.token()) as c:
        some = c.list_users()[17]
        assert c.find_user(user_name=some.user_name).id == some.id
        if some.external_id:
            assert c.find_user(external_id=some.external_id).id == some.id
        assert c.get_user(some.id).user_name == some.user_name
        assert c.find_user(user_name='nobody"\\@example.com') is None
        prefix = some.user_name[:2]
        hits = list(c.iter_users(filter=filters.sw("userName", prefix)))
        assert some.id in {u.id for u in hits}
        assert all(u.user_name.lower().startswith(prefix.lower()) for u in hits)
        g = c.list_groups(members=False)[0]
        assert c.find_group(display_name=g.display_name).id == g.id


def test_short_pages_from_a_small_server_page_size(sandbox_factory):
    box = sandbox_factory(seed_users=57, seed_groups=3, seed=3, max_page_size=7)
    with ScimClient(box.scim_url, token=box.token(), page_size=50, max_concurrency=4) as c:
        users = c.list_users()
    assert sorted(u.id for u in users) == sorted(raw_ids(box, "Users"))
    assert len(users) == 57 and not users.changed_during_listing


def test_crud_and_memberships_on_the_sandbox(sandbox_factory):
    box = sandbox_factory(seed_users=5, seed_groups=1, seed=5)
    with ScimClient(box.scim_url, token=box.token()) as c:
        u = c.create_user(
            "new.person@example.com",
            email="new.person@example.com",
            given_name="New",
            family_name="Person",
            external_id="00000000-0000-0000-0000-00000000abcd",
        )
        assert c.find_user(email="new.person@example.com").id == u.id
        assert c.set_active(u.id, False).active is False
        assert c.get_user(u.id).active is False
        g = c.create_group("Role - Reviewers", external_id="00000000-0000-0000-0000-00000000beef")
        others = [x.id for x in c.list_users() if x.id != u.id][:3]
        c.add_members(g.id, [u.id, *others])
        assert sorted(c.get_group(g.id).member_ids) == sorted([u.id, *others])
        c.remove_members(g.id, [u.id])
        assert sorted(c.get_group(g.id).member_ids) == sorted(others)
        assert c.rename_group(g.id, "Role - Senior Reviewers").display_name == "Role - Senior Reviewers"
        c.delete_group(g.id)
        c.delete_user(u.id)
        assert c.find_user(user_name="new.person@example.com") is None


def test_permissions_missing_revoked_and_expired(sandbox_factory):
    box = sandbox_factory(seed_users=3, seed_groups=1, seed=1)
    created = box.admin("POST", "/sandbox-admin/keys", {"name": "reader", "permissions": ["integrations"]})
    token = exchange_api_key(box.api_url, created["apiKey"]).access_token
    with ScimClient(box.scim_url, token=token) as c:
        assert len(c.list_users()) == 3
        with pytest.raises(PermissionDenied) as err:
            c.create_user("nope@example.com")
        assert err.value.permission == "Create new users"
        user = c.list_users()[0]
        with pytest.raises(PermissionDenied) as err:
            c.delete_user(user.id)
        assert err.value.permission == "Delete users"
        group = c.list_groups()[0]
        with pytest.raises(PermissionDenied) as err:
            c.add_members(group.id, [user.id])
        assert err.value.permission == "Manage group members"
        box.admin("DELETE", "/sandbox-admin/keys/reader")
        with pytest.raises(AuthenticationError) as err:
            c.list_users()
        assert "generate a new token" in str(err.value).lower()
    expired = box.admin("POST", "/sandbox-admin/tokens", {"key_name": "default", "lifetime_seconds": -60})
    with ScimClient(box.scim_url, token=expired["accessToken"]) as c, pytest.raises(AuthenticationError):
        c.list_users()


def test_token_provider_refreshes_an_expired_token(sandbox_factory):
    box = sandbox_factory(seed_users=4, seed=2)
    expired = box.admin("POST", "/sandbox-admin/tokens", {"key_name": "default", "lifetime_seconds": -60})
    calls: list[bool] = []

    def provider(refresh: bool = False) -> str:
        calls.append(refresh)
        return exchange_api_key(box.api_url, box.api_key).access_token if refresh else expired["accessToken"]

    with ScimClient(box.scim_url, token=provider) as c:
        assert len(c.list_users()) == 4
    assert calls == [False, True]


def test_retries_through_429_and_dropped_connections(sandbox_factory, caplog):
    box = sandbox_factory(
        seed_users=150,
        seed_groups=2,
        seed=4,
        max_page_size=10,
        faults={"rate_429": 0.2, "rate_drop": 0.2, "retry_after": 0, "seed": 11, "paths": "^/scim/"},
    )
    caplog.set_level(logging.DEBUG)
    token = box.token()
    with ScimClient(box.scim_url, token=token, backoff_base=0.01, max_retries=8) as c:
        users = c.list_users()
        assert len(users) == 150 and len({u.id for u in users}) == 150
        made = [c.create_user(f"retry{i}@example.com", email=f"retry{i}@example.com") for i in range(6)]
    box.clear_faults()
    names = [u.user_name for u in ScimClient(box.scim_url, token=token).list_users()]
    for u in made:
        assert names.count(u.user_name) == 1  # retried creates never duplicate
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying" in log_text  # faults really happened
    assert token not in log_text


def test_persistent_500_and_429_become_clear_errors(sandbox_factory):
    box = sandbox_factory(seed_users=2, seed=9, faults={"rate_500": 1.0, "paths": "^/scim/"})
    with (
        ScimClient(box.scim_url, token=box.token(), backoff_base=0.01) as c,
        pytest.raises(ServerError) as err,
    ):
        c.list_users()
    assert err.value.status == 500 and "try again later" in err.value.remedy
    box.set_faults(rate_429=1.0, retry_after=0, paths="^/scim/")
    with (
        ScimClient(box.scim_url, token=box.token(), backoff_base=0.01, max_retries=2) as c,
        pytest.raises(RateLimited),
    ):
        c.list_users()


def test_progress_is_reported_under_latency(sandbox_factory):
    box = sandbox_factory(
        seed_users=120, seed=6, max_page_size=10, faults={"latency_ms": 30, "paths": "^/scim/"}
    )
    with ScimClient(box.scim_url, token=box.token(), max_concurrency=6) as c:
        seen: list[tuple[int, int | None]] = []
        users = c.list_users(progress=lambda d, t: seen.append((d, t)))
    assert len(users) == 120
    assert seen[-1] == (120, 120) and len(seen) >= 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
