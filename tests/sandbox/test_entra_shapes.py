"""Every request shape Microsoft Entra ID sends (../shared/reference/entra-provisioning.md), over real HTTP."""

from __future__ import annotations

import uuid

import httpx

from tests.sandbox.conftest import SCIM_JSON, assert_scim_error, member_ids, new_group, new_user

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def _entra_user_body(user_name: str, external_id: str) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "displayName": None,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        "roles": [],
        "title": None,
        ENTERPRISE: {"employeeNumber": "E-1", "department": None},
    }


def test_random_guid_lookup_answers_200_with_empty_list(scim: httpx.Client) -> None:
    guid = str(uuid.uuid4())
    for params in ({"filter": f'userName eq "{guid}"'}, {"filter": f'externalId eq "{guid}"'},
                   {"filter": f'emails[type eq "work"].value eq "{guid}@x.example"'}):
        resp = scim.get("/Users", params=params)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith(SCIM_JSON)
        body = resp.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
        assert body["totalResults"] == 0 and body["Resources"] == []


def test_create_user_with_entra_body_then_match_by_every_attribute(scim: httpx.Client, box) -> None:
    ext = str(uuid.uuid4())
    resp = scim.post("/Users", json=_entra_user_body("Ada.Lovelace@contoso.example", ext))
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith(SCIM_JSON)
    user = resp.json()
    assert user["id"] and user["userName"] == "Ada.Lovelace@contoso.example"
    assert user["active"] is True and user["externalId"] == ext
    assert user[ENTERPRISE]["employeeNumber"] == "E-1"
    assert "displayName" not in user and "title" not in user  # explicit nulls are absent, not "None"
    assert user["meta"]["location"] == f"{box.scim_url}/Users/{user['id']}"
    # the lookups Entra makes, URL-encoded with %20 and with +
    raw_queries = [
        "filter=userName%20eq%20%22ada.lovelace%40contoso.example%22",  # userName is case-insensitive
        "filter=userName+eq+%22Ada.Lovelace%40contoso.example%22",
        f"filter=externalId+eq+%22{ext}%22",
        "filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22ADA.lovelace%40contoso.example%22",
        f"filter=userName+eq+%22Ada.Lovelace%40contoso.example%22+and+externalId+eq+%22{ext}%22",
    ]
    for q in raw_queries:
        resp = scim.get(f"/Users?{q}")
        assert resp.status_code == 200, (q, resp.text)
        found = resp.json()
        assert found["totalResults"] == 1, q
        assert found["Resources"][0]["id"] == user["id"]
    # externalId is case-exact
    assert scim.get("/Users", params={"filter": f'externalId eq "{ext.upper()}"'}).json()["totalResults"] == 0
    # GET by id, case-insensitive resource path
    assert scim.get(f"/users/{user['id']}").json()["userName"] == user["userName"]


def test_duplicate_user_is_409_uniqueness_and_missing_username_400(scim: httpx.Client) -> None:
    name = f"dup-{uuid.uuid4().hex[:8]}@contoso.example"
    new_user(scim, name)
    assert_scim_error(scim.post("/Users", json=_entra_user_body(name.upper(), "x")), 409, "uniqueness")
    body = _entra_user_body("x@y.example", "x")
    del body["userName"]
    assert_scim_error(scim.post("/Users", json=body), 400)


def test_patch_user_capitalised_ops_string_booleans_and_urn_paths(scim: httpx.Client) -> None:
    user = new_user(scim, f"pat-{uuid.uuid4().hex[:8]}@contoso.example", name={"givenName": "A", "familyName": "B"})
    ops = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "name.familyName", "value": "Byron"},
        {"op": "Add", "path": "name.givenName", "value": "Augusta"},
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "42"},
        {"op": "Replace", "path": "active", "value": "False"},
    ]}
    resp = scim.patch(f"/Users/{user['id']}", json=ops)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["name"]["familyName"] == "Byron" and body["name"]["givenName"] == "Augusta"
    assert body[ENTERPRISE]["employeeNumber"] == "42"
    assert body["active"] is False
    for value, expected in (("True", True), ("false", False), ("TRUE", True), (False, False), (True, True)):
        resp = scim.patch(f"/Users/{user['id']}", json={"Operations": [
            {"op": "replace", "path": "active", "value": value}]})
        assert resp.status_code == 200, resp.text
        assert scim.get(f"/Users/{user['id']}").json()["active"] is expected
    # inactive users are still found by GET and by filters
    scim.patch(f"/Users/{user['id']}", json={"Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
    found = scim.get("/Users", params={"filter": f'userName eq "{user["userName"]}"'}).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["active"] is False
    # a non-boolean string is refused, and nothing changed
    assert_scim_error(scim.patch(f"/Users/{user['id']}", json={"Operations": [
        {"op": "Replace", "path": "active", "value": "maybe"}]}), 400)
    assert scim.get(f"/Users/{user['id']}").json()["active"] is False


def test_username_and_email_updates_are_accepted_but_ignored(scim: httpx.Client) -> None:
    name = f"keep-{uuid.uuid4().hex[:8]}@contoso.example"
    user = new_user(scim, name)
    resp = scim.patch(f"/Users/{user['id']}", json={"Operations": [
        {"op": "Replace", "path": "userName", "value": "renamed@contoso.example"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "renamed@contoso.example"},
        {"op": "Replace", "path": "displayName", "value": "Kept Person"},
    ]})
    assert resp.status_code == 200, resp.text
    after = scim.get(f"/Users/{user['id']}").json()
    assert after["userName"] == name and after["emails"][0]["value"] == name
    assert after["displayName"] == "Kept Person"
    put = scim.put(f"/Users/{user['id']}", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                  "userName": "other@contoso.example", "active": False,
                                                  "emails": [{"value": "other@contoso.example", "type": "work"}]})
    assert put.status_code == 200, put.text
    after = scim.get(f"/Users/{user['id']}").json()
    assert after["userName"] == name and after["emails"][0]["value"] == name and after["active"] is False
    assert scim.get("/Users", params={"filter": 'userName eq "renamed@contoso.example"'}).json()["totalResults"] == 0


def test_aad_optscim062020_style_no_path_replace_with_dotted_and_urn_keys(scim: httpx.Client) -> None:
    user = new_user(scim, f"rfc-{uuid.uuid4().hex[:8]}@contoso.example")
    resp = scim.patch(f"/Users/{user['id']}", json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                    "Operations": [{"op": "replace", "value": {
                                                        "displayName": "Grace Hopper",
                                                        "name.givenName": "Grace",
                                                        "name.familyName": "Hopper",
                                                        "active": False,
                                                        f"{ENTERPRISE}:department": "Navy",
                                                        "userName": "ignored@contoso.example",
                                                    }}]})
    assert resp.status_code == 200, resp.text
    after = scim.get(f"/Users/{user['id']}").json()
    assert after["displayName"] == "Grace Hopper"
    assert after["name"] == {"givenName": "Grace", "familyName": "Hopper"}
    assert after["active"] is False
    assert after[ENTERPRISE]["department"] == "Navy"
    assert after["userName"] == user["userName"]
    # the enterprise URN as one key holding an object
    resp = scim.patch(f"/Users/{user['id']}", json={"Operations": [
        {"op": "replace", "value": {ENTERPRISE: {"employeeNumber": "77"}}}]})
    assert resp.status_code == 200, resp.text
    assert scim.get(f"/Users/{user['id']}").json()[ENTERPRISE]["employeeNumber"] == "77"


def test_explicit_null_in_patch_removes_the_attribute(scim: httpx.Client) -> None:
    user = new_user(scim, f"null-{uuid.uuid4().hex[:8]}@contoso.example", title="Engineer")
    resp = scim.patch(f"/Users/{user['id']}", json={"Operations": [{"op": "Replace", "path": "title", "value": None}]})
    assert resp.status_code == 200, resp.text
    assert "title" not in scim.get(f"/Users/{user['id']}").json()


def test_manager_as_list_and_as_bare_string(scim: httpx.Client) -> None:
    boss = new_user(scim, f"boss-{uuid.uuid4().hex[:8]}@contoso.example")
    user = new_user(scim, f"emp-{uuid.uuid4().hex[:8]}@contoso.example")
    for value in ([{"$ref": None, "value": boss["id"]}], boss["id"]):
        resp = scim.patch(f"/Users/{user['id']}", json={"Operations": [
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": value}]})
        assert resp.status_code == 200, resp.text
        assert scim.get(f"/Users/{user['id']}").json()[ENTERPRISE]["manager"]["value"] == boss["id"]


def test_group_create_with_microsoft_schema_then_members_by_value_list(scim: httpx.Client) -> None:
    name = f"Entra Group {uuid.uuid4().hex[:6]}"
    resp = scim.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", MS_GROUP],
                                      "externalId": "g-ext-1", "displayName": name, "members": None})
    assert resp.status_code == 201, resp.text
    group = resp.json()
    assert group["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Group"]
    assert group["displayName"] == name and group["externalId"] == "g-ext-1"
    users = [new_user(scim, f"m{i}-{uuid.uuid4().hex[:6]}@contoso.example") for i in range(3)]
    resp = scim.patch(f"/Groups/{group['id']}", json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                      "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": users[0]["id"]}, {"value": users[1]["id"]}]},
        {"op": "Add", "path": "members", "value": [{"value": users[2]["id"]}]},
    ]})
    assert resp.status_code == 204, resp.text
    assert member_ids(scim, group["id"]) == {u["id"] for u in users}
    # Entra's value-list removal (not a filter path)
    resp = scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": users[0]["id"]}]}]})
    assert resp.status_code == 204
    assert member_ids(scim, group["id"]) == {users[1]["id"], users[2]["id"]}
    # aadOptscim062020: members[value eq "..."] without a value
    resp = scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "remove", "path": f'members[value eq "{users[1]["id"]}"]'}]})
    assert resp.status_code == 204
    assert member_ids(scim, group["id"]) == {users[2]["id"]}
    # adding an existing member again is harmless
    scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "add", "path": "members", "value": [{"value": users[2]["id"]}]}]})
    assert member_ids(scim, group["id"]) == {users[2]["id"]}
    # members filter on groups
    found = scim.get("/Groups", params={"filter": f'members.value eq "{users[2]["id"]}"',
                                        "excludedAttributes": "members"}).json()
    assert group["id"] in {g["id"] for g in found["Resources"]}


def test_group_lookup_excluding_members_and_rename(scim: httpx.Client) -> None:
    name = f"Role - Reviewer {uuid.uuid4().hex[:6]}"
    group = new_group(scim, name)
    user = new_user(scim, f"r-{uuid.uuid4().hex[:6]}@contoso.example")
    scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "Add", "path": "members", "value": [{"value": user["id"]}]}]})
    resp = scim.get("/Groups?excludedAttributes=members&filter=displayName+eq+%22" + name.replace(" ", "+") + "%22")
    body = resp.json()
    assert body["totalResults"] == 1 and "members" not in body["Resources"][0]
    one = scim.get(f"/Groups/{group['id']}", params={"excludedAttributes": "members"}).json()
    assert "members" not in one and one["displayName"] == name
    # displayName is unique case-insensitively
    assert_scim_error(scim.post("/Groups", json={"displayName": name.upper()}), 409, "uniqueness")
    resp = scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "Replace", "path": "displayName", "value": name + " (renamed)"}]})
    assert resp.status_code == 204
    assert scim.get(f"/Groups/{group['id']}").json()["displayName"] == name + " (renamed)"
    # no-path replace on a group
    resp = scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "replace", "value": {"displayName": name, "externalId": "ext-9"}}]})
    assert resp.status_code == 204
    after = scim.get(f"/Groups/{group['id']}").json()
    assert after["displayName"] == name and after["externalId"] == "ext-9"
    assert {m["value"] for m in after["members"]} == {user["id"]}


def test_delete_answers_204_then_404_with_string_status(scim: httpx.Client) -> None:
    user = new_user(scim, f"del-{uuid.uuid4().hex[:6]}@contoso.example")
    group = new_group(scim, f"Del {uuid.uuid4().hex[:6]}")
    scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "Add", "path": "members", "value": [{"value": user["id"]}]}]})
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert member_ids(scim, group["id"]) == set()  # memberships go with the user
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    body = assert_scim_error(scim.get(f"/Users/{user['id']}"), 404)
    assert isinstance(body["status"], str)
    assert_scim_error(scim.get(f"/Groups/{group['id']}"), 404)
    assert_scim_error(scim.delete(f"/Users/{user['id']}"), 404)
    assert_scim_error(scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "Add", "path": "members", "value": [{"value": "x"}]}]}), 404)


def test_member_that_is_not_a_user_is_refused_atomically(scim: httpx.Client) -> None:
    group = new_group(scim, f"Atomic {uuid.uuid4().hex[:6]}")
    user = new_user(scim, f"at-{uuid.uuid4().hex[:6]}@contoso.example")
    resp = scim.patch(f"/Groups/{group['id']}", json={"Operations": [
        {"op": "Add", "path": "members", "value": [{"value": user["id"]}]},
        {"op": "Add", "path": "members", "value": [{"value": str(uuid.uuid4())}]},
        {"op": "Replace", "path": "displayName", "value": "Should not stick"},
    ]})
    assert_scim_error(resp, 400)
    after = scim.get(f"/Groups/{group['id']}").json()
    assert after.get("members", []) == [] and after["displayName"].startswith("Atomic")


def test_seeded_org_has_departments_roles_and_inactive_users(scim: httpx.Client) -> None:
    groups = scim.get("/Groups", params={"excludedAttributes": "members", "count": 100}).json()["Resources"]
    names = {g["displayName"] for g in groups}
    assert {"Finance", "Engineering"} <= names
    assert any(n.startswith("Role - ") for n in names)
    inactive = scim.get("/Users", params={"filter": "active eq false"}).json()
    active = scim.get("/Users", params={"filter": "active eq true"}).json()
    assert inactive["totalResults"] >= 1 and active["totalResults"] >= 1


def test_typed_element_path_creates_the_element_when_missing(scim: httpx.Client) -> None:
    user = new_user(scim, f"noemail-{uuid.uuid4().hex[:6]}@contoso.example", email=False)
    resp = scim.patch(f"/Users/{user['id']}", json={"Operations": [
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "first@contoso.example"},
        {"op": "Add", "path": 'emails[type eq "work"].primary', "value": True},
        {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+61 400 000 000"},
        {"op": "Remove", "path": 'addresses[type eq "work"].locality'},
    ]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["emails"] == [{"value": "first@contoso.example", "type": "work", "primary": True}]
    assert body["phoneNumbers"] == [{"value": "+61 400 000 000", "type": "mobile"}]
    found = scim.get("/Users", params={"filter": 'emails[type eq "work"].value eq "first@contoso.example"'}).json()
    assert [u["id"] for u in found["Resources"]] == [user["id"]]
    # once set, the e-mail is kept (6clicks), while the phone number follows updates
    resp = scim.patch(f"/Users/{user['id']}", json={"Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "second@contoso.example"},
        {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+61 400 111 111"}]})
    assert resp.status_code == 200
    assert resp.json()["emails"][0]["value"] == "first@contoso.example"
    assert resp.json()["phoneNumbers"][0]["value"] == "+61 400 111 111"
