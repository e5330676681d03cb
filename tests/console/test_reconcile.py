"""Reconciliation against the demo (sandbox + Entra simulator over HTTP): each planted category found exactly,
an account created directly through SCIM without externalId is not managed, one whose externalId Entra does not
know is an orphan (exit code 2), a delta run sees a change made in the simulated tenant, hostile and odd data is
reported, and the CSV is formula-safe."""

from __future__ import annotations

import json

import pytest

from console.cli import main as cli_main
from console.reconcile.runs import export_csv, history, reconcile
from console.tokens.service import TokenService
from tests.console.test_core_helpers import add_conn, make_ctx, new_key
from tests.sandbox_entra.helpers import planted_demo, status


@pytest.fixture(scope="module")
def demo():
    yield from planted_demo()


def _console_for(tmp_path, demo):
    c = make_ctx(tmp_path)
    add_conn(c, demo, entra=True)
    _name, key = new_key(demo)
    TokenService(c).set_api_key("Prod", key, verify=False)
    TokenService(c).generate("Prod", verify=False)
    c.credentials.set("Prod", "graph_client_secret", demo.client_secret)
    return c


@pytest.fixture
def ctx(tmp_path, demo):
    c = _console_for(tmp_path, demo)
    yield c
    c.close()


@pytest.fixture
def own_demo(tmp_path):
    """A demo of its own, for a test that changes the tenant in ways the module's tests do not expect."""
    boxes = planted_demo()
    box = next(boxes)
    c = _console_for(tmp_path, box)
    yield c, box
    c.close()
    next(boxes, None)


def _conn(ctx):
    from console.connections import ConnectionRepo
    return ConnectionRepo(ctx).get("Prod")


def test_each_planted_category_is_found_exactly(ctx, demo):
    planted = status(demo)["demo"]["planted"]
    run = reconcile(ctx, _conn(ctx))
    t = run.result.tables
    assert sorted(t["not_managed"]["userName"]) == sorted(planted["notManagedBySCIM"])
    assert sorted(t["orphans"]["userName"]) == sorted(o["userName"] for o in planted["orphans"])
    assert sorted(t["missing"]["entraId"]) == sorted(m["objectId"] for m in planted["missing"])
    assert set(t["missing"]["error_code"]) == {"EntryConflict"}  # joined to the latest failed record
    assert all(t["missing"]["explanation"].str.len() > 0)
    drifted = t["attribute_drift"]
    for d in planted["attributeDrift"]:
        rows = drifted[drifted["externalId"] == d["objectId"]]
        assert "userName / userPrincipalName" in set(rows["attribute"]) and "e-mail / mail" in set(rows["attribute"])
        assert all("6clicks does not apply updates" in f for f in rows["fix"])
    md = planted["membershipDrift"]
    m = t["membership_drift"]
    assert sorted(m.loc[m["side"].str.startswith("only in 6clicks"), "userName"]) == md["onlyIn6clicks"]
    assert sorted(m.loc[m["side"].str.startswith("only in Entra"), "userName"]) == md["onlyInEntra"]
    assert run.exit_code == 2 and run.mode == "full"
    counts = run.result.counts()
    assert counts["orphans"] == 3 and counts["missing"] == 2 and counts["not_managed"] == 3
    # the orphans raise an alert through the reminder channels
    from console.notify.alerts import current_alerts
    [alert] = [a for a in current_alerts(ctx, _conn(ctx)) if a.kind == "orphans"]
    assert alert.severity == "critical" and alert.key == "orphans:3" and "Reconcile" in alert.remedy


def test_direct_scim_accounts_and_delta_runs(ctx, demo):
    conn = _conn(ctx)
    first = reconcile(ctx, conn)
    with TokenService(ctx).scim_client("Prod") as client:
        jit = client.create_user("jit.person@contoso.example", email="jit.person@contoso.example")
        ghost = client.create_user("ghost@contoso.example", email="ghost@contoso.example",
                                   external_id="00000000-dead-beef-0000-000000000000")
    try:
        # a change in the tenant: one assigned user renamed in Entra (delta must see it)
        victim = first.entra.users[first.entra.users["id"].isin(first.entra.in_scope)].iloc[0]
        demo.admin("POST", "/sandbox-admin/entra/tenant", json={"action": "rename", "user": victim["upn"],
                                                               "givenName": "Renamedgiven"})
        # and one membership change: an assigned user moved between two assigned groups (groups/delta must see it)
        members = first.entra.members
        groups = first.entra.groups.set_index("id")["displayName"]
        plain = [g for g in groups.index if not str(groups[g]).startswith("Role - ")]
        mover, frm = next((u, g) for g, u in zip(members["group_id"], members["user_id"], strict=True)
                          if g in plain and u != victim["id"])
        to = next(g for g in plain if g != frm and not ((members["group_id"] == g) & (members["user_id"] == mover)).any())
        demo.admin("POST", "/sandbox-admin/entra/tenant", json={"action": "move", "user": mover, "to": to,
                                                               "from": frm})
        second = reconcile(ctx, conn)
        assert second.mode == "delta" and 1 <= second.entra.changes < 10
        assert second.entra.group_changes == 2 and first.entra.group_changes == len(groups) >= 2
        now = second.entra.members
        assert ((now["group_id"] == to) & (now["user_id"] == mover)).any()
        assert not ((now["group_id"] == frm) & (now["user_id"] == mover)).any()
        drift = second.result.tables["membership_drift"]
        upn = first.entra.users.set_index("id").loc[mover, "upn"]
        sides = {(r["group"], r["side"][:14]) for r in drift[drift["userName"].str.lower() == str(upn).lower()]
                 .to_dict("records")}
        assert (groups[frm], "only in 6click") in sides and (groups[to], "only in Entra ") in sides, sides
        assert first.entra.changes == len(first.entra.users) > 100  # the first run read every user
        t = second.result.tables
        assert "jit.person@contoso.example" in set(t["not_managed"]["userName"])
        ghost_row = t["orphans"][t["orphans"]["userName"] == "ghost@contoso.example"]
        assert list(ghost_row["reason"]) == ["gone from Entra (no object with this id)"]
        renamed = t["attribute_drift"][t["attribute_drift"]["externalId"] == victim["id"]]
        assert any("renamedgiven" in v.lower() for v in renamed["in_entra"])
        assert second.exit_code == 2
    finally:
        with TokenService(ctx).scim_client("Prod") as client:
            client.delete_user(jit.id)
            client.delete_user(ghost.id)
    h = history(ctx, conn)
    assert list(h["orphans"])[-1] >= 4 and len(h) == 2


def test_csv_is_formula_safe_and_cli_exit_codes(ctx, demo, capsys, monkeypatch, tmp_path):
    conn = _conn(ctx)
    with TokenService(ctx).scim_client("Prod") as client:
        evil = client.create_user("=HYPERLINK(\"http://x\")@contoso.example", email="evil@contoso.example")
    try:
        run = reconcile(ctx, conn, full=True)
        data = export_csv(ctx, conn, run.id).decode("utf-8-sig")
        assert "\n=HYPERLINK" not in data and ",=HYPERLINK" not in data and "HYPERLINK" in data
        monkeypatch.setattr("console.cli.reconcile.open_ctx", lambda args: ctx)
        ctx.close = lambda: None
        out_csv = tmp_path / "run.csv"
        code = cli_main(["reconcile", "--connection", "Prod", "--json", "--no-refresh", "--csv", str(out_csv)])
        body = json.loads(capsys.readouterr().out)
        assert code == 2 == body["exit_code"] and body["counts"]["orphans"] >= 3 and out_csv.exists()
        code = cli_main(["reconcile", "--connection", "Prod", "--no-refresh"])
        text = capsys.readouterr().out
        assert code == 2 and "Orphans: " in text and "CRITICAL" in text
    finally:
        with TokenService(ctx).scim_client("Prod") as client:
            client.delete_user(evil.id)


def test_without_graph_only_the_snapshot_categories(tmp_path, demo):
    c = make_ctx(tmp_path)
    try:
        add_conn(c, demo)
        _name, key = new_key(demo)
        TokenService(c).set_api_key("Prod", key, verify=False)
        TokenService(c).generate("Prod", verify=False)
        run = reconcile(c, _conn(c))
        assert run.mode == "snapshot-only" and set(run.result.tables) == {"not_managed", "conflicts"}
        assert any("Microsoft Graph" in w for w in run.result.warnings)
        assert run.exit_code == 1  # the just-in-time accounts are drift, not orphans
    finally:
        c.close()


def test_odd_and_hostile_data_is_reported_never_matched(ctx, demo):
    """Duplicate externalIds and e-mails in 6clicks are conflicts and stay unmatched; throttling is waited out;
    a listing that breaks off mid-way ends the run with an error instead of reporting everyone as an orphan."""
    from console.graph import GraphError

    conn = _conn(ctx)
    base = reconcile(ctx, conn, full=True)
    entra_id = base.entra.users[base.entra.users["id"].isin(base.entra.in_scope)].iloc[3]["id"]
    with TokenService(ctx).scim_client("Prod") as client:
        a = client.create_user("twin.a@contoso.example", email="twin@contoso.example", external_id="dup-ext-1")
        b = client.create_user("twin.b@contoso.example", email="twin@contoso.example", external_id="dup-ext-1")
        c = client.create_user("copy@contoso.example", email="copy@contoso.example", external_id=entra_id)
    try:
        demo.set_faults(rate_429=0.3, retry_after=0, paths="^/graph", seed=7)
        run = reconcile(ctx, conn)
        demo.clear_faults()
        conflicts = run.result.tables["conflicts"]
        kinds = set(zip(conflicts["kind"], conflicts["value"], strict=True))
        assert ("duplicate externalId", "dup-ext-1") in kinds and ("duplicate e-mail", "twin@contoso.example") in kinds
        assert ("duplicate externalId", entra_id.casefold()) in kinds
        # the duplicated id is matched to neither account: no drift or orphan row pairs them with Entra
        assert entra_id not in set(run.result.tables["attribute_drift"]["externalId"])
        assert entra_id not in set(run.result.tables["missing"]["entraId"])  # it is there: a conflict, not missing
        runs_before = len(history(ctx, conn))
        demo.set_faults(rate_500=1.0, paths="^/graph/v1.0/users/delta", seed=1)
        with pytest.raises(GraphError):
            reconcile(ctx, conn, refresh=False, full=True)
        assert len(history(ctx, conn)) == runs_before  # nothing half-read was stored
    finally:
        demo.clear_faults()
        with TokenService(ctx).scim_client("Prod") as client:
            for user in (a, b, c):
                client.delete_user(user.id)


def test_cli_bad_csv_path_is_refused_before_the_run(ctx, demo, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("console.cli.reconcile.open_ctx", lambda args: ctx)
    ctx.close = lambda: None
    assert cli_main(["reconcile", "--connection", "Prod", "--no-refresh", "--csv", str(tmp_path)]) == 3
    assert "is a folder" in capsys.readouterr().err
    assert cli_main(["reconcile", "--connection", "Prod", "--no-refresh", "--csv",
                     str(tmp_path / "missing" / "x.csv")]) == 3
    assert "does not exist" in capsys.readouterr().err
    assert len(history(ctx, _conn(ctx))) == 0  # refused before anything ran


def test_transitive_members_expand_nested_groups_and_stop_at_cycles(ctx):
    from console.connections import connection_id
    from console.reconcile.entra_side import _cached_members

    conn = _conn(ctx)
    cid = connection_id(ctx, conn)
    edges = [("A", "u1", 0), ("A", "B", 1), ("B", "u2", 0), ("B", "C", 1), ("C", "u3", 0), ("C", "A", 1),
             ("D", "u4", 0)]
    with ctx.store.transaction() as db:
        db.executemany("INSERT INTO entra_group_members (connection_id, group_id, member_id, member_is_group) "
                       "VALUES (?, ?, ?, ?)", [(cid, *e) for e in edges])
    got = _cached_members(ctx, conn, ["A", "C"])
    pairs = {(g, u): d for g, u, d in zip(got["group_id"], got["user_id"], got["direct"], strict=True)}
    # only a group's own members are direct (what puts a user in scope); the rest come through nesting
    assert pairs == {("A", "u1"): True, ("A", "u2"): False, ("A", "u3"): False, ("C", "u3"): True,
                     ("C", "u1"): False, ("C", "u2"): False}
    assert len(got) == len(pairs)
    assert _cached_members(ctx, conn, []).empty


def test_members_of_nested_groups_are_out_of_scope_and_named(own_demo):
    """Entra provisions the direct members of an assigned group only: someone reached through a nested group is
    out of scope (an orphan if still active in 6clicks), and the run says why instead of 'not assigned'."""
    from console.connections import connection_id

    ctx, demo = own_demo
    conn = _conn(ctx)
    first = reconcile(ctx, conn)
    entra = first.entra
    drifted = set(first.result.tables["attribute_drift"]["externalId"].str.lower())
    person = next(i for i in sorted(entra.in_scope) if i.lower() not in drifted)
    groups = sorted(set(entra.members.loc[entra.members["user_id"] == person, "group_id"]))
    # out of the app's scope in Entra: unassigned, and no longer a direct member of any assigned group
    demo.admin("POST", "/sandbox-admin/entra/tenant", json={"action": "unassign", "user": person})
    for gid in groups:
        demo.admin("POST", "/sandbox-admin/entra/tenant", json={"action": "remove_member", "user": person,
                                                               "group": gid})
    plain = reconcile(ctx, conn, refresh=False)
    reasons = plain.result.tables["orphans"].set_index("externalId")["reason"]
    assert reasons[person] == "not assigned to the app in Entra"
    # ... but still reached through a group nested in an assigned one (as the groups' delta would cache it)
    with ctx.store.transaction() as db:
        db.executemany("INSERT INTO entra_group_members (connection_id, group_id, member_id, member_is_group) "
                       "VALUES (?, ?, ?, ?)", [(connection_id(ctx, conn), entra.groups.iloc[0]["id"], "nested-team", 1),
                                               (connection_id(ctx, conn), "nested-team", person, 0)])
    nested = reconcile(ctx, conn, refresh=False)
    row = nested.entra.users.set_index("id").loc[person]
    assert bool(row["nested_only"]) and not bool(row["in_scope"])
    assert person not in set(nested.entra.members["user_id"]) and person in set(nested.entra.nested["user_id"])
    reasons = nested.result.tables["orphans"].set_index("externalId")["reason"]
    assert reasons[person].startswith("only in a group nested in an assigned group")
    assert any("nested in an assigned group" in w for w in nested.result.warnings)
    assert nested.result.counts()["orphans"] == plain.result.counts()["orphans"] == first.result.counts()["orphans"] + 1


def test_a_tenant_assigned_by_group_reconciles_the_same(own_demo):
    """Large tenants assign the app to groups: people are in scope as direct members of an assigned group, and
    ``appRoleAssignedTo`` lists the groups. The same people are then in scope, and every category is the same."""
    ctx, demo = own_demo
    conn = _conn(ctx)
    first = reconcile(ctx, conn)
    [moved] = demo.admin("POST", "/sandbox-admin/entra/tenant", json={"action": "assign_by_group"})["results"]
    assert moved["users"] > 50
    second = reconcile(ctx, conn, refresh=False)
    assert second.entra.in_scope == first.entra.in_scope
    assert second.result.counts() == first.result.counts()


def test_an_expired_delta_link_means_a_full_read_not_a_failed_run(ctx, demo):
    """Microsoft Graph forgets a delta link after about seven days (400): the next run reads Entra in full, says
    so, and stores fresh links; it neither fails nor reports people as gone."""
    from console.connections import connection_id

    conn = _conn(ctx)
    first = reconcile(ctx, conn)
    cid = connection_id(ctx, conn)
    for table in ("entra_delta", "entra_groups_delta"):
        link = ctx.store.query_one(f"SELECT delta_link FROM {table} WHERE connection_id = ?", (cid,))["delta_link"]
        ctx.store.execute(f"UPDATE {table} SET delta_link = ? WHERE connection_id = ?",
                          (link.split("$deltatoken=")[0] + "$deltatoken=expired-long-ago", cid))
    second = reconcile(ctx, conn, refresh=False)
    assert second.mode == "full" and second.result.counts() == first.result.counts()
    assert any("read in full this time" in w for w in second.result.warnings)
    third = reconcile(ctx, conn, refresh=False)  # the fresh links work again
    assert third.mode == "delta" and not any("read in full" in w for w in third.result.warnings)
