"""Read-back verification of manual operations, against the sandbox, python-scim's stock scim2-server and the odd
servers of tests/odd_servers.py: membership changes either succeed exactly, or stop with the collateral loss
restored (verified) and reported in the journal and the audit log; ``active`` that the server did not apply
fails the item; a resumed crashed run records ``interrupted``."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from console.connections import Connection, ConnectionRepo
from console.operations import (
    abandon,
    execute,
    journal,
    plan,
    resume,
    retry_failed,
    undo_plan,
    unfinished_batches,
)
from console.operations.audit import get_action, list_actions
from console.tokens.service import TokenService
from tests.console._ops_helpers import connect, db_text, groups, make_ctx, members, scim
from tests.odd_servers import make_token, odd_server


@pytest.fixture
def ctx(tmp_path):
    return make_ctx(tmp_path / "home")


def names_of(srv, ids) -> list[str]:
    return [srv.users[u]["userName"] for u in ids]


def events(ctx, action_id) -> list[str]:
    return [e.event for e in get_action(ctx, action_id).events]


def no_write_carries_attributes(srv) -> bool:
    return all(not {k.lower() for k in w["query"]} & {"attributes", "excludedattributes"} for w in srv.writes())


# -- changes that succeed exactly ----------------------------------------------------------------------------


def test_sandbox_membership_and_activation_are_verified_exactly(sandbox_factory, ctx):
    sb = sandbox_factory(seed_users=50, seed_groups=4, seed=12)
    conn = connect(ctx, sb)
    g = sorted(groups(sb).values(), key=lambda x: -len(x.member_ids or []))
    src, dst = g[0], g[1]
    src_before, dst_before = members(sb, src.id), members(sb, dst.id)
    movers = sorted(src_before - dst_before)[:6]
    assert len(movers) >= 3
    res = execute(ctx, conn, plan(ctx, conn, "move", movers, from_group=src.id, to_group=dst.id), "reorg", "op")
    assert res.ok and res.counts["done"] == len(movers) and not res.defects
    assert members(sb, src.id) == src_before - set(movers)               # exactly: nobody else lost
    assert members(sb, dst.id) == dst_before | set(movers)
    action = get_action(ctx, res.batch_id)
    verified = next(e for e in action.events if e.event == "verified")
    assert f"{2 * len(movers)} change(s) confirmed" in verified.detail and "nobody else lost" in verified.detail
    assert action.outcome == "success" and action.defects == []
    with scim(sb) as c:
        actives = sorted(u.id for u in c.list_users() if u.active)[:4]
    res = execute(ctx, conn, plan(ctx, conn, "deactivate", actives), "leavers", "op")
    assert res.ok and "4 change(s) confirmed" in next(e.detail for e in get_action(ctx, res.batch_id).events
                                                       if e.event == "verified")


def test_read_modify_write_server_keeps_every_member(ctx):
    """The server that wipes a group when a PATCH carries excludedAttributes=members: 10 + 2 = 12, 12 - 1 = 11."""
    with odd_server(users=20, groups=[("Finance", list(range(10))), ("Audit", [12, 13])],
                    rmw_projection=True) as srv:
        conn = connect(ctx, srv)
        fin = srv.group_id("Finance")
        before = srv.member_ids(fin)
        newcomers = sorted(set(srv.users) - before - srv.member_ids(srv.group_id("Audit")))[:2]
        res = execute(ctx, conn, plan(ctx, conn, "add", names_of(srv, newcomers), group="Finance"), "join", "op")
        assert res.ok and srv.member_ids(fin) == before | set(newcomers)
        leaver = sorted(before)[0]
        res = execute(ctx, conn, plan(ctx, conn, "remove", [leaver], group="Finance"), "leave", "op")
        assert res.ok and srv.member_ids(fin) == (before | set(newcomers)) - {leaver}
        res = execute(ctx, conn, plan(ctx, conn, "move", newcomers, from_group="Finance", to_group="Audit"), "mv", "op")
        assert res.ok and srv.member_ids(srv.group_id("Audit")) >= set(newcomers)
        assert srv.member_ids(fin) == before - {leaver}
        assert no_write_carries_attributes(srv)
        assert all(a.outcome == "success" for a in list_actions(ctx))


@pytest.mark.parametrize("answer", ["empty", "none", "junk"])
def test_servers_answering_writes_without_the_resource(ctx, answer):
    with odd_server(users=16, groups=[("A", [0, 1, 2, 3]), ("B", [4, 5])], write_answer=answer) as srv:
        conn = connect(ctx, srv)
        a, b = srv.group_id("A"), srv.group_id("B")
        a0, b0 = srv.member_ids(a), srv.member_ids(b)
        active = sorted(u for u, d in srv.users.items() if d["active"] and u not in a0 | b0)[:2]
        res = execute(ctx, conn, plan(ctx, conn, "deactivate", names_of(srv, active)), "leavers", "op")
        assert res.ok and all(srv.users[u]["active"] is False for u in active)
        res = execute(ctx, conn, plan(ctx, conn, "add", names_of(srv, active), group="A"), "join", "op")
        assert res.ok and srv.member_ids(a) == a0 | set(active)
        res = execute(ctx, conn, plan(ctx, conn, "move", names_of(srv, active[:1]), from_group="A", to_group="B"),
                      "mv", "op")
        assert res.ok and srv.member_ids(a) == a0 | set(active[1:]) and srv.member_ids(b) == b0 | set(active[:1])
        res = execute(ctx, conn, plan(ctx, conn, "reactivate", names_of(srv, active)), "back", "op")
        assert res.ok and all(srv.users[u]["active"] is True for u in active)
        assert all(a.outcome == "success" and not a.defects for a in map(lambda x: get_action(ctx, x.id),
                                                                          list_actions(ctx)))


# -- collateral loss: stop, restore, report ------------------------------------------------------------------


def test_sloppy_add_is_caught_after_one_write_restored_and_reported(ctx, tmp_path):
    with odd_server(users=16, groups=[("Finance", list(range(10)))], sloppy_add=True) as srv:
        conn = connect(ctx, srv)
        fin = srv.group_id("Finance")
        before = srv.member_ids(fin)
        newcomers = sorted(set(srv.users) - before)[:3]
        p = plan(ctx, conn, "add", names_of(srv, newcomers), group="Finance")
        res = execute(ctx, conn, p, "project team", "op")
        # stopped after the canary: one person added, nobody lost
        assert res.state == "stopped" and res.counts["done"] == 1 and res.counts["pending"] == 2
        first = next(i.user_id for i in res.items if i.state == "done")
        assert srv.member_ids(fin) == before | {first}
        [defect] = res.defects
        assert defect.restored and defect.lost == 10 and defect.still_missing == 0 and defect.target_id == fin
        assert "vanished" in defect.summary and "Finance" in defect.summary
        report = defect.report
        assert "SERVER DEFECT" in report and f"request: PATCH Groups/{fin}" in report
        assert f'"value":"{first}"' in report and "answer:  HTTP 200" in report          # the request and answer
        assert "Before this action: 10 member(s)" in report and "1 member(s)" in report
        assert "add the whole member list in one request: 0 still missing" in report and "Do not resume" in report
        assert "person000@odd.example" in report                                       # who, by name and id
        assert "Server defect" in res.stop_reason and "Do not resume" in res.stop_remedy
        assert str(res.batch_id) in res.stop_remedy
        # the audit log and the journal say the same
        action = get_action(ctx, res.batch_id)
        assert action.outcome == "defect" and action.defects[0].report == report
        assert sorted(action.defects[0].lost) == sorted(before) and action.defects[0].still_missing == []
        assert events(ctx, res.batch_id) == ["journaled", "started", "server_defect", "restored", "verified",
                                             "stopped"]
        assert [a.id for a in list_actions(ctx, outcome="defect")] == [res.batch_id]
        assert len(action.undo_recipe()["items"]) == 1                    # only the one change that was made
        [u] = unfinished_batches(ctx, conn)
        assert u.batch_id == res.batch_id and u.counts["pending"] == 2
        text = db_text(ctx.data_dir)
        assert srv.token() not in text and srv.api_key not in text and srv.token().split(".")[1] not in text
        assert len(report) <= 13000


def test_a_restore_that_cannot_read_the_group_sends_nothing_and_says_so(ctx):
    """Group reads fail right after the one that showed the loss: no blind write, the report names who is missing."""
    with odd_server(users=14, groups=[("Finance", list(range(6)))], sloppy_add=True, group_reads_left=2) as srv:
        conn = connect(ctx, srv)
        fin = srv.group_id("Finance")
        newcomers = sorted(set(srv.users) - srv.member_ids(fin))[:2]
        res = execute(ctx, conn, plan(ctx, conn, "add", names_of(srv, newcomers), group="Finance"), "t", "op")
        [defect] = res.defects
        assert res.state == "stopped" and not defect.restored and defect.still_missing == 6
        assert "could NOT be put back" in defect.summary and "nothing was sent to restore it" in defect.report
        assert "add them back by hand" in defect.report and "person000@odd.example" in defect.report
        assert len(srv.member_ids(fin)) == 1                     # still wiped: nothing blind was sent
        assert events(ctx, res.batch_id)[2:4] == ["server_defect", "restore_failed"]


def test_sloppy_add_into_the_target_of_a_move_is_restored(ctx):
    with odd_server(users=16, groups=[("From", [0, 1, 2, 3]), ("To", [4, 5, 6, 7, 8])], sloppy_add=True) as srv:
        conn = connect(ctx, srv)
        src, dst = srv.group_id("From"), srv.group_id("To")
        s0, d0 = srv.member_ids(src), srv.member_ids(dst)
        movers = sorted(s0)[:3]
        res = execute(ctx, conn, plan(ctx, conn, "move", names_of(srv, movers), from_group="From", to_group="To"),
                      "reorg", "op")
        assert res.state == "stopped" and res.counts["done"] == 1
        moved = next(i.user_id for i in res.items if i.state == "done")
        assert srv.member_ids(dst) == d0 | {moved}                       # the 5 who vanished are back
        assert srv.member_ids(src) == s0 - {moved}                       # the move itself completed
        [defect] = res.defects
        assert defect.target_id == dst and defect.lost == 5 and defect.restored


def test_collateral_at_full_concurrency_is_restored_including_earlier_adds(ctx):
    """The server turns sloppy after the canary: losses are seen by a later read-back; the batch stops, and both
    the old members and the people this action had added are back."""
    with odd_server(users=90, groups=[("Big", list(range(20)))]) as srv:
        conn = connect(ctx, srv)
        big = srv.group_id("Big")
        before = srv.member_ids(big)
        newcomers = sorted(set(srv.users) - before)[:60]
        p = plan(ctx, conn, "add", names_of(srv, newcomers), group="Big")

        def turn_sloppy(done: int, total: int) -> None:
            if done >= 12:
                srv.sloppy_add = True

        res = execute(ctx, conn, p, "bulk", "op", concurrency=8, progress=turn_sloppy)
        assert res.state == "stopped" and res.defects and all(d.restored for d in res.defects)
        added = {i.user_id for i in res.items if i.state == "done"}
        assert len(added) >= 12
        assert srv.member_ids(big) == before | added                     # nobody lost, nobody extra
        failed = [i for i in res.items if i.state == "failed"]
        assert failed == []
        assert get_action(ctx, res.batch_id).outcome == "defect"


# -- changes the server said it made and did not ------------------------------------------------------------


def test_removes_the_server_ignored_fail_their_items(ctx):
    with odd_server(users=12, groups=[("Team", [0, 1, 2, 3, 4]), ("Other", [5])], ignore_removes=True) as srv:
        conn = connect(ctx, srv)
        team = srv.group_id("Team")
        before = srv.member_ids(team)
        leavers = sorted(before)[:2]
        res = execute(ctx, conn, plan(ctx, conn, "remove", names_of(srv, leavers), group="Team"), "cleanup", "op")
        assert res.counts["failed"] == 2 and not res.defects
        for item in res.items:
            assert item.outcome == "not_applied"
            assert "answered success but did not apply the change" in item.error
            assert "still a member of Team" in item.error and item.remedy
        assert srv.member_ids(team) == before
        assert get_action(ctx, res.batch_id).undo_recipe()["items"] == []          # nothing happened: nothing to undo
        # a move whose remove is ignored leaves the person in both, and says so
        mover = sorted(before)[3]
        res = execute(ctx, conn, plan(ctx, conn, "move", names_of(srv, [mover]), from_group="Team",
                                      to_group="Other"), "mv", "op")
        [item] = res.items
        assert item.state == "failed" and item.outcome == "partial" and "in both" in item.note
        assert mover in srv.member_ids(srv.group_id("Other")) and mover in srv.member_ids(team)
        assert [c["op"] for c in get_action(ctx, res.batch_id).items[0].changes] == ["add"]


@pytest.mark.parametrize("echo,id_filter", [(False, True), (True, True), (True, False)],
                         ids=["answer-shows-it", "answer-lies", "answer-lies-no-id-filter"])
def test_active_the_server_ignored_fails_the_item(ctx, echo, id_filter):
    with odd_server(users=10, ignore_active=True, echo_active=echo, no_id_filter=not id_filter) as srv:
        conn = connect(ctx, srv)
        targets = sorted(u for u, d in srv.users.items() if d["active"])[:3]
        res = execute(ctx, conn, plan(ctx, conn, "deactivate", names_of(srv, targets)), "leavers", "op")
        assert res.counts["failed"] == 3 and res.state == "completed" and not res.defects
        for item in res.items:
            assert item.outcome == "not_applied"
            assert "answered success but did not apply the change" in item.error and "still active" in item.error
        assert all(srv.users[u]["active"] for u in targets)
        action = get_action(ctx, res.batch_id)
        assert action.outcome == "failed" and action.undo_recipe()["items"] == []
        if echo:   # only the read-back could tell
            assert "3 not applied" in next(e.detail for e in action.events if e.event == "verified")
        # retry once the server is fixed: the items are retryable
        srv.ignore_active = False
        res = retry_failed(ctx, conn, res.batch_id, "op")
        assert res.ok and all(not srv.users[u]["active"] for u in targets)
        assert len(undo_plan(ctx, conn, res.batch_id).to_change) == 3


def test_read_backs_that_fail_are_said_not_hidden(ctx):
    with odd_server(users=12, groups=[("Team", [0, 1, 2])]) as srv:
        conn = connect(ctx, srv)
        team = srv.group_id("Team")
        newcomers = sorted(set(srv.users) - srv.member_ids(team))[:3]

        def break_reads(done: int, total: int) -> None:
            if done >= 1:
                srv.fail_group_reads = True

        res = execute(ctx, conn, plan(ctx, conn, "add", names_of(srv, newcomers), group="Team"), "team", "op",
                      progress=break_reads)
        assert res.counts["done"] == 3 and res.state == "completed" and not res.defects
        assert res.unverified and "500" in res.unverified
        assert "could not be read back to verify them" in res.summary() and "check them in 6clicks" in res.summary()
        assert srv.member_ids(team) >= set(newcomers)


# -- the stock server ----------------------------------------------------------------------------------------


@pytest.fixture
def stock(tmp_path):
    from tests.scim_client.conftest import _scim2_server_bin
    from tests.scim_client.peers import free_port

    port = free_port()
    proc = subprocess.Popen([_scim2_server_bin(), "--hostname", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(base + "/v2/ServiceProviderConfig", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "scim2-server did not start"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_operations_on_the_stock_server_are_exact(ctx, stock):
    from scim_client import ScimClient

    token = make_token()
    with ScimClient(stock + "/v2", token=token) as c:
        people = [c.create_user(f"s{i}@stock.example", email=f"s{i}@stock.example") for i in range(14)]
        ids = [u.id for u in people]
        a = c.create_group("Stock A", member_ids=ids[:8])
        b = c.create_group("Stock B", member_ids=ids[8:10])
    conn = ConnectionRepo(ctx).add(Connection(name="Stock", api_url=stock, scim_url=stock + "/v2",
                                              auth_mode="static-token"))
    TokenService(ctx).import_token("Stock", token)
    res = execute(ctx, conn, plan(ctx, conn, "add", ids[10:12], group="Stock A"), "join", "op")
    assert res.ok and not res.defects
    res = execute(ctx, conn, plan(ctx, conn, "remove", ids[:2], group="Stock A"), "leave", "op")   # filter path
    assert res.ok
    res = execute(ctx, conn, plan(ctx, conn, "move", ids[2:4], from_group="Stock A", to_group="Stock B"), "mv", "op")
    assert res.ok
    res = execute(ctx, conn, plan(ctx, conn, "deactivate", ids[12:14]), "leavers", "op")
    assert res.ok
    with ScimClient(stock + "/v2", token=token) as c:
        assert sorted(c.get_group(a.id).member_ids) == sorted(set(ids[:12]) - set(ids[8:10]) - set(ids[:4]))
        assert sorted(c.get_group(b.id).member_ids) == sorted(ids[2:4] + ids[8:10])
        assert [c.get_user(i).active for i in ids[12:14]] == [False, False]
    assert all(get_action(ctx, x.id).outcome == "success" for x in list_actions(ctx))


# -- interrupted ---------------------------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _crash(ctx, batch_id: int) -> None:
    """What a killed process leaves: the batch ``running`` under a pid that is gone, one item ``running``."""
    journal.claim(ctx.store, batch_id, "op", "started")
    first = journal.items(ctx.store, batch_id, ("pending",))[0]["seq"]
    journal.mark_running(ctx.store, batch_id, first)
    with ctx.store.transaction() as db:
        db.execute("UPDATE op_batches SET owner_pid=? WHERE id=?", (_dead_pid(), batch_id))


def test_a_resumed_crashed_run_records_interrupted_then_resumed(sandbox_factory, ctx):
    sb = sandbox_factory(seed_users=30, seed_groups=2, seed=4)
    conn = connect(ctx, sb)
    with scim(sb) as c:
        ids = sorted(u.id for u in c.list_users() if u.active)[:4]
    p = plan(ctx, conn, "deactivate", ids)
    batch_id = journal.create_batch(ctx.store, p, reason="crash test", operator="op", source="api", concurrency=2)
    _crash(ctx, batch_id)
    [u] = unfinished_batches(ctx, conn)
    assert u.state == "interrupted"
    res = resume(ctx, conn, batch_id, "someone-else")
    assert res.ok and res.counts["done"] == 4
    action = get_action(ctx, batch_id)
    assert [e.event for e in action.events] == ["journaled", "started", "interrupted", "resumed", "verified",
                                                "finished"]
    interrupted = action.events[2]
    assert interrupted.operator == "op" and "stopped without finishing" in interrupted.detail
    assert "1 item(s) were in flight" in interrupted.detail and "3 not started" in interrupted.detail
    # abandoning a crashed run records it too
    p = plan(ctx, conn, "reactivate", ids[:2])
    batch_id = journal.create_batch(ctx.store, p, reason="crash 2", operator="op", source="api", concurrency=2)
    _crash(ctx, batch_id)
    abandon(ctx, batch_id, "op", "not needed")
    assert events(ctx, batch_id) == ["journaled", "started", "interrupted", "abandoned"]
    assert os.getpid()  # the test process itself never owned the crashed runs


# -- another console action writing the same group at the same time -------------------------------------------


class _Meddler:
    """The run's client, plus another writer: right after the run's first removal, ``others`` are removed from
    ``group`` by a second client (as a concurrent operator's action would)."""

    def __init__(self, inner, sandbox, group: str, others: list[str]) -> None:
        self._inner, self._sandbox, self._group, self._others = inner, sandbox, group, others
        self.done = False

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _meddle(self) -> None:
        if not self.done:
            self.done = True
            with scim(self._sandbox) as c:
                c.remove_members(self._group, self._others)

    def remove_members(self, *a, **kw):
        out = self._inner.remove_members(*a, **kw)
        self._meddle()
        return out


@pytest.mark.parametrize("journaled", [True, False])
def test_members_another_action_removes_meanwhile_are_not_a_server_defect(sandbox_factory, ctx, journaled):
    """Two operators move different people out of the same group at once: the other action's removals (known from
    the journal) are not "lost members" and are never put back; the same removal by an unknown writer still is."""
    sb = sandbox_factory(seed_users=40, seed_groups=3, seed=21)
    conn = connect(ctx, sb)
    with scim(sb) as c:
        people = sorted(u.id for u in c.list_users() if u.active)[:12]
        src = c.create_group("Shared source")
        c.add_members(src.id, people)
        ga, gb = c.create_group("Target A"), c.create_group("Target B")
    mine, theirs = people[:6], people[6:]
    if journaled:
        journal.create_batch(ctx.store, plan(ctx, conn, "move", theirs, from_group=src.id, to_group=gb.id),
                             reason="the other operator", operator="other", source="cli", concurrency=4)
    from console.tokens.service import TokenService

    with TokenService(ctx).scim_client(conn.name) as inner:
        meddler = _Meddler(inner, sb, src.id, theirs)
        res = execute(ctx, conn, plan(ctx, conn, "move", mine, from_group=src.id, to_group=ga.id), "reorg", "op",
                      client=meddler)
    assert meddler.done
    if journaled:
        assert res.ok and res.counts["done"] == 6 and not res.defects
        assert members(sb, src.id) == set()                      # nobody put back into the source
        assert members(sb, ga.id) == set(mine)
        assert "nobody else lost" in next(e.detail for e in get_action(ctx, res.batch_id).events
                                          if e.event == "verified")
    else:
        assert res.state == "stopped" and res.defects and res.defects[0].target_id == src.id
        assert set(theirs) <= members(sb, src.id)                # an unexplained loss is still restored
