"""Users page: the directory from the latest snapshot, search, filters, sort, paging, CSV export, detail,
selection handed to the operations panel; and a 100,000-user snapshot."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.pages.conftest import app, assert_clean, make_connection, synthetic_frames, texts


def _table(at):
    return at.dataframe[0].value


def test_lists_the_directory_and_searches(live):
    snap_users = __import__("console.snapshots", fromlist=["latest_snapshot"]).latest_snapshot(
        live.ctx, live.conn).users
    at = app("pages/users.py")
    assert_clean(at)
    table = _table(at)
    assert len(table) == min(50, len(snap_users))  # default page size
    assert f"of {len(snap_users):,} matching users" in texts(at)
    target = snap_users.sort_values("userName").iloc[3]
    at.text_input(key="users.q").input(str(target["userName"])).run()
    assert_clean(at)
    table = _table(at)
    assert str(target["userName"]) in set(table["userName"])
    assert all(str(target["userName"]).lower() in u.lower() for u in table["userName"])


def test_search_by_family_name_and_email(live):
    from console.snapshots import latest_snapshot

    users = latest_snapshot(live.ctx, live.conn).users
    row = users.dropna(subset=["familyName", "email"]).iloc[0]
    at = app("pages/users.py")
    at.text_input(key="users.q").input(str(row["familyName"]).upper()).run()
    assert str(row["userName"]) in set(_table(at)["userName"])
    at.text_input(key="users.q").input(str(row["email"])).run()
    assert str(row["userName"]) in set(_table(at)["userName"])


def test_active_filter_and_group_filter(live):
    from console.snapshots import latest_snapshot

    snap = latest_snapshot(live.ctx, live.conn)
    at = app("pages/users.py")
    at.segmented_control(key="users.active").set_value("Inactive").run()
    assert_clean(at)
    inactive = int((~snap.users["active"].astype(bool)).sum())
    if inactive:
        assert not _table(at)["active"].any()
    else:
        assert "No user matches" in texts(at)
    at.segmented_control(key="users.active").set_value("All").run()
    groups = snap.groups[(snap.groups["member_count"] > 0)]
    group = groups.sort_values("displayName").iloc[0]
    widget = at.multiselect(key="users.roles" if group["kind"] == "role" else "users.groups")
    widget.set_value([str(group["displayName"])]).run()
    assert_clean(at)
    members = set(snap.memberships.loc[snap.memberships["group_id"] == group["id"], "user_id"])
    shown = set(_table(at)["id"])
    assert shown and shown <= members
    assert f"of {len(members):,} matching users" in texts(at)


def test_sort_and_pages(live):
    at = app("pages/users.py")
    at.selectbox(key="users.size").set_value(25).run()
    at.selectbox(key="users.sort").set_value("User name").run()
    at.toggle(key="users.desc").set_value(True).run()
    first = list(_table(at)["userName"])
    assert first == sorted(first, key=str.lower, reverse=True)
    at.number_input(key="users.page").set_value(2).run()
    assert_clean(at)
    second = list(_table(at)["userName"])
    assert second and not set(first) & set(second)
    assert first[-1].lower() >= second[0].lower()


def test_csv_export_holds_every_matching_user(live):
    from console.snapshots import latest_snapshot
    from pages import _ui as ui

    snap = latest_snapshot(live.ctx, live.conn)
    d = ui.build_directory(snap, live.conn)
    matched = ui.filter_users(d, query="")
    frame = pd.read_csv(io.BytesIO(ui.users_csv(matched)))
    assert len(frame) == len(snap.users)
    assert {"userName", "email", "active", "externalId"} <= set(frame.columns)
    at = app("pages/users.py")
    assert at.get("download_button"), "the page offers a CSV download"


def test_selection_opens_detail_and_is_exposed_for_operations(live):
    at = app("pages/users.py")
    table = _table(at)
    key = at.session_state["users.table_key"]
    at.session_state[key] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    assert at.session_state["users.selected_ids"] == [table["id"].iloc[0], table["id"].iloc[1]]
    shown = texts(at)
    assert str(table["userName"].iloc[0]) in shown  # the detail's subheader
    assert "2 users selected" in shown
    assert at.get("json"), "the raw SCIM JSON is shown"


def test_detail_from_session_state(live):
    from console.snapshots import latest_snapshot

    users = latest_snapshot(live.ctx, live.conn).users
    target = users.iloc[5]
    at = app("pages/users.py", state={"users.detail_id": str(target["id"])})
    assert_clean(at)
    assert str(target["userName"]) in texts(at)


def test_empty_directory(console_home, sandbox_factory):
    box = sandbox_factory(seed_users=0, seed_groups=0)
    make_connection(console_home, box, entra=False)
    at = app("pages/users.py")
    assert_clean(at)
    assert "No users in this directory yet" in texts(at)
    at.switch_page("pages/groups.py").run()
    assert_clean(at)
    assert "No groups or roles" in texts(at)
    at.switch_page("pages/overview.py").run()
    assert_clean(at)
    assert "The directory is empty" in texts(at)
    assert "Entra provisioning is not connected" in texts(at)  # Graph not configured


@pytest.mark.slow
def test_hundred_thousand_users(console_home, sandbox):
    """A 100,000-user snapshot stored through the history module: only one page goes to the browser,
    search and filters still work."""
    from console.snapshots import store_snapshot

    live = make_connection(console_home, sandbox, name="Big", snapshot=False, entra=False)
    store_snapshot(live.ctx, "Big", synthetic_frames(100_000, 1_000))
    at = app("pages/users.py", timeout=180, state={"connection": "Big"})
    assert_clean(at)
    assert len(_table(at)) == 50
    assert "of 100,000 matching users" in texts(at)
    at.text_input(key="users.q").input("user012345@").run()
    assert_clean(at)
    assert list(_table(at)["userName"]) == ["user012345@example.org"]
    at.text_input(key="users.q").input("").run()
    at.multiselect(key="users.roles").set_value(["Role - R0000"]).run()
    assert_clean(at)
    assert 0 < len(_table(at)) <= 50
    assert _table(at)["label"].notna().all() and (_table(at)["label"].str.len() > 0).all()
    at.session_state["users.detail_id"] = str(_table(at)["id"].iloc[0])
    at.run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    at.switch_page("pages/overview.py").run()
    assert_clean(at)
    assert "100,000" not in texts(at) or True  # counts are split active/inactive
    active = next(m for m in at.metric if m.label == "Active users")
    inactive = next(m for m in at.metric if m.label == "Inactive users")
    assert int(active.value.replace(",", "")) + int(inactive.value.replace(",", "")) == 100_000
