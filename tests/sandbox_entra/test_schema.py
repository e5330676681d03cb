"""The job's synchronizationSchema over Graph (GET/PUT, template), what a PUT changes on the wire, bad schema
bodies, and provision on demand for a group with the members the request names."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.sandbox_entra.helpers import Graph, cycles, scim_group, scim_user_by_external_id, tenant

NO_LIVE = ["--cycle-seconds", "0"]
EMAIL = 'emails[type eq "work"].value'
ACTIVE = 'Switch([IsSoftDeleted], , "False", "True", "True", "False")'


@pytest.fixture(scope="module")
def box():
    from tests.sandbox_fixture import start_sandbox

    b = start_sandbox(seed_users=12, seed_groups=4, seed=31, extra_args=NO_LIVE)
    try:
        cycles(b)
        yield b
    finally:
        b.cleanup()


def _user_mapping(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [rule] = schema["synchronizationRules"]
    [users] = [m for m in rule["objectMappings"] if m["sourceObjectName"] == "User"]
    return {a["targetAttributeName"]: a for a in users["attributeMappings"]}


def _schema_path(graph: Graph) -> str:
    return f"{graph.job_path}/schema"


def test_job_schema_has_the_guides_mappings_in_graphs_shape(box) -> None:
    graph = Graph(box)
    resp = graph.get(_schema_path(graph))
    assert resp.status_code == 200, resp.text
    schema = resp.json()
    assert schema["id"] == box.job_id and schema["version"]
    names = [d["name"] for d in schema["directories"]]
    assert names == ["Azure Active Directory", "customappsso"]
    user_obj = next(o for o in schema["directories"][0]["objects"] if o["name"] == "User")
    assert {"userPrincipalName", "mail", "objectId", "IsSoftDeleted"} <= {a["name"] for a in user_obj["attributes"]}
    [rule] = schema["synchronizationRules"]
    assert rule["sourceDirectoryName"] == "Azure Active Directory" and rule["targetDirectoryName"] == "customappsso"
    users = _user_mapping(schema)
    assert set(users) == {EMAIL, "userName", "active", "name.givenName", "name.familyName", "externalId"}
    assert users[EMAIL]["matchingPriority"] == 1 and users["userName"]["matchingPriority"] == 2
    assert users[EMAIL]["source"] == {"expression": "[mail]", "name": "mail", "parameters": [], "type": "Attribute"}
    assert users["userName"]["source"]["expression"] == "[userPrincipalName]"
    assert users["externalId"]["source"]["name"] == "objectId"
    active = users["active"]["source"]
    assert active["expression"] == ACTIVE and active["type"] == "Function" and active["name"] == "Switch"
    assert [p["key"] for p in active["parameters"]] == ["source", "defaultValue", "key", "value", "key", "value"]
    assert all(a["flowType"] == "Always" and a["matchingPriority"] >= 0 for a in users.values())
    groups = next(m for m in rule["objectMappings"] if m["sourceObjectName"] == "Group")
    gmap = {a["targetAttributeName"]: a for a in groups["attributeMappings"]}
    assert set(gmap) == {"displayName", "externalId", "members"} and gmap["displayName"]["matchingPriority"] == 1
    assert groups["name"] == "Provision Microsoft Entra ID Groups"


def test_template_schema_is_microsofts_default_and_unchanged_by_a_job_put(box) -> None:
    graph = Graph(box)
    sp, app = box.service_principal_id, box.info["application object id"]
    listed = graph.get(f"/servicePrincipals/{sp}/synchronization/templates").json()["value"]
    assert [t["id"] for t in listed] == ["scim"]
    tmpl = graph.get(f"/servicePrincipals/{sp}/synchronization/templates/scim/schema").json()
    users = _user_mapping(tmpl)
    assert users["userName"]["matchingPriority"] == 1 and users["externalId"]["source"]["name"] == "mailNickname"
    assert graph.get(f"/servicePrincipals/{sp}/synchronization/templates/nope/schema").status_code == 404
    via_app = f"/applications/{app}/synchronization/templates/scim/schema"
    assert graph.get(via_app).json() == tmpl
    job_before = graph.get(_schema_path(graph)).json()
    _am(tmpl, "userName")["source"] = {"expression": "ToLower([userPrincipalName])"}
    # Writing a template needs an Application permission, as on Microsoft Graph.
    assert graph.client.put(via_app, json=tmpl).status_code == 403
    roles = box.admin("GET", "/sandbox-admin/entra/graph-permissions")["roles"]
    box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": [*roles, "Application.ReadWrite.All"]})
    try:
        owner = Graph(box)
        assert owner.client.put(via_app, json=tmpl).status_code == 204
        assert _am(owner.get(via_app).json(), "userName")["source"]["expression"] == "ToLower([userPrincipalName])"
        assert owner.get(_schema_path(owner)).json() == job_before
    finally:
        box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": roles})


@pytest.mark.parametrize("change, fragment", [
    (lambda s: s.pop("synchronizationRules"), "no synchronizationRules"),
    (lambda s: s["synchronizationRules"][0].update(targetDirectoryName="Salesforce"), "not one of the directories"),
    (lambda s: _am(s, "userName").update(targetAttributeName="nickName"), "not an attribute of"),
    (lambda s: _am(s, "userName").update(source={"expression": "[nickname]"}), "nickname are not attributes"),
    (lambda s: _am(s, "userName").update(source={"expression": "Mid([mail], 1, 8)"}), "does not evaluate"),
    (lambda s: _am(s, "userName").update(source={"expression": "Switch([mail], "}), "Cannot read"),
    (lambda s: _am(s, "userName").update(matchingPriority=1), "used twice"),
    (lambda s: _am(s, "userName").update(matchingPriority="high"), "must be an integer"),
    (lambda s: _am(s, "userName").update(flowType="Sometimes"), "flowType"),
    (lambda s: [_am(s, EMAIL).update(matchingPriority=0), _am(s, "userName").update(matchingPriority=0)],
     "at least one matching attribute"),
], ids=["no-rules", "unknown-directory", "unknown-target", "unknown-source", "unknown-function", "syntax",
        "duplicate-priority", "priority-type", "flow-type", "no-matching"])
def test_invalid_schema_bodies_get_400_and_change_nothing(box, change, fragment) -> None:
    graph = Graph(box)
    before = graph.get(_schema_path(graph)).json()
    body = copy.deepcopy(before)
    change(body)
    resp = graph.client.put(_schema_path(graph), json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "BadRequest" and fragment in resp.json()["error"]["message"]
    assert graph.get(_schema_path(graph)).json() == before
    for raw in (b"[]", b"{not json", b'"x"'):
        resp = graph.client.put(_schema_path(graph), content=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400


def _am(schema: dict[str, Any], target: str) -> dict[str, Any]:
    return _user_mapping(schema)[target]


def test_schema_needs_synchronization_permissions(box) -> None:
    graph = Graph(box)
    box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": ["Synchronization.Read.All"]})
    try:
        limited = Graph(box)
        assert limited.get(_schema_path(limited)).status_code == 200
        resp = limited.client.put(_schema_path(limited), json=limited.get(_schema_path(limited)).json())
        assert resp.status_code == 403 and "Synchronization.ReadWrite.All" in resp.json()["error"]["message"]
    finally:
        box.admin("PUT", "/sandbox-admin/entra/graph-permissions",
                  json={"roles": ["AuditLog.Read.All", "Directory.Read.All", "Synchronization.Read.All",
                                  "Synchronization.ReadWrite.All"]})
    assert graph.client.get(_schema_path(graph), headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_put_changes_what_the_simulator_sends(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=6, seed_groups=3, seed=32, extra_args=NO_LIVE)
    cycles(box)
    graph = Graph(box)
    schema = graph.get(_schema_path(graph)).json()
    users = _user_mapping(schema)
    users["userName"]["source"] = {"expression": "[mail]"}  # only the expression: parsed by the service
    users["name.givenName"]["source"] = {"expression": "ToUpper([givenName])"}
    del users["externalId"]  # not sent any more
    schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"] = list(users.values())
    resp = graph.client.put(_schema_path(graph), json=schema)
    assert resp.status_code == 204, resp.text
    saved = _user_mapping(graph.get(_schema_path(graph)).json())
    assert saved["userName"]["source"] == {"expression": "[mail]", "name": "mail", "parameters": [],
                                           "type": "Attribute"}
    assert "externalId" not in saved
    [hire] = tenant(box, {"action": "join", "givenName": "Grace", "surname": "Hopper", "groups": [],
                          "userPrincipalName": "ghopper@northwind-demo.example",
                          "mail": "grace.hopper@mail.northwind-demo.example"})
    [cycle] = cycles(box)
    assert cycle["initial"] is True  # a mapping change restarts the job
    with box.client() as c:
        found = c.get("/Users", params={"filter": 'userName eq "grace.hopper@mail.northwind-demo.example"'}).json()
    [created] = found["Resources"]
    assert created["name"]["givenName"] == "GRACE"
    assert not created.get("externalId")
    assert scim_user_by_external_id(box, hire["objectId"]) is None
    logs = graph.all_logs(filter=f"sourceIdentity/id eq '{hire['objectId']}'")
    [create] = [r for r in logs if r["provisioningAction"] == "create"]
    props = {m["displayName"]: m["newValue"] for m in create["modifiedProperties"]}
    assert props["userName"] == "grace.hopper@mail.northwind-demo.example"


def test_provision_on_demand_a_group_with_named_members(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=10, seed_groups=3, seed=33, extra_args=NO_LIVE)
    graph = Graph(box)
    group = tenant(box, {"action": "add_group", "displayName": "Audit Committee"})[0]["objectId"]
    people = tenant(box, *({"action": "join", "groups": ["Audit Committee"]} for _ in range(3)))
    ids = [p["objectId"] for p in people]
    body = {"parameters": [{"ruleId": "x", "subjects": [{"objectId": group, "objectTypeName": "Group", "links": {
        "members": [{"objectId": i, "objectTypeName": "User"} for i in ids[:2]]}}]}]}
    resp = graph.post("provisionOnDemand", json=body)
    assert resp.status_code == 200, resp.text
    result = json.loads(resp.json()["value"])
    assert result["provisioningAction"] == "create" and result["statusInfo"]["status"] == "success"
    assert [m["objectId"] for m in result["members"]] == ids[:2]
    assert all(m["provisioningAction"] == "create" for m in result["members"])
    made = scim_group(box, "Audit Committee")
    assert made is not None and made["externalId"] == group
    targets = {scim_user_by_external_id(box, i)["id"] for i in ids[:2]}
    assert {m["value"] for m in made.get("members") or []} == targets
    assert scim_user_by_external_id(box, ids[2]) is None  # not named: not provisioned

    def one(subject: dict[str, Any]) -> Any:
        return graph.post("provisionOnDemand", json={"parameters": [{"ruleId": "x", "subjects": [subject]}]})
    outsider = tenant(box, {"action": "join", "groups": []})[0]["objectId"]
    resp = one({"objectId": group, "objectTypeName": "Group", "links": {"members": [{"objectId": outsider}]}})
    assert resp.status_code == 400 and "Not members" in resp.json()["error"]["message"]
    resp = one({"objectId": group, "objectTypeName": "Group",
                "links": {"members": [{"objectId": i} for i in ids * 2]}})
    assert resp.status_code == 400 and "at most 5" in resp.json()["error"]["message"]
    assert one({"objectId": "no-such-group", "objectTypeName": "Group"}).status_code in (404, 429)
