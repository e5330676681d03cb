"""Derived snapshots (``patch_snapshot``): after a change made from this console, the people and groups it
touched are read again and replace theirs in a copy of the latest snapshot. The copy is a snapshot like any
other: its events come from the same diff, a person's History shows them, and a later full listing does not
record them twice."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import memory_credentials
from console.directory.events import list_events, user_history
from console.directory.frames import SnapshotError, build_frames
from console.directory.patch import patch_snapshot
from console.directory.store import latest_snapshot, store_snapshot
from console.errors import ConsoleError
from console.store import Store
from tests.console.test_history_snapshots import G, U


@pytest.fixture
def ctx(tmp_path) -> Context:
    return Context(data_dir=tmp_path, store=Store.open(tmp_path), credentials=memory_credentials())


@pytest.fixture
def conn(ctx) -> Connection:
    return ConnectionRepo(ctx).add(Connection(name="acme", api_url="https://acme.example.com/api"))


T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def base(ctx, conn, at=T0):
    users = [U("u1", "ann@x.com", email="ann@x.com", raw={"id": "u1", "active": True}),
             U("u2", "bob@x.com", email="bob@x.com", given_name="Bob", family_name="Marsh"),
             U("u3", "cy@x.com", active=False),
             U("u4", "dee@x.com")]
    groups = [G("g1", "Finance", ["u1", "u2"]), G("g2", "Sales", ["u4"]), G("g3", "Role - Auditor", ["u1"])]
    frames, ur, gr = build_frames(users, groups, conn.is_role)
    return store_snapshot(ctx, conn.name, frames, ur, gr, taken_at=at)


def test_a_deactivated_person_is_a_new_snapshot_with_the_event(ctx, conn):
    first = base(ctx, conn)
    after = patch_snapshot(ctx, conn, users=[U("u2", "bob@x.com", email="bob@x.com", active=False,
                                               given_name="Bob", family_name="Marsh",
                                               raw={"id": "u2", "active": False})], note="after action 7")
    assert after is not None and after.id != first.id
    assert latest_snapshot(ctx, conn).id == after.id
    assert after.based_on == first.id and after.derived and not first.derived
    assert after.note == "after action 7"
    assert after.listed_at == first.taken_at and after.taken_at > first.taken_at
    users = after.users.set_index("id")
    assert not bool(users.loc["u2", "active"]) and bool(users.loc["u1", "active"])
    assert users.loc["u2", "givenName"] == "Bob"
    assert sorted(users.index) == ["u1", "u2", "u3", "u4"]
    assert after.raw_user("u2") == {"id": "u2", "active": False}
    assert after.raw_user("u1") == {"id": "u1", "active": True}  # the others' raw SCIM is kept
    assert (after.user_count, after.active_users) == (4, 2)
    assert (after.group_count, after.role_count, after.membership_count) == (2, 1, 4)
    events = list_events(ctx, conn)
    assert list(events["kind"]) == ["user_deactivated"] and events["subject_id"].iloc[0] == "u2"
    assert int(events["snapshot_id"].iloc[0]) == after.id and after.event_count == 1
    assert list(user_history(ctx, conn, "u2")["kind"]) == ["user_deactivated"]
    # groups and memberships were not touched: the same files, linked rather than copied
    for name in ("groups", "memberships"):
        assert os.path.samefile(first.path / f"{name}.parquet", after.path / f"{name}.parquet")
    assert not os.path.samefile(first.path / "users.parquet", after.path / "users.parquet")
    assert first.users.set_index("id").loc["u2", "active"]  # the base is unchanged


def test_a_move_replaces_both_groups_members_and_counts(ctx, conn):
    first = base(ctx, conn)
    after = patch_snapshot(ctx, conn, groups=[G("g1", "Finance", ["u1"], raw={"id": "g1"}),
                                              G("g2", "Sales", ["u4", "u2"], raw={"id": "g2"})])
    assert after is not None
    m = after.memberships
    assert set(m.loc[m["group_id"] == "g1", "user_id"]) == {"u1"}
    assert set(m.loc[m["group_id"] == "g2", "user_id"]) == {"u2", "u4"}
    assert set(m.loc[m["group_id"] == "g3", "user_id"]) == {"u1"}  # an untouched role keeps its members
    counts = after.groups.set_index("id")["member_count"]
    assert counts.to_dict() == {"g1": 1, "g2": 2, "g3": 1}
    assert after.groups.set_index("id")["displayName"]["g2"] == "Sales"  # name as the server has it, case kept
    ev = list_events(ctx, conn).sort_values("kind")
    assert list(zip(ev["kind"], ev["subject_id"], ev["related_id"], ev["related_name"], strict=True)) == [
        ("member_added", "g2", "u2", "bob@x.com"), ("member_removed", "g1", "u2", "bob@x.com")]
    assert os.path.samefile(first.path / "users.parquet", after.path / "users.parquet")


def test_people_and_groups_the_server_no_longer_has_are_removed(ctx, conn):
    base(ctx, conn)
    after = patch_snapshot(ctx, conn, deleted_users=["u1"], deleted_groups=["g2"])
    assert after is not None
    assert "u1" not in set(after.users["id"]) and "g2" not in set(after.groups["id"])
    assert "u1" not in set(after.memberships["user_id"]) and "g2" not in set(after.memberships["group_id"])
    counts = after.groups.set_index("id")["member_count"].to_dict()
    assert counts == {"g1": 1, "g3": 0}
    kinds = set(list_events(ctx, conn)["kind"])
    assert kinds == {"user_deleted", "group_deleted"}  # the memberships they lost are said by the deletes


def test_nothing_differs_nothing_is_stored(ctx, conn):
    first = base(ctx, conn)
    same = patch_snapshot(ctx, conn, users=[U("u1", "ann@x.com", email="ann@x.com", raw={"id": "u1"})],
                          groups=[G("g1", "Finance", ["u2", "u1"])])
    assert same is not None and same.id == first.id
    assert list_events(ctx, conn).empty
    assert len(list((first.path.parent).iterdir())) == 1  # no staging folder left behind


def test_without_a_snapshot_there_is_nothing_to_derive(ctx, conn):
    assert patch_snapshot(ctx, conn, users=[U("u1", "ann@x.com")]) is None
    assert latest_snapshot(ctx, conn) is None


def test_groups_without_members_are_not_used(ctx, conn):
    first = base(ctx, conn)
    assert patch_snapshot(ctx, conn, groups=[G("g1", "Finance", None)]).id == first.id


def test_a_full_listing_after_the_patch_records_nothing_twice(ctx, conn):
    base(ctx, conn)
    patch_snapshot(ctx, conn, users=[U("u2", "bob@x.com", email="bob@x.com", active=False, given_name="Bob",
                                       family_name="Marsh")])
    users = [U("u1", "ann@x.com", email="ann@x.com"), U("u2", "bob@x.com", email="bob@x.com", active=False,
                                                         given_name="Bob", family_name="Marsh"),
             U("u3", "cy@x.com", active=False), U("u4", "dee@x.com")]
    groups = [G("g1", "Finance", ["u1", "u2"]), G("g2", "Sales", ["u4"]), G("g3", "Role - Auditor", ["u1"])]
    frames, ur, gr = build_frames(users, groups, conn.is_role)
    full = store_snapshot(ctx, conn.name, frames, ur, gr)
    assert full.event_count == 0 and not full.derived and full.listed_at == full.taken_at
    assert list(list_events(ctx, conn)["kind"]) == ["user_deactivated"]


def test_a_newer_snapshot_stored_meanwhile_is_derived_from_instead(ctx, conn, monkeypatch):
    """A refresh that lands while the patch is being written: the patch is built again on the newer snapshot,
    so its diff never undoes what the refresh recorded."""
    from console.directory import patch

    base(ctx, conn)
    original = patch._patched_files
    calls = []

    def racing(*args, **kwargs):
        if not calls:  # a refresh (someone renamed Sales) lands after the patch read its base
            users = [U("u1", "ann@x.com", email="ann@x.com"), U("u2", "bob@x.com", email="bob@x.com",
                                                                 given_name="Bob", family_name="Marsh"),
                     U("u3", "cy@x.com", active=False), U("u4", "dee@x.com")]
            groups = [G("g1", "Finance", ["u1", "u2"]), G("g2", "Sales EMEA", ["u4"]),
                      G("g3", "Role - Auditor", ["u1"])]
            frames, ur, gr = build_frames(users, groups, conn.is_role)
            store_snapshot(ctx, conn.name, frames, ur, gr, taken_at=T0 + timedelta(minutes=5))
        calls.append(args[0].id)
        return original(*args, **kwargs)

    monkeypatch.setattr(patch, "_patched_files", racing)
    after = patch_snapshot(ctx, conn, users=[U("u3", "cy@x.com", active=True)])
    assert len(calls) == 2 and calls[0] != calls[1] and after.based_on == calls[1]
    assert after.groups.set_index("id")["displayName"]["g2"] == "Sales EMEA"
    kinds = list(list_events(ctx, conn).sort_values("id")["kind"])
    assert kinds == ["group_renamed", "user_reactivated"]  # nothing renamed back


def test_unreadable_base_files_are_a_clear_error(ctx, conn):
    first = base(ctx, conn)
    (first.path / "users.parquet").write_bytes(b"not parquet")
    with pytest.raises(SnapshotError) as err:
        patch_snapshot(ctx, conn, users=[U("u1", "ann@x.com", active=False)])
    assert isinstance(err.value, ConsoleError) and "Refresh the directory" in str(err.value.remedy)
    assert latest_snapshot(ctx, conn).id == first.id
    assert [p.name for p in first.path.parent.iterdir()] == [first.path.name]


def test_snapshots_stored_before_the_migration_read_as_listings(tmp_path, conn):
    import sqlite3

    ctx = Context(data_dir=tmp_path, store=Store.open(tmp_path), credentials=memory_credentials())
    first = base(ctx, conn)
    db = sqlite3.connect(tmp_path / "console.db")
    db.execute("UPDATE snapshots SET listed_at = NULL, based_on = NULL")
    db.commit()
    db.close()
    snap = latest_snapshot(ctx, conn)
    assert snap.listed_at == snap.taken_at == first.taken_at and not snap.derived
    assert isinstance(snap.users, pd.DataFrame)
