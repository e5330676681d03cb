"""The demo plants each reconciliation category and one mapping drift, named in its description; found exactly
by comparing the SCIM side with Graph's view of the tenant."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox_entra.helpers import Graph, cycles, planted_demo, scim_group, status

EMAIL = 'emails[type eq "work"].value'


@pytest.fixture(scope="module")
def demo():
    yield from planted_demo()


def _scim_users(box) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with box.client() as c:
        while True:
            page = c.get("/Users", params={"count": 100, "startIndex": len(out) + 1}).json()
            out += page["Resources"]
            if len(out) >= page["totalResults"] or not page["Resources"]:
                return out


def _graph_all(graph: Graph, path: str) -> list[dict[str, Any]]:
    body = graph.client.get(path).json()
    out = body["value"]
    while "@odata.nextLink" in body:
        body = graph.client.get(body["@odata.nextLink"]).json()
        out += body["value"]
    return out


def _sides(box) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], set[str]]:
    graph = Graph(box)
    entra = {u["id"]: u for u in _graph_all(graph, "/users?$top=50&$select=id,userPrincipalName,mail")}
    assigned = {a["principalId"] for a in _graph_all(
        graph, f"/servicePrincipals/{box.service_principal_id}/appRoleAssignedTo?$top=50")}
    return _scim_users(box), entra, assigned


def test_each_category_is_planted_exactly_and_described(demo) -> None:
    planted = status(demo)["demo"]["planted"]
    assert "demo planted" in demo.info and "3 not managed by SCIM" in demo.info["demo planted"]
    users, entra, assigned = _sides(demo)
    unmanaged = sorted(u["userName"] for u in users if not u.get("externalId"))
    assert unmanaged == sorted(planted["notManagedBySCIM"]) and len(unmanaged) == 3
    orphans = sorted(u["userName"] for u in users if u.get("externalId") and u["active"]
                     and (u["externalId"] not in entra or u["externalId"] not in assigned))
    assert orphans == sorted(o["userName"] for o in planted["orphans"]) and len(orphans) == 3
    by_external = {u.get("externalId") for u in users}
    missing = sorted(i for i in assigned if i in entra and i not in by_external)
    assert missing == sorted(m["objectId"] for m in planted["missing"]) and len(missing) == 2
    by_ext = {u.get("externalId"): u for u in users}
    for drift in planted["attributeDrift"]:
        mine = by_ext[drift["objectId"]]
        assert mine["userName"] == drift["6clicks"] != entra[drift["objectId"]]["userPrincipalName"] == drift["entra"]
        assert mine["emails"][0]["value"] != entra[drift["objectId"]]["mail"]
    md = planted["membershipDrift"]
    group = scim_group(demo, md["group"])
    names = {u["id"]: u["userName"] for u in users}
    in_6clicks = {names[m["value"]] for m in group["members"]}
    graph = Graph(demo)
    gid = group["externalId"]
    in_entra = {u["userPrincipalName"] for u in _graph_all(graph, f"/groups/{gid}/transitiveMembers?$top=50")}
    assert sorted(in_6clicks - in_entra) == md["onlyIn6clicks"]
    assert sorted(in_entra - in_6clicks) == md["onlyInEntra"]


def test_the_planted_states_show_in_logs_schema_and_outlast_cycles(demo) -> None:
    graph = Graph(demo)
    planted = status(demo)["demo"]["planted"]
    schema = graph.get(f"{graph.job_path}/schema").json()
    [users] = [m for m in schema["synchronizationRules"][0]["objectMappings"] if m["sourceObjectName"] == "User"]
    prio = {a["targetAttributeName"]: a["matchingPriority"] for a in users["attributeMappings"]}
    assert prio[EMAIL] == 0 and prio["userName"] == 2  # the drift the setup check must find
    assert graph.job()["status"]["code"] == "Active" and graph.job()["status"]["quarantine"] is None
    for leaver in planted["orphans"][:2]:
        logs = graph.all_logs(filter=f"sourceIdentity/id eq '{leaver['objectId']}'")
        assert any(r["provisioningAction"] == "stagedDelete" and r["provisioningStatusInfo"]["status"] == "skipped"
                   for r in logs)
    for hire in planted["missing"]:
        logs = graph.all_logs(filter=f"sourceIdentity/id eq '{hire['objectId']}'")
        codes = {(r["provisioningStatusInfo"]["errorInformation"] or {}).get("errorCode") for r in logs}
        assert "EntryConflict" in codes
    cycles(demo, count=3, ignore_backoff=True)
    users, _, _ = _sides(demo)
    held = {o["objectId"] for o in planted["orphans"][:2]}
    assert all(u["active"] for u in users if u.get("externalId") in held)  # still held back
    # An admin releases the held deactivations: the next cycle disables them.
    assert graph.post("restart", json={"criteria": {"resetScope": "ForceDeletes"}}).status_code == 204
    cycles(demo)
    users, _, _ = _sides(demo)
    assert not any(u["active"] for u in users if u.get("externalId") in held)
