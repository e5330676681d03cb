"""Graph reads of the simulated tenant for reconciliation: users with $select/$top/nextLink, delta rounds,
groups/delta with members@delta, transitiveMembers, appRoleAssignedTo, application permissions and throttling."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.sandbox_entra.helpers import Graph, cycles, tenant

NO_LIVE = ["--cycle-seconds", "0"]
ALL_ROLES = ["AuditLog.Read.All", "Directory.Read.All", "Synchronization.Read.All", "Synchronization.ReadWrite.All"]


@pytest.fixture(scope="module")
def box():
    from tests.sandbox_fixture import start_sandbox

    b = start_sandbox(seed_users=25, seed_groups=4, seed=51, extra_args=NO_LIVE,
                      env={"SANDBOX_GRAPH_MEMBERS_PER_PAGE": "4"})  # large groups split across pages
    try:
        cycles(b)
        yield b
    finally:
        b.cleanup()


def _db(box, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(box.data_dir / "entra.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _all(graph: Graph, path: str, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    resp = graph.get(path, **params)
    out: list[dict[str, Any]] = []
    pages = 0
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        out += body["value"]
        pages += 1
        assert pages < 200
        if "@odata.nextLink" not in body:
            return out, body
        assert "@odata.deltaLink" not in body
        resp = graph.client.get(body["@odata.nextLink"])


def test_users_are_paged_with_select_and_exclude_the_recycle_bin(box) -> None:
    graph = Graph(box)
    live = {r[0] for r in _db(box, "SELECT object_id FROM src_users WHERE NOT soft_deleted AND NOT hard_deleted")}
    got, last = _all(graph, "/users", **{"$top": 7, "$select": "id,userPrincipalName,mail,accountEnabled"})
    assert [u["id"] for u in got] == sorted(live)  # every user exactly once, in a stable order
    assert all(set(u) == {"id", "userPrincipalName", "mail", "accountEnabled"} for u in got)
    assert "@odata.deltaLink" not in last
    default = graph.get("/users", **{"$top": 1}).json()["value"][0]
    assert {"id", "displayName", "givenName", "surname", "mail", "userPrincipalName"} <= set(default)
    assert "accountEnabled" not in default
    one = got[0]
    resp = graph.get(f"/users/{one['id']}", **{"$select": "givenName,surname,department"})
    assert resp.status_code == 200 and set(resp.json()) - {"@odata.context"} == {"givenName", "surname", "department"}
    assert graph.get(f"/users/{one['userPrincipalName']}").json()["id"] == one["id"]
    tenant(box, {"action": "leave", "user": one["id"]})
    assert graph.get(f"/users/{one['id']}").status_code == 404
    assert one["id"] not in {u["id"] for u in _all(graph, "/users", **{"$top": 999})[0]}
    tenant(box, {"action": "restore", "user": one["id"]})
    for params in ({"$top": "0"}, {"$top": "x"}, {"$top": "1000"}, {"$select": "password"},
                   {"$filter": "accountEnabled eq true"}, {"$skiptoken": "%%%"}):
        resp = graph.get("/users", **params)
        assert resp.status_code == 400 and resp.json()["error"]["message"], params


def test_a_second_delta_round_returns_only_what_changed(box) -> None:
    graph = Graph(box)
    first, end = _all(graph, "/users/delta", **{"$top": 3, "$select": "userPrincipalName,mail,givenName,surname"})
    live = {r[0] for r in _db(box, "SELECT object_id FROM src_users WHERE NOT soft_deleted AND NOT hard_deleted")}
    assert {u["id"] for u in first} == live and len(first) == len(live)
    assert all("@removed" not in u for u in first)
    link = end["@odata.deltaLink"]
    quiet = graph.client.get(link).json()
    assert quiet["value"] == [] and "@odata.deltaLink" in quiet
    ids = sorted(live)
    renamed, leaver, gone = ids[0], ids[1], ids[2]
    joined = tenant(box, {"action": "join", "givenName": "Delta", "surname": "Newcomer", "groups": []},
                    {"action": "rename", "user": renamed, "surname": "Changed"},
                    {"action": "leave", "user": leaver},
                    {"action": "hard_delete", "user": gone},
                    {"action": "assign", "user": ids[3]})[0]["objectId"]  # assignment: not a user change
    changed, end2 = _all(graph, quiet["@odata.deltaLink"].split("/graph/v1.0", 1)[1])
    by_id = {u["id"]: u for u in changed}
    assert set(by_id) == {joined, renamed, leaver, gone}
    assert by_id[leaver]["@removed"] == {"reason": "changed"}
    assert by_id[gone]["@removed"] == {"reason": "deleted"}
    assert by_id[renamed]["surname"] == "Changed" and set(by_id[renamed]) >= {"userPrincipalName", "mail"}
    assert by_id[joined]["givenName"] == "Delta"
    again = graph.client.get(end2["@odata.deltaLink"]).json()
    assert again["value"] == []
    assert graph.get("/users/delta", **{"$deltatoken": "garbage"}).status_code == 400
    tenant(box, {"action": "restore", "user": leaver})


def test_transitive_members_of_a_group(box) -> None:
    graph = Graph(box)
    gid = tenant(box, {"action": "add_group", "displayName": "Reconcile Test"})[0]["objectId"]
    people = [r["objectId"] for r in tenant(box, *({"action": "join", "groups": ["Reconcile Test"]}
                                                     for _ in range(5)))]
    assert graph.get(f"/groups/{gid}").json()["displayName"] == "Reconcile Test"
    members, _ = _all(graph, f"/groups/{gid}/transitiveMembers", **{"$top": 2, "$select": "id,userPrincipalName"})
    assert sorted(m["id"] for m in members) == sorted(people)
    assert all(m["@odata.type"] == "#microsoft.graph.user" for m in members)
    tenant(box, {"action": "leave", "user": people[0]})
    members, _ = _all(graph, f"/groups/{gid}/transitiveMembers")
    assert sorted(m["id"] for m in members) == sorted(people[1:])
    assert graph.get("/groups/00000000-0000-0000-0000-000000000000/transitiveMembers").status_code == 404
    tenant(box, {"action": "delete_group", "group": gid})
    assert graph.get(f"/groups/{gid}").status_code == 404


def test_app_role_assignments_are_paged_and_follow_assignment(box) -> None:
    graph = Graph(box)
    path = f"/servicePrincipals/{box.service_principal_id}/appRoleAssignedTo"
    got, _ = _all(graph, path, **{"$top": 5})
    users = {r[0] for r in _db(box, "SELECT object_id FROM src_users WHERE assigned AND NOT soft_deleted AND NOT "
                                    "hard_deleted")}
    groups = {r[0] for r in _db(box, "SELECT object_id FROM src_groups WHERE assigned AND NOT deleted")}
    assert {a["principalId"] for a in got if a["principalType"] == "User"} == users
    assert {a["principalId"] for a in got if a["principalType"] == "Group"} == groups
    assert len(got) == len(users) + len(groups) and len({a["id"] for a in got}) == len(got)
    assert all(a["resourceId"] == box.service_principal_id and a["principalDisplayName"] for a in got)
    # $select trims each assignment to what was asked (and its id); an unknown name is Graph's 400
    lean, _ = _all(graph, path, **{"$top": 999, "$select": "principalId,principalType"})
    assert {frozenset(a) for a in lean} == {frozenset({"id", "principalId", "principalType"})}
    assert [(a["id"], a["principalId"]) for a in lean] == [(a["id"], a["principalId"]) for a in got]
    assert graph.get(path, **{"$select": "principalId,mail"}).status_code == 400
    someone = sorted(users)[0]
    tenant(box, {"action": "unassign", "user": someone})
    assert someone not in {a["principalId"] for a in _all(graph, path, **{"$top": 999})[0]}
    tenant(box, {"action": "assign", "user": someone})
    assert graph.get(f"/servicePrincipals/{box.tenant_id}/appRoleAssignedTo").status_code == 404


def test_application_permissions_are_enforced(box) -> None:
    sp_path = f"/servicePrincipals/{box.service_principal_id}/appRoleAssignedTo"
    gid = _db(box, "SELECT object_id FROM src_groups WHERE NOT deleted LIMIT 1")[0][0]
    try:
        box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": ["User.Read.All"]})
        graph = Graph(box)
        assert graph.get("/users").status_code == 200
        for path in (f"/groups/{gid}/transitiveMembers", sp_path):
            resp = graph.get(path)
            assert resp.status_code == 403 and resp.json()["error"]["code"] == "Authorization_RequestDenied"
        box.admin("PUT", "/sandbox-admin/entra/graph-permissions",
                  json={"roles": ["GroupMember.Read.All", "Application.Read.All"]})
        graph = Graph(box)
        assert graph.get("/users").status_code == 403 and graph.get("/users/delta").status_code == 403
        assert graph.get(f"/groups/{gid}/transitiveMembers").status_code == 200
        assert graph.get(sp_path).status_code == 200
    finally:
        box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": ALL_ROLES})
    assert Graph(box).client.get("/users", headers={"Authorization": "Bearer x.y.z"}).status_code == 401


def test_throttling_answers_429_with_retry_after(box) -> None:
    graph = Graph(box)
    box.set_faults(rate_429=1.0, retry_after=7, paths=r"^/graph/v1\.0/(users|groups|servicePrincipals)")
    try:
        resp = graph.get("/users/delta")
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    finally:
        box.clear_faults()
    assert graph.get("/users/delta").status_code == 200


def _round(graph: Graph, link: str) -> tuple[list[dict[str, Any]], str]:
    """Every page of a delta round from its link: (the groups, the next round's delta link)."""
    out: list[dict[str, Any]] = []
    while True:
        body = graph.client.get(link).json()
        out += body["value"]
        if "@odata.deltaLink" in body:
            return out, body["@odata.deltaLink"]
        link = body["@odata.nextLink"]


def _members_by_group(groups: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for g in groups:
        out.setdefault(g["id"], set()).update(m["id"] for m in g.get("members@delta", []) if "@removed" not in m)
    return out


def test_groups_delta_first_round_then_only_changes(box) -> None:
    graph = Graph(box)
    live = _db(box, "SELECT m.group_id, m.user_id FROM src_members m JOIN src_users u ON u.object_id = m.user_id "
                    "JOIN src_groups g ON g.object_id = m.group_id WHERE NOT u.soft_deleted AND NOT u.hard_deleted "
                    "AND NOT g.deleted")
    expected: dict[str, set[str]] = {}
    for gid, uid in live:
        expected.setdefault(gid, set()).add(uid)
    got, last = _all(graph, "/groups/delta", **{"$select": "displayName,members", "$top": 2})
    assert _members_by_group(got).keys() >= expected.keys()
    assert {g: m for g, m in _members_by_group(got).items() if m} == expected  # every membership exactly
    assert len(got) > len(expected), "groups larger than a page continue on the next page"
    assert all(g["displayName"] for g in got)
    link = last["@odata.deltaLink"]
    # nothing changed: an empty round
    again, link = _round(graph, link)
    assert again == []
    # a move between two groups: both groups come back with only that member, added or removed
    frm, uid = live[0]
    to = next(g for g in expected if g != frm and uid not in expected[g])
    tenant(box, {"action": "move", "user": uid, "to": to, "from": frm})
    moved, link = _round(graph, link)
    changed = {g["id"]: g for g in moved}
    assert set(changed) == {frm, to}
    assert changed[frm]["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": uid,
                                              "@removed": {"reason": "deleted"}}]
    assert changed[to]["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": uid}]
    tenant(box, {"action": "move", "user": uid, "to": frm, "from": to})  # as it was, for the other tests
    # a new group, then deleted: reported, then reported removed
    [added] = tenant(box, {"action": "add_group", "displayName": "Delta Probe Group"})
    back, link = _round(graph, link)
    assert {g["id"] for g in back} == {frm, to, added["objectId"]}
    tenant(box, {"action": "delete_group", "group": added["objectId"]})
    gone, link = _round(graph, link)
    assert gone == [{"@odata.type": "#microsoft.graph.group", "id": added["objectId"],
                              "@removed": {"reason": "deleted"}}]
    assert graph.get("/groups/delta", **{"$select": "owners"}).status_code == 400


@pytest.mark.parametrize("state", [{"a": [1]}, {"d": 10**30}, {"since": "abc", "d": 1}, {"zz": 1}, {"d": True},
                                   {"g": {"x": 1}, "u": 5}, {"k": None, "a": ""}])
def test_crafted_paging_tokens_are_graphs_400_not_a_server_error(box, state: dict[str, Any]) -> None:
    """A $skiptoken / $deltatoken is opaque to clients; one crafted to hold the wrong types is refused like
    Graph refuses it (400 with an error body), never a 500 with a traceback."""
    import base64
    import json

    graph = Graph(box)
    token = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    for path, name in (("/users/delta", "$skiptoken"), ("/users/delta", "$deltatoken"), ("/groups/delta", "$skiptoken"),
                       ("/groups/delta", "$deltatoken"), ("/users", "$skiptoken"),
                       (f"/servicePrincipals/{box.service_principal_id}/appRoleAssignedTo", "$skiptoken")):
        resp = graph.get(path, **{name: token})
        assert resp.status_code == 400, (path, name, resp.status_code, resp.text[:200])
        assert resp.json()["error"]["code"]
