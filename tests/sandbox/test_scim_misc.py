"""Discovery documents, PUT on groups, POST .search, Location headers, case-insensitive paths."""

from __future__ import annotations

import uuid

import httpx

from tests.sandbox.conftest import assert_scim_error, member_ids, new_group, new_user


def test_discovery_documents(scim: httpx.Client, box) -> None:
    spc = scim.get("/ServiceProviderConfig").json()
    assert spc["patch"]["supported"] is True and spc["bulk"]["supported"] is False
    assert spc["filter"] == {"supported": True, "maxResults": 100}
    assert spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = scim.get("/ResourceTypes").json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    user_type = scim.get("/resourcetypes/User").json()
    assert user_type["endpoint"] == "/Users"
    assert user_type["schemaExtensions"][0]["schema"].endswith("enterprise:2.0:User")
    schemas = scim.get("/Schemas").json()["Resources"]
    user_schema = next(s for s in schemas if s["id"] == "urn:ietf:params:scim:schemas:core:2.0:User")
    mutability = {a["name"]: a["mutability"] for a in user_schema["attributes"]}
    assert mutability["userName"] == "immutable" and mutability["emails"] == "immutable"
    assert mutability["active"] == "readWrite"
    one = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group").json()
    assert one["meta"]["location"].startswith(box.scim_url)
    assert_scim_error(scim.get("/Schemas/urn:nope"), 404)


def test_create_answers_location_and_paths_are_case_insensitive(scim: httpx.Client, box) -> None:
    resp = scim.post("/USERS", json={"userName": f"loc-{uuid.uuid4().hex[:6]}@contoso.example"})
    assert resp.status_code == 201
    assert resp.headers["location"] == f"{box.scim_url}/Users/{resp.json()['id']}"
    group = scim.post("/groups", json={"displayName": f"Loc {uuid.uuid4().hex[:6]}"})
    assert group.status_code == 201 and group.headers["location"].endswith(group.json()["id"])
    assert scim.get(f"/GROUPS/{group.json()['id']}").status_code == 200
    assert scim.get("/serviceproviderconfig").status_code == 200


def test_put_group_replaces_name_and_members(scim: httpx.Client) -> None:
    group = new_group(scim, f"Put {uuid.uuid4().hex[:6]}")
    a = new_user(scim, f"pa-{uuid.uuid4().hex[:6]}@contoso.example")
    b = new_user(scim, f"pb-{uuid.uuid4().hex[:6]}@contoso.example")
    resp = scim.put(f"/Groups/{group['id']}", json={"displayName": group["displayName"] + " v2",
                                                     "members": [{"value": a["id"]}, {"value": b["id"]}]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["displayName"].endswith(" v2")
    assert member_ids(scim, group["id"]) == {a["id"], b["id"]}
    resp = scim.put(f"/Groups/{group['id']}", json={"displayName": group["displayName"], "members": [{"value": b["id"]}]})
    assert resp.status_code == 200
    assert member_ids(scim, group["id"]) == {b["id"]}
    assert_scim_error(scim.put(f"/Groups/{uuid.uuid4()}", json={"displayName": "x"}), 404)
    # replace members via PATCH, and remove all members with a bare remove
    scim.patch(f"/Groups/{group['id']}", json={"Operations": [{"op": "replace", "path": "members",
                                                               "value": [{"value": a["id"]}]}]})
    assert member_ids(scim, group["id"]) == {a["id"]}
    assert scim.patch(f"/Groups/{group['id']}", json={"Operations": [{"op": "remove", "path": "members"}]}).status_code == 204
    assert member_ids(scim, group["id"]) == set()


def test_post_search_on_users_groups_and_root(scim: httpx.Client) -> None:
    name = f"search-{uuid.uuid4().hex[:6]}@contoso.example"
    user = new_user(scim, name)
    resp = scim.post("/Users/.search", json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                              "filter": f'userName eq "{name}"', "attributes": ["userName"]})
    assert resp.status_code == 200, resp.text
    found = resp.json()["Resources"]
    assert [u["id"] for u in found] == [user["id"]] and "emails" not in found[0]
    groups = scim.post("/Groups/.search", json={"filter": 'displayName sw "Role - "', "count": 50}).json()
    assert groups["totalResults"] >= 1 and all(g["displayName"].startswith("Role - ") for g in groups["Resources"])
    both = scim.post("/.search", json={"filter": f'userName eq "{name}"'}).json()
    assert [r["id"] for r in both["Resources"]] == [user["id"]]  # groups have no userName: none of them match
    everything = scim.post("/.search", json={"count": 5}).json()
    users_total = scim.get("/Users", params={"count": 0}).json()["totalResults"]
    groups_total = scim.get("/Groups", params={"count": 0}).json()["totalResults"]
    assert everything["totalResults"] == users_total + groups_total
    assert_scim_error(scim.post("/.search", json={"filter": 'nosuch eq "x"'}), 400, "invalidFilter")
