"""Provisioning cycles over real HTTP: initial + incremental, PATCH styles, quarantine, deletion threshold."""

from __future__ import annotations

import httpx

from tests.sandbox_entra.helpers import Graph, cycles, scim_group, scim_user_by_external_id, status, tenant

NO_LIVE = ["--cycle-seconds", "0"]
CREDENTIAL_FAILURE = "SystemForCrossDomainIdentityManagementCredentialValidationFailure"


def _users(box) -> list[dict]:
    with box.client() as c:
        resp = c.get("/Users", params={"count": 100})
        assert resp.status_code == 200
        return resp.json()["Resources"]


def _member_ids(group: dict) -> set[str]:
    return {m["value"] for m in group.get("members") or []}


def test_initial_then_incremental_cycles_build_the_expected_directory_and_logs(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=30, seed_groups=6, seed=3, extra_args=NO_LIVE)
    graph = Graph(box)
    assert graph.job()["status"]["code"] == "NotRun"
    assert graph.job()["status"]["lastExecution"]["timeBegan"] == "0001-01-01T00:00:00Z"
    active = [u for u in _users(box) if u["active"]]
    ada, alan = tenant(box, {"action": "join", "givenName": "Ada", "surname": "Lovelace", "groups": ["Finance"]},
                       {"action": "join", "givenName": "Alan", "surname": "Turing", "groups": []})

    [first] = cycles(box)
    assert first["initial"] is True and first["state"] == "Succeeded"
    assert first["counts"].get("create") == 2
    created = scim_user_by_external_id(box, ada["objectId"])
    assert created is not None and created["active"] is True
    assert created["userName"] == ada["userPrincipalName"]
    assert created["emails"][0]["value"] == ada["userPrincipalName"]
    assert created["name"]["givenName"] == "Ada"
    assert created["id"] in _member_ids(scim_group(box, "Finance"))
    assert scim_user_by_external_id(box, alan["objectId"]) is not None
    job = graph.job()
    assert job["status"]["code"] == "Active"
    assert job["status"]["lastSuccessfulExecutionWithExports"]["countExported"] >= 2
    assert job["status"]["steadyStateFirstAchievedTime"] != "0001-01-01T00:00:00Z"

    # Incremental cycle: a leaver (disable), a rename (6clicks ignores it: drift), a mover, a purged leaver.
    leaver, renamed, mover, gone = active[0], active[1], active[2], active[3]
    tenant(box,
           {"action": "leave", "user": leaver["userName"]},
           {"action": "rename", "user": renamed["userName"], "givenName": "Renamed", "surname": "Person"},
           {"action": "move", "user": mover["userName"], "to": "Legal"},
           {"action": "leave", "user": gone["userName"], "days_ago": 31})
    [second] = cycles(box)
    assert second["initial"] is False and second["state"] == "Succeeded"
    assert second["counts"].get("disable") == 1
    assert second["counts"].get("delete") == 1
    assert second["counts"].get("update", 0) >= 2
    with box.client() as c:
        assert c.get(f"/Users/{leaver['id']}").json()["active"] is False
        assert c.get(f"/Users/{renamed['id']}").json()["userName"] == renamed["userName"]  # drift
        assert c.get(f"/Users/{gone['id']}").status_code == 404
    assert mover["id"] in _member_ids(scim_group(box, "Legal"))

    records = graph.all_logs(filter=f"cycleId eq '{second['cycleId']}'")
    assert len(records) == second["records"]
    by_action = {r["provisioningAction"]: r for r in records}
    disable = by_action["disable"]
    assert disable["sourceIdentity"]["id"] == leaver["externalId"]
    assert disable["targetIdentity"]["id"] == leaver["id"]
    assert disable["modifiedProperties"] == [{"displayName": "active", "oldValue": "True", "newValue": "False"}]
    assert disable["jobId"].startswith("scim.") and disable["jobId"] == box.job_id
    assert disable["tenantId"] == box.tenant_id
    assert disable["servicePrincipal"]["id"] == box.service_principal_id
    assert disable["initiatedBy"]["initiatorType"] == "system"
    assert [s["provisioningStepType"] for s in disable["provisioningSteps"]] == [
        "import", "scoping", "matching", "processing", "export"]
    assert disable["provisioningStatusInfo"] == {"status": "success", "errorInformation": None}
    assert len({r["changeId"] for r in records}) == len(records)
    renamed_rec = next(r for r in records if r["sourceIdentity"]["id"] == renamed["externalId"])
    assert renamed_rec["provisioningAction"] == "update"
    props = {m["displayName"]: m for m in renamed_rec["modifiedProperties"]}
    assert props["userName"]["oldValue"] == renamed["userName"] and props["name.givenName"]["newValue"] == "Renamed"

    # Nothing changed: the next incremental cycle sends nothing and logs nothing.
    [third] = cycles(box)
    assert third["records"] == 0 and third["requests"] == 0


def test_aadoptscim062020_style_disables_and_removes_members(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=12, seed_groups=4, seed=4,
                          extra_args=[*NO_LIVE, "--entra-style", "aadOptscim062020"])
    assert status(box)["tenantUrl"].endswith("?aadOptscim062020")
    cycles(box)
    with box.client() as c:
        groups = c.get("/Groups").json()["Resources"]
    group = max(groups, key=lambda g: len(g.get("members") or []))
    member = sorted(_member_ids(group))[0]
    with box.client() as c:
        user = c.get(f"/Users/{member}").json()
    tenant(box, {"action": "remove_member", "user": user["userName"], "group": group["displayName"]},
           {"action": "leave", "user": user["userName"]})
    [result] = cycles(box)
    assert result["state"] == "Succeeded", result
    assert member not in _member_ids(scim_group(box, group["displayName"]))
    with box.client() as c:
        assert c.get(f"/Users/{member}").json()["active"] is False


def test_duplicate_of_a_drifted_user_name_is_an_entry_conflict(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=8, seed_groups=3, seed=5, extra_args=NO_LIVE)
    cycles(box)
    victim = next(u for u in _users(box) if u["active"])
    tenant(box, {"action": "rename", "user": victim["userName"], "surname": "Married"})
    cycles(box)
    # A new hire receives the freed UPN; 6clicks still holds it for the renamed user -> 409.
    [dup] = tenant(box, {"action": "join", "userPrincipalName": victim["userName"], "groups": []})
    [result] = cycles(box)
    assert result["state"] == "EntryLevelErrors" and result["failed"] == 1
    graph = Graph(box)
    [failure] = graph.all_logs(filter="provisioningStatusInfo/status eq 'failure'")
    assert failure["sourceIdentity"]["id"] == dup["objectId"]
    assert failure["provisioningAction"] == "create"
    assert failure["provisioningStatusInfo"]["errorInformation"]["errorCode"] == "EntryConflict"
    assert graph.job()["status"]["lastExecution"]["countEscrowed"] == 1


def test_expired_token_quarantines_and_a_secrets_put_recovers(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=10, seed_groups=3, seed=6, extra_args=NO_LIVE)
    graph = Graph(box)
    cycles(box)
    tenant(box, {"action": "set_token", "token": "expired"}, {"action": "join", "groups": []})
    [failed] = cycles(box)
    assert failed["state"] == "Failed" and failed["status"] == "Quarantine"
    status_doc = graph.job()["status"]
    assert status_doc["code"] == "Quarantine"
    q = status_doc["quarantine"]
    assert q["reason"] == "EncounteredQuarantineException" and q["seriesCount"] == 1
    assert q["error"]["code"] == CREDENTIAL_FAILURE
    assert q["nextAttempt"] > q["currentBegan"]
    assert status_doc["lastExecution"]["state"] == "Failed"
    assert status_doc["countSuccessiveCompleteFailures"] == 1
    [rec] = graph.all_logs(filter="provisioningStatusInfo/status eq 'failure'")
    assert rec["provisioningStatusInfo"]["errorInformation"]["errorCode"] == CREDENTIAL_FAILURE

    # Back-off: the next scheduled cycle does not run.
    [skipped] = cycles(box)
    assert skipped["ran"] is False and "quarantined" in skipped["skipped"]

    # validateCredentials really tries the token.
    bad = graph.post("validateCredentials", {"credentials": [{"key": "SecretToken", "value": "nope"}]})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == CREDENTIAL_FAILURE
    fresh = box.token(fresh=True)
    good = graph.post("validateCredentials", {"credentials": [{"key": "SecretToken", "value": fresh}]})
    assert good.status_code == 204

    assert graph.put_secrets(token=fresh, base=box.scim_url).status_code == 204
    [recovered] = cycles(box)
    assert recovered["ran"] and recovered["state"] == "Succeeded" and recovered["status"] == "Active"
    assert recovered["counts"].get("create") == 1
    status_doc = graph.job()["status"]
    assert status_doc["quarantine"] is None and status_doc["code"] == "Active"
    assert status_doc["countSuccessiveCompleteFailures"] == 0
    assert graph.put_secrets(base="https://example.com/scim").status_code == 400


def test_deletion_threshold_stages_deletes_until_force_deletes(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=15, seed_groups=3, seed=8, extra_args=[*NO_LIVE, "--deletion-threshold", "2"])
    graph = Graph(box)
    cycles(box)
    settings = {s["name"]: s["value"] for s in graph.job()["synchronizationJobSettings"]}
    assert settings["QuarantineTooManyDeletesThreshold"] == "2"
    leavers = [u for u in _users(box) if u["active"]][:3]
    tenant(box, *({"action": "leave", "user": u["userName"]} for u in leavers))
    [staged] = cycles(box)
    assert staged["staged"] == 3 and staged["status"] == "Quarantine"
    q = graph.job()["status"]["quarantine"]
    assert q["reason"] == "TooManyDeletes"
    records = graph.all_logs(filter=f"cycleId eq '{staged['cycleId']}'")
    assert sorted(r["provisioningAction"] for r in records) == ["stagedDelete"] * 3
    assert {r["provisioningStatusInfo"]["status"] for r in records} == {"skipped"}
    with box.client() as c:
        assert all(c.get(f"/Users/{u['id']}").json()["active"] for u in leavers)
    [blocked] = cycles(box, ignore_backoff=True)
    assert blocked["ran"] is False and "TooManyDeletes" in blocked["skipped"]

    bad_scope = graph.post("restart", {"criteria": {"resetScope": "Everything"}})
    assert bad_scope.status_code == 400
    assert graph.post("restart", {"criteria": {"resetScope": "ForceDeletes, QuarantineState"}}).status_code == 204
    [forced] = cycles(box)
    assert forced["counts"].get("disable") == 3 and forced["status"] == "Active"
    with box.client() as c:
        assert not any(c.get(f"/Users/{u['id']}").json()["active"] for u in leavers)


def test_transient_5xx_failures_are_retried_next_cycle(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=5, seed_groups=2, seed=9, extra_args=NO_LIVE)
    cycles(box)
    joined = tenant(box, *({"action": "join", "groups": []} for _ in range(4)))
    box.set_faults(rate_500=1.0, paths="^/scim/Users")
    [failing] = cycles(box)
    assert failing["state"] == "EntryLevelErrors" and failing["failed"] == 4
    codes = {r["provisioningStatusInfo"]["errorInformation"]["errorCode"]
             for r in Graph(box).all_logs(filter="provisioningStatusInfo/status eq 'failure'")}
    assert codes == {"InternalServerError"}
    box.clear_faults()
    [retry] = cycles(box)
    assert retry["counts"].get("create") == 4 and retry["failed"] == 0
    assert all(scim_user_by_external_id(box, j["objectId"]) for j in joined)


def test_pause_start_and_on_demand_rate_limit(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=5, seed_groups=2, seed=10, extra_args=NO_LIVE)
    graph = Graph(box)
    assert graph.post("pause").status_code == 204
    assert graph.job()["schedule"]["state"] == "Paused"
    [paused] = cycles(box)
    assert paused["ran"] is False
    assert graph.post("start").status_code == 204
    [ran] = cycles(box)
    assert ran["ran"] is True
    joined = tenant(box, *({"action": "join", "groups": []} for _ in range(6)))
    answers = []
    for j in joined:
        answers.append(graph.post("provisionOnDemand", {"parameters": [{"ruleId": "rule", "subjects": [
            {"objectId": j["objectId"], "objectTypeName": "User"}]}]}))
    assert [a.status_code for a in answers[:5]] == [200] * 5
    assert answers[5].status_code == 429 and int(answers[5].headers["Retry-After"]) >= 1
    assert answers[5].json()["error"]["code"] == "TooManyRequests"
    import json

    result = json.loads(answers[0].json()["value"])
    assert result["provisioningAction"] == "create" and result["statusInfo"]["status"] == "success"
    assert scim_user_by_external_id(box, joined[0]["objectId"]) is not None
    [rec] = graph.all_logs(filter=f"cycleId eq '{result['cycleId']}'")
    assert rec["initiatedBy"]["initiatorType"] == "application"


def test_admin_routes_need_the_admin_token(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=2, seed_groups=1, extra_args=NO_LIVE)
    resp = httpx.post(f"{box.api_url}/sandbox-admin/entra/cycles", json={"count": 1},
                      headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401
    resp = httpx.post(f"{box.api_url}/sandbox-admin/entra/tenant", json={"action": "explode"},
                      headers={"Authorization": f"Bearer {box.admin_token}"})
    assert resp.status_code == 400 and "Unknown action" in resp.json()["error"]


def test_live_cycles_run_on_their_own_with_cycle_seconds(sandbox_factory) -> None:
    import time

    box = sandbox_factory(seed_users=6, seed_groups=2, seed=12, extra_args=["--cycle-seconds", "1"])
    graph = Graph(box)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = graph.job()["status"]
        if job["code"] == "Active" and job["lastExecution"]["activityIdentifier"]:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("no live cycle ran within 60 s")
    first = job["lastExecution"]["timeBegan"]
    while time.monotonic() < deadline:
        if graph.job()["status"]["lastExecution"]["timeBegan"] > first:
            return
        time.sleep(0.5)
    raise AssertionError("the live cycles stopped after the first one")


def test_scope_through_assigned_groups(sandbox_factory) -> None:
    """Entra's assignment-based scoping: a direct member of an assigned group is in scope without an assignment
    of their own. A tenant assigned by group keeps everyone provisioned; a person who leaves their only assigned
    group, or whose group is unassigned, is disabled by the next cycle; one assigned directly stays."""
    box = sandbox_factory(seed_users=24, seed_groups=13, seed=12, extra_args=NO_LIVE)  # every department
    graph = Graph(box)
    cycles(box)
    active = {u["id"] for u in _users(box) if u["active"]}
    [result] = tenant(box, {"action": "assign_by_group"})
    assert result["users"] == 24  # everyone is in a department group: no one stays assigned one by one
    path = f"/servicePrincipals/{box.service_principal_id}/appRoleAssignedTo"
    kinds = [a["principalType"] for a in graph.get(path, **{"$top": 999}).json()["value"]]
    assert kinds.count("Group") == 13 and "User" not in kinds
    [quiet] = cycles(box)
    assert quiet["state"] == "Succeeded"
    assert {u["id"] for u in _users(box) if u["active"]} == active  # nobody left the scope

    with box.client() as c:
        groups = [g for g in c.get("/Groups", params={"count": 100}).json()["Resources"]
                  if not g["displayName"].startswith("Role - ")]
    team = max(groups, key=lambda g: len(g.get("members") or []))
    leaver, stayer, *rest = sorted(_member_ids(team) & active)
    with box.client() as c:
        leaver_doc, stayer_doc = c.get(f"/Users/{leaver}").json(), c.get(f"/Users/{stayer}").json()
    # the leaver leaves every assigned group; the stayer is assigned directly, then their group is unassigned
    for group in groups + [g for g in c_groups(box) if g["displayName"].startswith("Role - ")]:
        if leaver in _member_ids(group):
            tenant(box, {"action": "remove_member", "user": leaver_doc["userName"], "group": group["displayName"]})
    tenant(box, {"action": "assign", "user": stayer_doc["userName"]})
    [after] = cycles(box)
    assert after["state"] == "Succeeded", after
    with box.client() as c:
        assert c.get(f"/Users/{leaver}").json()["active"] is False
        assert c.get(f"/Users/{stayer}").json()["active"] is True
    tenant(box, {"action": "unassign_group", "group": team["displayName"]})
    cycles(box)
    with box.client() as c:
        assert c.get(f"/Users/{stayer}").json()["active"] is True   # assigned directly
        only_team = [u for u in rest if all(u not in _member_ids(g) for g in c_groups(box)
                                            if g["displayName"] != team["displayName"])]
        assert only_team
        for uid in only_team:  # in scope through the team only: out of scope with it
            assert c.get(f"/Users/{uid}").json()["active"] is False


def c_groups(box) -> list[dict]:
    with box.client() as c:
        return c.get("/Groups", params={"count": 100}).json()["Resources"]
