"""Fixtures of the sandbox's own tests: a module-scoped sandbox these tests may change freely."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.sandbox_fixture import RunningSandbox, start_sandbox

SCIM_JSON = "application/scim+json"


@pytest.fixture(scope="module")
def box() -> Iterator[RunningSandbox]:
    sb = start_sandbox(seed_users=60, seed_groups=20, seed=3)
    try:
        yield sb
    finally:
        sb.cleanup()


@pytest.fixture
def scim(box: RunningSandbox) -> Iterator[httpx.Client]:
    with box.client() as c:
        yield c


def new_user(c: httpx.Client, user_name: str, *, email: bool = True, **extra: object) -> dict:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, "active": True,
            **({"emails": [{"value": user_name, "type": "work", "primary": True}]} if email else {}), **extra}
    resp = c.post("/Users", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def new_group(c: httpx.Client, name: str, **extra: object) -> dict:
    resp = c.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                   "displayName": name, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def member_ids(c: httpx.Client, group_id: str) -> set[str]:
    resp = c.get(f"/Groups/{group_id}")
    assert resp.status_code == 200, resp.text
    return {m["value"] for m in resp.json().get("members", [])}


def assert_scim_error(resp: httpx.Response, status: int, scim_type: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith(SCIM_JSON)
    body = resp.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    assert body.get("detail")
    return body
