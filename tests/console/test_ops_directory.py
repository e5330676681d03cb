"""After a change, the directory snapshot shows it at once: the operations re-read the people and groups they
touched (reusing their read-backs) and derive a snapshot from the latest one (``patch_snapshot``), so the pages,
the change events and a person's History show the new state without a full refresh. Against a real sandbox."""

from __future__ import annotations

import json
import time

import pytest

from console.directory.events import list_events, user_history
from console.directory.store import latest_snapshot
from console.operations import execute, plan, retry_failed, undo_plan
from console.operations.audit import get_action
from tests.console._ops_helpers import connect, groups, make_ctx, scim, users
from tests.sandbox_fixture import start_sandbox


@pytest.fixture(scope="module")
def box():
    sb = start_sandbox(seed_users=60, seed_groups=5, seed=21)
    try:
        yield sb
    finally:
        sb.cleanup()


@pytest.fixture
def ctx(tmp_path):
    return make_ctx(tmp_path / "home")


def requests_since(box, mark: int) -> list[dict]:
    lines = (box.data_dir / "requests.log").read_bytes().splitlines()
    return [json.loads(line) for line in lines[mark:]]


def log_mark(box) -> int:
    """The log's length once the sandbox has written every earlier request: it writes a request's line after
    sending the answer, so the last lines of the listing before may still be on their way."""
    def length() -> int:
        return len((box.data_dir / "requests.log").read_bytes().splitlines())

    last, quiet = length(), 0
    while quiet < 3:
        time.sleep(0.1)
        now = length()
        quiet, last = (quiet + 1, now) if now == last else (0, now)
    return last


def listings(requests: list[dict]) -> list[dict]:
    """Requests that list a collection without a filter (what a full refresh does)."""
    return [r for r in requests if r.get("method") == "GET" and r.get("path", "").rstrip("/").lower()
            in ("/scim/users", "/scim/groups") and "filter" not in (r.get("query") or "")]


def active_ids(sandbox, n: int, *, skip: int = 0) -> list[str]:
    return sorted(u.id for u in users(sandbox).values() if u.active)[skip:skip + n]


def test_deactivate_shows_inactive_in_a_derived_snapshot_without_a_listing(box, ctx):
    conn = connect(ctx, box, snapshot=True)
    before = latest_snapshot(ctx, conn)
    ids = active_ids(box, 2)
    mark = log_mark(box)
    result = execute(ctx, conn, plan(ctx, conn, "deactivate", ids), "leavers", "op")
    assert result.ok and result.directory_updated is True
    snap = latest_snapshot(ctx, conn)
    assert snap.id != before.id and snap.based_on == before.id and snap.note == f"after action {result.batch_id}"
    shown = snap.users.set_index("id")
    assert not shown.loc[ids, "active"].any()
    assert snap.active_users == before.active_users - 2 and snap.user_count == before.user_count
    events = list_events(ctx, conn)
    assert sorted(events["subject_id"]) == sorted(ids) and set(events["kind"]) == {"user_deactivated"}
    assert list(user_history(ctx, conn, ids[0])["kind"]) == ["user_deactivated"]
    # the read-backs were reused: no listing, and no user read after the bulk read-back
    sent = requests_since(box, mark)
    assert not listings(sent)
    readback = max(i for i, r in enumerate(sent) if "filter" in (r.get("query") or ""))
    assert not [r for r in sent[readback + 1:] if r.get("method") == "GET"]
    event = next(e for e in get_action(ctx, result.batch_id).events if e.event == "directory_updated")
    assert f"snapshot {snap.id}" in event.detail and "2 change(s) recorded" in event.detail
    # the undo derives again: active once more, and both changes are in the history
    back = execute(ctx, conn, undo_plan(ctx, conn, result.batch_id), "wrong people", "op")
    assert back.ok and back.directory_updated
    again = latest_snapshot(ctx, conn)
    assert again.based_on == snap.id and again.users.set_index("id").loc[ids, "active"].all()
    assert list(user_history(ctx, conn, ids[0])["kind"]) == ["user_reactivated", "user_deactivated"]


def test_a_move_shows_the_new_groups_and_the_undo_the_old_ones(box, ctx):
    conn = connect(ctx, box, snapshot=True)
    g = sorted(groups(box).values(), key=lambda x: -len(x.member_ids or []))
    src, dst = g[0], g[1]
    movers = sorted(set(src.member_ids or []) - set(dst.member_ids or []))[:2]
    assert len(movers) == 2
    mark = log_mark(box)
    result = execute(ctx, conn, plan(ctx, conn, "move", movers, from_group=src.id, to_group=dst.id), "reorg", "op")
    assert result.ok and result.directory_updated
    snap = latest_snapshot(ctx, conn)
    m = snap.memberships
    assert set(movers) <= set(m.loc[m["group_id"] == dst.id, "user_id"])
    assert not set(movers) & set(m.loc[m["group_id"] == src.id, "user_id"])
    with scim(box) as c:
        server_src = set(c.get_group(src.id, members=True).member_ids or [])
    assert set(m.loc[m["group_id"] == src.id, "user_id"]) == server_src
    counts = snap.groups.set_index("id")["member_count"]
    assert counts[src.id] == len(server_src)
    ev = list_events(ctx, conn)
    assert set(zip(ev["kind"], ev["subject_id"], ev["related_id"], strict=True)) == (
        {("member_added", dst.id, u) for u in movers} | {("member_removed", src.id, u) for u in movers})
    assert not listings(requests_since(box, mark))
    back = execute(ctx, conn, undo_plan(ctx, conn, result.batch_id), "undo the move", "op")
    assert back.ok
    m = latest_snapshot(ctx, conn).memberships
    assert set(movers) <= set(m.loc[m["group_id"] == src.id, "user_id"])
    assert not set(movers) & set(m.loc[m["group_id"] == dst.id, "user_id"])


def test_retry_after_failures_updates_the_directory_too(box, ctx):
    conn = connect(ctx, box, snapshot=True)
    ids = active_ids(box, 3, skip=10)
    box.set_faults(rate_500=1.0, paths=f"/Users/{ids[0]}$")
    try:
        first = execute(ctx, conn, plan(ctx, conn, "deactivate", ids), "leavers", "op")
    finally:
        box.clear_faults()
    assert first.counts["failed"] == 1
    shown = latest_snapshot(ctx, conn).users.set_index("id")
    assert bool(shown.loc[ids[0], "active"]) and not shown.loc[ids[1:], "active"].any()
    again = retry_failed(ctx, conn, first.batch_id, "op")
    assert again.ok and again.directory_updated
    assert not latest_snapshot(ctx, conn).users.set_index("id").loc[ids, "active"].any()
    with scim(box) as c:                      # leave the sandbox as it was for the other tests
        for uid in ids:
            c.set_active(uid, True)


def test_a_person_deleted_after_the_preview_leaves_the_snapshot(box, ctx):
    conn = connect(ctx, box, snapshot=True)
    with scim(box) as c:
        doomed = c.create_user("doomed.person@example.org", given_name="Doomed", family_name="Person")
    from console.directory.take import take_snapshot

    take_snapshot(ctx, conn)
    keep = active_ids(box, 1, skip=20)
    p = plan(ctx, conn, "deactivate", [doomed.id, *keep])
    with scim(box) as c:
        c.delete_user(doomed.id)
    result = execute(ctx, conn, p, "leavers", "op")
    assert result.counts["failed"] == 1 and result.directory_updated
    snap = latest_snapshot(ctx, conn)
    assert doomed.id not in set(snap.users["id"])
    assert "user_deleted" in set(list_events(ctx, conn, subject_id=doomed.id)["kind"])
    with scim(box) as c:
        c.set_active(keep[0], True)


def test_without_a_snapshot_nothing_is_derived(box, ctx):
    conn = connect(ctx, box, snapshot=False)
    ids = active_ids(box, 1, skip=30)
    result = execute(ctx, conn, plan(ctx, conn, "deactivate", ids), "leaver", "op")
    assert result.ok and result.directory_updated is None
    assert latest_snapshot(ctx, conn) is None
    with scim(box) as c:
        c.set_active(ids[0], True)


def test_a_view_that_cannot_be_updated_never_fails_the_change(box, ctx):
    conn = connect(ctx, box, snapshot=True)
    before = latest_snapshot(ctx, conn)
    ids = active_ids(box, 1, skip=40)
    p = plan(ctx, conn, "deactivate", ids)
    (before.path / "users.parquet").write_bytes(b"damaged")   # e.g. a disk error after the preview
    result = execute(ctx, conn, p, "leaver", "op")
    assert result.ok and result.directory_updated is False
    assert not users(box)[ids[0]].active
    assert "refresh it to see the new state" in result.summary()
    assert latest_snapshot(ctx, conn).id == before.id
    with scim(box) as c:
        c.set_active(ids[0], True)


def test_the_command_line_updates_the_snapshot_too(sandbox_factory, tmp_path, monkeypatch):
    from tests.console._ops_helpers import cli_env, cryptfile_ctx, run_cli

    sb = sandbox_factory(seed_users=20, seed_groups=3, seed=4)
    home, keyfile = tmp_path / "home", tmp_path / "keyring.cfg"
    ctx = cryptfile_ctx(home, keyfile, monkeypatch)
    conn = connect(ctx, sb, "T", snapshot=True)
    before = latest_snapshot(ctx, conn)
    name = sorted(u.user_name for u in users(sb).values() if u.active)[0]
    out = run_cli(["users", "deactivate", name, "--reason", "left", "--yes"], cli_env(home, keyfile))
    assert out.returncode == 0, out.stderr
    snap = latest_snapshot(ctx, conn)
    assert snap.based_on == before.id
    assert f"The directory snapshot shows the new state (snapshot {snap.id}:" in out.stdout
    row = snap.users.set_index("userName").loc[name]
    assert not bool(row["active"])
