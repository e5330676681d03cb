"""The tolerance policy: one frozen object, every tolerance switchable (admin route, --strict), each one's strict
behaviour over real HTTP. The tolerant (default) behaviour of the same shapes is in test_entra_shapes.py."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from sandbox.policy import DEFAULT, DESCRIPTIONS, STRICT, Tolerances
from tests.sandbox.conftest import assert_scim_error, member_ids, new_group, new_user
from tests.sandbox_fixture import AdminError

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def test_tolerances_are_one_frozen_object_with_named_switches() -> None:
    assert all(DEFAULT.as_dict().values()) and not any(STRICT.as_dict().values())
    assert set(DEFAULT.as_dict()) == set(DESCRIPTIONS) == set(Tolerances.names())
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.case_insensitive_op = False  # type: ignore[misc]
    changed = DEFAULT.with_changes({"case-insensitive-op": False, "string_booleans": False})
    assert changed.case_insensitive_op is False and changed.string_booleans is False
    assert DEFAULT.case_insensitive_op is True  # the original is untouched
    assert DEFAULT.strict("dotted-keys").as_dict()["dotted-keys"] is False
    with pytest.raises(ValueError, match="Unknown tolerance"):
        DEFAULT.with_changes({"be-nice": False})
    with pytest.raises(ValueError, match="true or false"):
        DEFAULT.with_changes({"dotted-keys": "no"})


@pytest.fixture
def strict(box) -> Iterator[Callable[..., dict]]:
    """Switch tolerances off for one test; every test starts from (and restores) the defaults."""
    box.admin("PUT", "/sandbox-admin/policy", json={"reset": True})

    def switch(*names: str) -> dict:
        return box.admin("PUT", "/sandbox-admin/policy", json=dict.fromkeys(names, False))["tolerances"]

    try:
        yield switch
    finally:
        box.admin("PUT", "/sandbox-admin/policy", json={"reset": True})


def test_policy_admin_route_reads_switches_and_refuses_nonsense(box, strict) -> None:
    doc = box.admin("GET", "/sandbox-admin/policy")
    assert doc["tolerances"] == DEFAULT.as_dict() and doc["descriptions"] == DESCRIPTIONS
    after = strict("explicit-nulls")
    assert after["explicit-nulls"] is False and after["dotted-keys"] is True
    for bad in ({"explicit-nulls": "off"}, {"nope": False}, {"reset": "yes"}):
        with pytest.raises(AdminError) as err:
            box.admin("PUT", "/sandbox-admin/policy", json=bad)
        assert err.value.status == 400
    assert box.admin("GET", "/sandbox-admin/policy")["tolerances"]["explicit-nulls"] is False
    resp = httpx.put(f"{box.api_url}/sandbox-admin/policy", json={"reset": True})
    assert resp.status_code == 401


def _patch(c: httpx.Client, path: str, *ops: dict) -> httpx.Response:
    return c.patch(path, json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list(ops)})


def test_case_insensitive_op_off(scim, strict) -> None:
    user = new_user(scim, f"op-{uuid.uuid4().hex[:8]}@contoso.example")
    strict("case-insensitive-op")
    assert_scim_error(_patch(scim, f"/Users/{user['id']}", {"op": "Replace", "path": "title", "value": "X"}),
                      400, "invalidSyntax")
    assert "title" not in scim.get(f"/Users/{user['id']}").json()
    assert _patch(scim, f"/Users/{user['id']}", {"op": "replace", "path": "title", "value": "X"}).status_code == 200


def test_string_booleans_off(scim, strict) -> None:
    user = new_user(scim, f"sb-{uuid.uuid4().hex[:8]}@contoso.example")
    strict("string-booleans")
    assert_scim_error(_patch(scim, f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": "False"}),
                      400, "invalidValue")
    assert scim.get(f"/Users/{user['id']}").json()["active"] is True
    assert_scim_error(scim.post("/Users", json={"userName": f"sb2-{uuid.uuid4().hex[:6]}@contoso.example",
                                                "active": "true"}), 400, "invalidValue")
    assert _patch(scim, f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False}).status_code == 200


def test_dotted_keys_off(scim, strict) -> None:
    user = new_user(scim, f"dk-{uuid.uuid4().hex[:8]}@contoso.example")
    strict("dotted-keys")
    for key in ("name.givenName", f"{ENTERPRISE}:department"):
        resp = _patch(scim, f"/Users/{user['id']}", {"op": "replace", "value": {key: "X"}})
        assert_scim_error(resp, 400, "invalidPath")
    # RFC shapes still work: attribute names, and the extension URN holding an object
    resp = _patch(scim, f"/Users/{user['id']}", {"op": "replace", "value": {"name": {"givenName": "Grace"},
                                                                             ENTERPRISE: {"department": "Navy"}}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"]["givenName"] == "Grace" and resp.json()[ENTERPRISE]["department"] == "Navy"


def test_member_value_list_off(scim, strict) -> None:
    group = new_group(scim, f"MVL {uuid.uuid4().hex[:6]}")
    users = [new_user(scim, f"mvl{i}-{uuid.uuid4().hex[:6]}@contoso.example") for i in range(2)]
    assert _patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                                   "value": [{"value": u["id"]} for u in users]}).status_code == 204
    strict("member-value-list")
    resp = _patch(scim, f"/Groups/{group['id']}", {"op": "remove", "path": "members",
                                                   "value": [{"value": users[0]["id"]}]})
    assert_scim_error(resp, 400, "invalidPath")
    assert member_ids(scim, group["id"]) == {u["id"] for u in users}
    resp = _patch(scim, f"/Groups/{group['id']}", {"op": "remove", "path": f'members[value eq "{users[0]["id"]}"]'})
    assert resp.status_code == 204
    assert member_ids(scim, group["id"]) == {users[1]["id"]}


def test_unknown_schema_uri_off(scim, strict) -> None:
    strict("unknown-schema-uri")
    name = f"USU {uuid.uuid4().hex[:6]}"
    resp = scim.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", MS_GROUP],
                                      "displayName": name})
    assert_scim_error(resp, 400, "invalidSyntax")
    assert scim.get("/Groups", params={"filter": f'displayName eq "{name}"'}).json()["totalResults"] == 0
    resp = scim.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:x:custom"],
                                     "userName": f"usu-{uuid.uuid4().hex[:6]}@contoso.example"})
    assert_scim_error(resp, 400, "invalidSyntax")
    assert scim.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                      "displayName": name}).status_code == 201


def test_explicit_nulls_off(scim, strict) -> None:
    user = new_user(scim, f"en-{uuid.uuid4().hex[:8]}@contoso.example", title="Engineer")
    strict("explicit-nulls")
    assert_scim_error(scim.post("/Users", json={"userName": f"en2-{uuid.uuid4().hex[:6]}@contoso.example",
                                                "displayName": None}), 400, "invalidValue")
    assert_scim_error(_patch(scim, f"/Users/{user['id']}", {"op": "replace", "path": "title", "value": None}),
                      400, "invalidValue")
    assert scim.get(f"/Users/{user['id']}").json()["title"] == "Engineer"
    assert _patch(scim, f"/Users/{user['id']}", {"op": "remove", "path": "title"}).status_code == 200
    assert "title" not in scim.get(f"/Users/{user['id']}").json()


def test_bare_manager_id_off(scim, strict, box) -> None:
    boss = new_user(scim, f"boss-{uuid.uuid4().hex[:8]}@contoso.example")
    user = new_user(scim, f"emp-{uuid.uuid4().hex[:8]}@contoso.example")
    strict("bare-manager-id")
    for value in (boss["id"], [{"value": boss["id"], "$ref": f"{box.scim_url}/Users/{boss['id']}"}]):
        resp = _patch(scim, f"/Users/{user['id']}", {"op": "add", "path": f"{ENTERPRISE}:manager", "value": value})
        assert_scim_error(resp, 400, "invalidValue")
    resp = _patch(scim, f"/Users/{user['id']}", {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {
        "value": boss["id"], "$ref": f"{box.scim_url}/Users/{boss['id']}"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()[ENTERPRISE]["manager"]["value"] == boss["id"]


def test_ignored_immutable_off(scim, strict) -> None:
    name = f"imm-{uuid.uuid4().hex[:8]}@contoso.example"
    user = new_user(scim, name)
    strict("ignored-immutable")
    for op in ({"op": "replace", "path": "userName", "value": "other@contoso.example"},
               {"op": "replace", "path": 'emails[type eq "work"].value', "value": "other@contoso.example"}):
        assert_scim_error(_patch(scim, f"/Users/{user['id']}", op), 400, "mutability")
    put = scim.put(f"/Users/{user['id']}", json={"userName": "other@contoso.example", "active": True,
                                                 "emails": [{"value": name, "type": "work", "primary": True}]})
    assert_scim_error(put, 400, "mutability")
    after = scim.get(f"/Users/{user['id']}").json()
    assert after["userName"] == name and after["emails"][0]["value"] == name
    # the same values are not a change: accepted
    resp = _patch(scim, f"/Users/{user['id']}", {"op": "replace", "path": "userName", "value": name},
                  {"op": "replace", "path": 'emails[type eq "work"].value', "value": name},
                  {"op": "replace", "path": "title", "value": "Kept"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["title"] == "Kept"


def test_typed_element_create_off(scim, strict) -> None:
    user = new_user(scim, f"te-{uuid.uuid4().hex[:8]}@contoso.example", email=False)
    strict("typed-element-create")
    resp = _patch(scim, f"/Users/{user['id']}", {"op": "add", "path": 'emails[type eq "work"].value',
                                                  "value": "first@contoso.example"})
    assert_scim_error(resp, 400, "noTarget")
    assert "emails" not in scim.get(f"/Users/{user['id']}").json()
    resp = _patch(scim, f"/Users/{user['id']}", {"op": "add", "path": "emails", "value": [
        {"value": "first@contoso.example", "type": "work", "primary": True}]})
    assert resp.status_code == 200, resp.text


def test_strict_flag_on_the_command_line(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=2, seed_groups=1, extra_args=["--strict", "case-insensitive-op",
                                                                    "--strict", "string-booleans",
                                                                    "--cycle-seconds", "0"])
    tolerances = box.admin("GET", "/sandbox-admin/policy")["tolerances"]
    assert tolerances["case-insensitive-op"] is False and tolerances["string-booleans"] is False
    assert tolerances["dotted-keys"] is True
    with box.client() as c:
        user = c.get("/Users", params={"count": 1}).json()["Resources"][0]
        assert_scim_error(_patch(c, f"/Users/{user['id']}", {"op": "Replace", "path": "title", "value": "X"}),
                          400, "invalidSyntax")
