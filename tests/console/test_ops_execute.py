"""Operations against a real sandbox over HTTP: execution, faults and retries, 403/404/401, reassign with the
remove step failing, undo of every kind, abandon, and reverted-change detection."""

from __future__ import annotations

import pytest

from console.errors import ConsoleError, InvalidInput
from console.operations import (
    abandon,
    execute,
    plan,
    resume,
    retry_failed,
    undo_plan,
    unfinished_batches,
)
from console.operations.audit import find_reverted, get_action, list_actions
from tests.console._ops_helpers import connect, groups, make_ctx, members, scim, users
from tests.odd_servers import odd_server
from tests.sandbox_fixture import start_sandbox


@pytest.fixture(scope="module")
def box():
    sb = start_sandbox(seed_users=80, seed_groups=6, seed=11)
    try:
        yield sb
    finally:
        sb.cleanup()


@pytest.fixture
def ctx(tmp_path):
    return make_ctx(tmp_path / "home")


def active_ids(sandbox, n: int, *, skip: int = 0) -> list[str]:
    found = sorted(u.id for u in users(sandbox).values() if u.active)
    return found[skip:skip + n]


def test_deactivate_reactivate_and_undo_both(box, ctx):
    conn = connect(ctx, box)
    ids = active_ids(box, 3)
    names = [users(box)[i].user_name for i in ids]
    p = plan(ctx, conn, "deactivate", names)
    assert p.count == 3
    result = execute(ctx, conn, p, "leavers, ticket 1", "alice@corp.example", concurrency=2)
    assert result.ok and result.counts["done"] == 3
    assert all(not users(box)[i].active for i in ids)
    action = get_action(ctx, result.batch_id)
    assert action.operator == "alice@corp.example" and action.reason == "leavers, ticket 1"
    assert {i.outcome for i in action.items} == {"changed"}
    assert action.undo_recipe()["kind"] == "reactivate" and len(action.undo_recipe()["items"]) == 3

    undo = undo_plan(ctx, conn, result.batch_id)
    assert undo.undo_of == result.batch_id and undo.kind == "reactivate" and undo.count == 3
    back = execute(ctx, conn, undo, "wrong people", "alice@corp.example")
    assert back.ok and all(users(box)[i].active for i in ids)
    assert get_action(ctx, result.batch_id).undone_by == [back.batch_id]

    # someone else deactivates one person between preview and execution: "already done", not an error
    p = plan(ctx, conn, "deactivate", ids)
    with scim(box) as c:
        c.set_active(ids[1], False)
    res = execute(ctx, conn, p, "leavers again", "bob")
    outcomes = {i.user_id: i.outcome for i in res.items}
    assert outcomes == {ids[0]: "changed", ids[1]: "already", ids[2]: "changed"} and res.ok
    undo = undo_plan(ctx, conn, res.batch_id)
    assert {i.user_id for i in undo.to_change} == {ids[0], ids[2]}          # exactly the ones that changed
    execute(ctx, conn, undo, "undo", "bob")
    assert users(box)[ids[0]].active and not users(box)[ids[1]].active

    # reactivate -> undo is a deactivate of that person
    res = execute(ctx, conn, plan(ctx, conn, "reactivate", [ids[1]]), "back from leave", "bob")
    assert res.ok and users(box)[ids[1]].active
    undo = undo_plan(ctx, conn, res.batch_id)
    assert undo.kind == "deactivate" and [i.user_id for i in undo.to_change] == [ids[1]]
    execute(ctx, conn, undo, "undo", "bob")
    assert not users(box)[ids[1]].active


def test_add_remove_and_their_undo(box, ctx):
    conn = connect(ctx, box)
    g = groups(box)
    target = sorted(g.values(), key=lambda x: len(x.member_ids or []))[0]
    outsiders = [u for u in users(box) if u not in set(target.member_ids or [])][:4]
    res = execute(ctx, conn, plan(ctx, conn, "add", outsiders, group=target.display_name), "project", "op")
    assert res.ok and set(outsiders) <= members(box, target.id)
    undo = undo_plan(ctx, conn, res.batch_id)
    assert undo.kind == "remove" and undo.count == 4
    execute(ctx, conn, undo, "undo add", "op")
    assert not set(outsiders) & members(box, target.id)

    res = execute(ctx, conn, plan(ctx, conn, "add", outsiders[:2], group=target.id), "again", "op")
    res = execute(ctx, conn, plan(ctx, conn, "remove", outsiders, group=target.id), "cleanup", "op")
    assert sum(1 for i in res.items if i.outcome == "changed") == 2
    assert sum(1 for i in res.items if i.state == "skipped") == 2          # not members: skipped in preview
    undo = undo_plan(ctx, conn, res.batch_id)
    assert undo.kind == "add" and {i.user_id for i in undo.to_change} == set(outsiders[:2])
    execute(ctx, conn, undo, "undo remove", "op")
    assert set(outsiders[:2]) <= members(box, target.id)


def test_move_with_the_remove_step_failing_reports_both_then_retry_and_undo(sandbox_factory, tmp_path):
    sb = sandbox_factory(seed_users=40, seed_groups=4, seed=5)
    ctx = make_ctx(tmp_path / "home")
    conn = connect(ctx, sb)
    g = sorted(groups(sb).values(), key=lambda x: -len(x.member_ids or []))
    src, dst = g[0], g[1]
    movers = sorted(set(src.member_ids or []) - set(dst.member_ids or []))[:3]
    p = plan(ctx, conn, "move", movers, from_group=src.display_name, to_group=dst.display_name)
    assert p.count == 3 and all([s["op"] for s in i.steps] == ["add", "remove"] for i in p.to_change)
    # every call on the source group is throttled: the client retries each (4 retries, its policy), then gives up
    sb.set_faults(rate_429=1.0, retry_after=0, paths=f"/Groups/{src.id}$")
    res = execute(ctx, conn, p, "reorg", "op")
    assert res.counts["failed"] == 3
    for item in res.items:
        assert item.outcome == "partial" and "in both" in (item.note or "")
        assert item.attempts == 5 and "after 5 attempts" in (item.error or ""), (item.attempts, item.error)
    sb.clear_faults()
    assert set(movers) <= members(sb, dst.id) and set(movers) <= members(sb, src.id)   # never in neither
    assert unfinished_batches(ctx, conn) == []
    action = get_action(ctx, res.batch_id)
    assert action.outcome == "failed" or action.outcome == "partial"
    # retry the failed items alone: the add is already done (live check), only the remove runs
    res = retry_failed(ctx, conn, res.batch_id, "op")
    assert res.counts["failed"] == 0 and res.counts["done"] == 3
    assert set(movers) <= members(sb, dst.id) and not set(movers) & members(sb, src.id)
    action = get_action(ctx, res.batch_id)
    assert all(len(i.changes) == 2 for i in action.items if i.state == "done")
    assert [e.event for e in action.events].count("retried") == 1
    # undo the move: back into the source (added first), then out of the target
    undo = undo_plan(ctx, conn, res.batch_id)
    assert undo.kind == "move" and undo.params["to_id"] == src.id
    assert [s["op"] for s in undo.to_change[0].steps] == ["add", "remove"]
    execute(ctx, conn, undo, "undo reorg", "op")
    assert set(movers) <= members(sb, src.id) and not set(movers) & members(sb, dst.id)


def test_bulk_deactivation_with_transient_faults_is_retried_to_completion(sandbox_factory, tmp_path):
    sb = sandbox_factory(seed_users=60, seed_groups=2, seed=9)
    ctx = make_ctx(tmp_path / "home")
    conn = connect(ctx, sb)
    ids = active_ids(sb, 40)
    p = plan(ctx, conn, "deactivate", ids)
    # transient faults (429, dropped connections) are retried by the client; a 500 fails the item, retried below
    sb.set_faults(rate_429=0.25, rate_drop=0.15, rate_500=0.1, retry_after=0, paths="/scim/Users/", seed=3)
    res = execute(ctx, conn, p, "incident 77", "op", concurrency=8)
    retried = [i for i in res.items if i.attempts > 1]
    assert retried, "with 40 % of user calls throttled or dropped, some items must have needed more than one attempt"
    rounds = 0
    while res.counts["failed"] and rounds < 6:
        assert all(i.remedy for i in res.failed) and all("retry" in (i.remedy or "").lower() for i in res.failed)
        res = retry_failed(ctx, conn, res.batch_id, "op")
        rounds += 1
    sb.clear_faults()
    assert res.counts["failed"] == 0 and res.counts["done"] == 40
    now = users(sb)
    assert all(not now[i].active for i in ids)
    action = get_action(ctx, res.batch_id)
    assert all(i.outcome in ("changed", "already") for i in action.items)
    assert sum(1 for i in action.items if i.changes) == 40   # each changed exactly once, even if "already" on a retry


def test_404_user_deleted_meanwhile_and_group_gone(box, ctx):
    conn = connect(ctx, box)
    with scim(box) as c:
        victim = c.create_user("ops-victim@corp.example", email="ops-victim@corp.example")
        other = c.create_user("ops-other@corp.example", email="ops-other@corp.example")
        temp = c.create_group("Ops Temp Group")
    p = plan(ctx, conn, "deactivate", [victim.user_name, other.user_name])
    with scim(box) as c:
        c.delete_user(victim.id)
    res = execute(ctx, conn, p, "cleanup", "op")
    by = {i.user_id: i for i in res.items}
    assert by[victim.id].state == "failed" and by[victim.id].http_status == 404
    assert "no longer exists" in by[victim.id].error and by[victim.id].remedy
    assert by[other.id].state == "done"
    p = plan(ctx, conn, "add", [other.user_name], group="Ops Temp Group")
    with scim(box) as c:
        c.delete_group(temp.id)
    res = execute(ctx, conn, p, "project", "op")
    assert res.items[0].state == "failed" and "no longer exists" in res.items[0].error
    # and at preview time, a group that is gone is a clear error
    with pytest.raises(InvalidInput, match="does not exist"):
        plan(ctx, conn, "add", [other.user_name], group="Ops Temp Group")


def test_403_names_the_missing_permission(box, ctx):
    key = "6ck_ops403_" + "a1b2c3d4e5f6"
    box.admin("POST", "/sandbox-admin/keys", json={"name": "ops403", "apiKey": key,
                                                    "permissions": ["integrations", "manage-group-members"]})
    conn = connect(ctx, box, "Limited", api_key=key)
    ids = active_ids(box, 2, skip=30)
    res = execute(ctx, conn, plan(ctx, conn, "deactivate", ids), "test", "op")
    assert res.counts["failed"] == 2
    assert all(i.http_status == 403 and "“Edit users”" in i.error for i in res.items)
    assert all(users(box)[i].active for i in ids)
    g = groups(box)
    grp = next(iter(g.values()))
    box.admin("PUT", "/sandbox-admin/keys/ops403/permissions", json={"permissions": ["integrations", "edit-users"]})
    from console.tokens.service import TokenService

    TokenService(ctx).generate("Limited")
    outsider = next(u for u in users(box) if u not in set(grp.member_ids or []))
    res = execute(ctx, conn, plan(ctx, conn, "add", [outsider], group=grp.id), "test", "op")
    assert res.items[0].http_status == 403 and "Manage group members" in res.items[0].error


def test_401_stops_the_batch_leaves_items_pending_then_resume_or_abandon(box, ctx):
    key = "6ck_ops401_" + "0f1e2d3c4b5a"
    box.admin("POST", "/sandbox-admin/keys", json={"name": "ops401", "apiKey": key})
    conn = connect(ctx, box, "Revoked", api_key=key)
    ids = active_ids(box, 12, skip=40)
    p = plan(ctx, conn, "deactivate", ids)
    box.admin("DELETE", "/sandbox-admin/keys/ops401")
    res = execute(ctx, conn, p, "incident", "op", concurrency=2)
    assert res.state == "stopped" and res.stop_reason and "401" in res.stop_reason
    assert "Connection & token" in (res.stop_remedy or "")
    assert res.counts["pending"] == 12 and res.counts["done"] == 0
    assert all(users(box)[i].active for i in ids)
    [u] = unfinished_batches(ctx, conn)
    assert u.batch_id == res.batch_id and u.state == "stopped" and not u.live
    # the key comes back (a new one is stored); resume finishes the pending items
    box.admin("POST", "/sandbox-admin/keys", json={"name": "ops401b", "apiKey": key + "b"})
    from console.tokens.service import TokenService

    TokenService(ctx).set_api_key("Revoked", key + "b")
    TokenService(ctx).generate("Revoked")
    res2 = resume(ctx, conn, res.batch_id, "op")
    assert res2.state == "completed" and res2.counts["done"] == 12
    assert all(not users(box)[i].active for i in ids)
    assert unfinished_batches(ctx, conn) == []
    # abandon: a stopped batch's pending items become skipped, and it cannot be resumed
    p3 = plan(ctx, conn, "reactivate", ids[:3])
    box.admin("DELETE", "/sandbox-admin/keys/ops401b")
    with pytest.raises(ConsoleError, match="401"):      # a live preview with a dead key: a clear error
        plan(ctx, conn, "reactivate", ids[:3])
    res3 = execute(ctx, conn, p3, "oops", "op")
    assert res3.state == "stopped"
    gone = abandon(ctx, res3.batch_id, "op", "key revoked on purpose")
    assert gone.state == "abandoned" and gone.counts["skipped"] == 3 and gone.counts["pending"] == 0
    with pytest.raises(InvalidInput, match="abandoned"):
        resume(ctx, conn, res3.batch_id, "op")
    assert get_action(ctx, res3.batch_id).outcome == "abandoned"


def test_reverted_changes_are_flagged_after_a_later_snapshot(box, ctx):
    from console.directory.take import take_snapshot

    conn = connect(ctx, box, snapshot=True)
    ids = active_ids(box, 2, skip=60)
    res = execute(ctx, conn, plan(ctx, conn, "deactivate", ids), "test revert", "op")
    assert res.ok
    action = list_actions(ctx, connection=conn.name)[0]
    find_reverted(ctx, conn, [action])
    # the snapshot derived right after the action (its people read back) shows every change holding
    assert action.reverted == []
    with scim(box) as c:                       # what Entra does at its next cycle for a still-assigned user
        c.set_active(ids[0], True)
    take_snapshot(ctx, conn)
    action = list_actions(ctx, connection=conn.name)[0]
    find_reverted(ctx, conn, [action])
    assert [r.user_id for r in action.reverted] == [ids[0]] and action.reverted[0].now == "active"
    # an undo by the console is not a "revert"
    undo = undo_plan(ctx, conn, res.batch_id)
    assert [i.user_id for i in undo.to_change] == [ids[1]]   # the snapshot shows ids[0] is already back
    execute(ctx, conn, undo, "undo", "op")
    take_snapshot(ctx, conn)
    action = get_action(ctx, res.batch_id)
    find_reverted(ctx, conn, [action])
    assert [r.user_id for r in action.reverted] == [ids[0]]   # ids[1] was undone by the console, not reverted


def test_reason_and_empty_plans_are_refused(box, ctx):
    conn = connect(ctx, box)
    ids = active_ids(box, 1)
    p = plan(ctx, conn, "deactivate", ids)
    for bad in ("", "   ", None):
        with pytest.raises(InvalidInput, match="reason is required"):
            execute(ctx, conn, p, bad, "op")
    assert list_actions(ctx) == []            # nothing journaled, nothing sent
    p = plan(ctx, conn, "reactivate", ids)
    with pytest.raises(InvalidInput, match="Nothing to change"):
        execute(ctx, conn, p, "why", "op")


def test_interrupted_run_is_journaled_then_abandoned_and_its_changes_stay_undoable(box, ctx):
    conn = connect(ctx, box)
    ids = active_ids(box, 10)
    p = plan(ctx, conn, "deactivate", ids)

    def stop_after_three(done: int, total: int) -> None:
        if done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(ctx, conn, p, "interrupted on purpose", "op", concurrency=1, progress=stop_after_three)
    [u] = unfinished_batches(ctx, conn)
    assert u.state == "stopped" and "Interrupted" in (u.stop_reason or "")
    assert u.counts["done"] == 3 and u.counts["pending"] + u.counts["running"] == 7
    gone = abandon(ctx, u.batch_id, "op", "changed my mind")
    assert gone.state == "abandoned" and gone.counts["done"] == 3
    assert unfinished_batches(ctx, conn) == []
    now = users(box)
    assert sum(1 for i in ids if not now[i].active) == 3          # exactly what the journal says was done
    action = get_action(ctx, u.batch_id)
    assert [e.event for e in action.events] == ["journaled", "started", "interrupted", "abandoned"]
    undo = undo_plan(ctx, conn, u.batch_id)                        # the 3 that changed can still be undone
    assert undo.count == 3
    execute(ctx, conn, undo, "undo the partial run", "op")
    assert all(users(box)[i].active for i in ids)


def test_audit_list_command_flags_reverted_changes(box, ctx, monkeypatch, capsys):
    from console.cli import main
    from console.directory.take import take_snapshot

    conn = connect(ctx, box, snapshot=True)
    ids = active_ids(box, 1)
    execute(ctx, conn, plan(ctx, conn, "deactivate", ids), "leaver", "op")
    with scim(box) as c:
        c.set_active(ids[0], True)
    take_snapshot(ctx, conn)
    monkeypatch.setenv("SCIM_CONSOLE_HOME", str(ctx.data_dir))
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "memory")
    assert main(["audit", "list"]) == 0
    out = capsys.readouterr().out
    assert "REVERTED for 1" in out and "leaver" in out
    assert main(["audit", "list", "--json", "--kind", "deactivate"]) == 0
    data = __import__("json").loads(capsys.readouterr().out)
    assert data[0]["reverted"][0]["user_id"] == ids[0] and data[0]["reverted"][0]["now"] == "active"


def test_a_write_the_server_keeps_refusing_reports_the_attempts_really_made(tmp_path):
    """An overloaded server (every PATCH answers 503, Retry-After: 0): the client's RetryPolicy makes its 5
    attempts, the executor adds none on top, and the item says how many were made ("after 5 attempts")."""
    ctx = make_ctx(tmp_path / "home")
    with odd_server(users=6, busy_writes=True) as srv:
        conn = connect(ctx, srv)
        ids = sorted(uid for uid, doc in srv.users.items() if doc["active"])[:2]
        res = execute(ctx, conn, plan(ctx, conn, "deactivate", ids), "leavers", "op")
        assert res.counts["failed"] == 2 and res.counts["done"] == 0
        for item in res.items:
            assert item.outcome == "busy" and item.http_status == 503, item
            assert item.attempts == 5 and "after 5 attempts" in (item.error or ""), (item.attempts, item.error)
            assert "retry" in (item.remedy or "").lower()
        patches = [r for r in srv.requests if r["method"] == "PATCH"]
        for uid in ids:  # exactly the policy's attempts per person: no retry loop on top of the client's
            assert sum(1 for r in patches if r["path"].endswith(f"/Users/{uid}")) == 5
        assert len(patches) == 10
        assert all(srv.users[uid]["active"] for uid in ids)  # nothing was changed
