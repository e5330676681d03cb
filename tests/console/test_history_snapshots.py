"""Snapshots and change history: diffs with every event kind, atomic storage, compaction, queries.

The integration tests (changes made through SCIM on a sandbox, fault injection) are in
test_history_snapshots_sandbox.py; these exercise the storage and diff logic on constructed directories."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import memory_credentials
from console.directory.diff import EVENT_KINDS, diff_frames
from console.directory.events import describe_event, group_history, list_events, user_history
from console.directory.frames import build_frames
from console.directory.store import (
    compact_snapshots,
    directory_size,
    get_snapshot,
    latest_snapshot,
    store_snapshot,
)
from console.errors import NotFoundError
from console.store import Store


@dataclass
class U:
    id: str
    user_name: str
    active: bool = True
    email: str | None = None
    given_name: str | None = "Ann"
    family_name: str | None = "Lee"
    display_name: str | None = None
    external_id: str | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    raw: dict = field(default_factory=dict)


@dataclass
class G:
    id: str
    display_name: str
    member_ids: list[str] | None = None
    external_id: str | None = None
    raw: dict = field(default_factory=dict)


@pytest.fixture
def ctx(tmp_path) -> Context:
    return Context(data_dir=tmp_path, store=Store.open(tmp_path), credentials=memory_credentials())


@pytest.fixture
def conn(ctx) -> Connection:
    return ConnectionRepo(ctx).add(Connection(name="acme", api_url="https://acme.example.com/api"))


def snap(ctx, conn, users, groups, at=None):
    frames, ur, gr = build_frames(users, groups, conn.is_role)
    return store_snapshot(ctx, conn.name, frames, ur, gr, taken_at=at)


def base_users():
    return [U("u1", "ann@x.com", email="ann@x.com", raw={"id": "u1", "userName": "ann@x.com"}),
            U("u2", "bob@x.com", email="bob@x.com"),
            U("u3", "cy@x.com", active=False),
            U("u4", "dee@x.com")]


def base_groups():
    return [G("g1", "Engineering", ["u1", "u2"]), G("g2", "Role - Auditor", ["u1"]), G("g3", "Doomed", ["u4"])]


def test_first_snapshot_is_a_baseline_without_events(ctx, conn):
    s = snap(ctx, conn, base_users(), base_groups())
    assert s.user_count == 4 and s.active_users == 3
    assert s.group_count == 2 and s.role_count == 1 and s.membership_count == 4
    assert list_events(ctx, conn).empty
    assert list(s.users.columns) == ["id", "userName", "email", "givenName", "familyName", "displayName", "active",
                                     "externalId", "created", "lastModified"]
    assert list(s.groups.columns) == ["id", "displayName", "externalId", "kind", "member_count"]
    assert set(s.groups.set_index("id")["kind"].items()) == {("g1", "group"), ("g2", "role"), ("g3", "group")}
    assert s.raw_user("u1") == {"id": "u1", "userName": "ann@x.com"}
    with pytest.raises(NotFoundError):
        s.raw_user("nobody")


def test_every_event_kind_is_recorded(ctx, conn):
    t0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
    snap(ctx, conn, base_users(), base_groups(), at=t0)
    users = base_users()
    users[0].family_name = "Lee-Smith"                 # attribute change
    users[1].active = False                            # deactivated
    users[2].active = True                             # reactivated
    del users[3]                                       # deleted (u4)
    users.append(U("u5", "eve@x.com"))                 # created
    groups = [G("g1", "Engineering & Ops", ["u1", "u5"]),          # renamed, u2 removed, u5 added
              G("g2", "Role - Auditor", ["u1", "u3"]),             # role member added
              G("g4", "Role - Admin", [])]                         # role created; g3 deleted
    s2 = snap(ctx, conn, users, groups, at=t0 + timedelta(hours=1))
    ev = list_events(ctx, conn)
    kinds = set(ev["kind"])
    assert kinds == {"user_changed", "user_deactivated", "user_reactivated", "user_deleted", "user_created",
                     "group_renamed", "member_removed", "member_added", "role_created", "group_deleted"}
    assert kinds <= set(EVENT_KINDS)
    assert s2.event_count == len(ev)
    changed = ev[ev["kind"] == "user_changed"].iloc[0]
    assert (changed["subject_id"], changed["attribute"], changed["old_value"], changed["new_value"]) == (
        "u1", "familyName", "Lee", "Lee-Smith")
    renamed = ev[ev["kind"] == "group_renamed"].iloc[0]
    assert (renamed["old_value"], renamed["new_value"]) == ("Engineering", "Engineering & Ops")
    added = ev[ev["kind"] == "member_added"].sort_values("related_id")
    assert list(zip(added["subject_id"], added["subject_type"], added["related_id"], strict=True)) == [
        ("g2", "role", "u3"), ("g1", "group", "u5")]
    removed = ev[ev["kind"] == "member_removed"]
    # u4 left g3 only because both were deleted: said by the delete events, not repeated
    assert list(zip(removed["subject_id"], removed["related_id"], removed["related_name"], strict=True)) == [
        ("g1", "u2", "bob@x.com")]
    assert (ev["at"] == pd.Timestamp(t0 + timedelta(hours=1))).all()
    # histories for the Users and Groups detail views
    bob = user_history(ctx, conn, "u2")
    assert set(bob["kind"]) == {"user_deactivated", "member_removed"}
    eng = group_history(ctx, conn, "g1")
    assert set(eng["kind"]) == {"group_renamed", "member_added", "member_removed"}
    assert "bob@x.com removed from group Engineering & Ops" in [describe_event(r) for _, r in eng.iterrows()]
    # filters
    assert set(list_events(ctx, conn, kinds=["user_created"])["subject_id"]) == {"u5"}
    assert list_events(ctx, conn, since=t0 + timedelta(hours=2)).empty


def test_role_rule_decides_kind_and_rename_across_kinds(ctx, conn):
    snap(ctx, conn, [U("u1", "a")], [G("g1", "Staff", ["u1"])])
    snap(ctx, conn, [U("u1", "a")], [G("g1", "Role - Staff", ["u1"])])
    ev = list_events(ctx, conn)
    assert list(ev["kind"]) == ["role_renamed"] and ev.iloc[0]["subject_type"] == "role"


def test_identical_snapshots_record_nothing_and_none_values_compare_equal(ctx, conn):
    users = [U("u1", "a", email=None, given_name=None), U("u2", "b", external_id="x")]
    snap(ctx, conn, users, [])
    snap(ctx, conn, users, [])
    assert list_events(ctx, conn).empty
    users[0].email = "a@x.com"   # None -> value is a change
    users[1].external_id = None  # value -> None is a change
    snap(ctx, conn, users, [])
    ev = list_events(ctx, conn)
    assert sorted(zip(ev["subject_id"], ev["attribute"], ev["old_value"], ev["new_value"], strict=True)) == [
        ("u1", "email", None, "a@x.com"), ("u2", "externalId", "x", None)]


def test_diff_of_empty_and_full_directories(ctx, conn):
    frames, _, _ = build_frames([U("u1", "a")], [G("g1", "G", ["u1"])], conn.is_role)
    empty, _, _ = build_frames([], [], conn.is_role)
    ev = diff_frames(empty, frames)
    assert sorted(ev["kind"]) == ["group_created", "member_added", "user_created"]
    ev = diff_frames(frames, empty)
    assert sorted(ev["kind"]) == ["group_deleted", "user_deleted"]  # member removal implied by the deletes
    assert diff_frames(empty, empty).empty


def test_latest_snapshot_and_directory_size(ctx, conn):
    assert latest_snapshot(ctx, conn) is None
    assert directory_size(ctx, conn).empty
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    snap(ctx, conn, [U("u1", "a")], [], at=t0)
    s2 = snap(ctx, conn, [U("u1", "a"), U("u2", "b", active=False)], [G("g", "Role - R", [])],
              at=t0 + timedelta(days=1))
    assert latest_snapshot(ctx, conn).id == s2.id
    size = directory_size(ctx, conn)
    assert list(size["user_count"]) == [1, 2] and list(size["active_users"]) == [1, 1]
    assert list(size["role_count"]) == [0, 1]
    assert str(size["taken_at"].dt.tz) == "UTC"


def test_compaction_keeps_latest_and_one_per_day_and_all_events(ctx, conn):
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    taken = []
    for day in range(5):
        for hour in (1, 2, 3):
            at = now - timedelta(days=day, hours=hour)
            frames, ur, gr = build_frames([U("u1", f"name-{day}-{hour}")], [], conn.is_role)
            taken.append(store_snapshot(ctx, conn.name, frames, ur, gr, taken_at=at, compact=False))
    events_before = len(list_events(ctx, conn, limit=None))
    compacted = compact_snapshots(ctx, conn, keep_latest=2, keep_daily_days=3, now=now)
    rows = {r["id"]: r["files"] for r in ctx.store.query("SELECT id, files FROM snapshots")}
    kept = {i for i, f in rows.items() if f}
    assert compacted == len(rows) - len(kept)
    assert len(rows) == 15  # metadata stays
    assert len(directory_size(ctx, conn)) == 15
    assert len(list_events(ctx, conn, limit=None)) == events_before
    # the last one of each day within 3 days (days 0..3, that day's latest) plus the 2 latest overall
    assert len(kept) == 5
    for sid in set(rows) - kept:
        s = get_snapshot(ctx, conn, sid)
        assert s.path is None
        with pytest.raises(NotFoundError):
            _ = s.users
    assert not any((ctx.data_dir / "snapshots").rglob(".staging-*"))
    # files of compacted snapshots are gone from disk
    folders = [p for p in (ctx.data_dir / "snapshots").glob("*/*") if p.is_dir()]
    assert len(folders) == len(kept)


def test_a_failed_store_leaves_no_snapshot_and_no_files(ctx, conn, monkeypatch):
    snap(ctx, conn, [U("u1", "a")], [])
    frames, ur, gr = build_frames([U("u1", "b")], [], conn.is_role)

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("console.directory.store._write_frames", broken)
    with pytest.raises(OSError):
        store_snapshot(ctx, conn.name, frames, ur, gr)
    assert len(directory_size(ctx, conn)) == 1
    assert list_events(ctx, conn).empty
    assert latest_snapshot(ctx, conn).users["userName"].tolist() == ["a"]


def test_event_retention_purge(ctx, conn):
    from console.directory.events import purge_events

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    snap(ctx, conn, [U("u1", "a")], [], at=t0)
    snap(ctx, conn, [U("u1", "a"), U("u2", "b")], [], at=t0 + timedelta(days=1))
    snap(ctx, conn, [U("u1", "a"), U("u2", "b"), U("u3", "c")], [], at=t0 + timedelta(days=100))
    assert purge_events(ctx, conn, t0 + timedelta(days=50)) == 1
    assert list_events(ctx, conn)["subject_id"].tolist() == ["u3"]
