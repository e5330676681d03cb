"""Random JSON at the write endpoints: always a clean 2xx/4xx SCIM answer, never a 5xx, and the server lives."""

from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sandbox.conftest import new_group, new_user

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=12)
    | st.sampled_from(["True", "false", "members", "active", "userName", 'members[value eq "x"]',
                       "name.givenName", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["op", "path", "value", "Operations", "schemas", "userName", "displayName", "members",
                         "active", "emails", "name", "externalId", "x"]), children, max_size=4),
    max_leaves=12,
)
operation = st.fixed_dictionaries({"op": st.sampled_from(["add", "Replace", "remove", "REMOVE", "nope", 3])},
                                  optional={"path": json_values, "value": json_values})


@pytest.fixture(scope="module")
def targets(box) -> dict[str, str]:
    with box.client() as c:
        user = new_user(c, f"fuzz-{uuid.uuid4().hex[:6]}@contoso.example")
        group = new_group(c, f"Fuzz {uuid.uuid4().hex[:6]}")
    return {"user": user["id"], "group": group["id"]}


def _ok(resp: httpx.Response) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert resp.json()["status"] == str(resp.status_code)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=3))
def test_random_patch_operations_never_5xx(scim: httpx.Client, targets: dict[str, str], ops: list) -> None:
    _ok(scim.patch(f"/Users/{targets['user']}", json={"Operations": ops}))
    _ok(scim.patch(f"/Groups/{targets['group']}", json={"Operations": ops}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_random_bodies_never_5xx(scim: httpx.Client, targets: dict[str, str], body: object) -> None:
    for method, path in (("POST", "/Users"), ("POST", "/Groups"), ("PUT", f"/Users/{targets['user']}"),
                         ("PUT", f"/Groups/{targets['group']}"), ("PATCH", f"/Users/{targets['user']}")):
        _ok(scim.request(method, path, json=body))
    assert scim.get(f"/Users/{targets['user']}").status_code == 200
