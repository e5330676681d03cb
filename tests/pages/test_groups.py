"""Groups & roles page: kinds by the connection's rule, member counts, detail with members linked to Users."""

from __future__ import annotations

from tests.pages.conftest import app, assert_clean, texts


def test_table_classifies_groups_and_roles(live):
    from console.directory.store import latest_snapshot

    snap = latest_snapshot(live.ctx, live.conn)
    at = app("pages/groups.py")
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == len(snap.groups)
    for _, row in table.iterrows():
        assert row["kind"] == ("role" if str(row["displayName"]).startswith("Role - ") else "group")
    counts = dict(zip(snap.groups["id"], snap.groups["member_count"], strict=True))
    assert all(counts[r["id"]] == r["member_count"] for _, r in table.iterrows())
    at.segmented_control(key="groups.kind").set_value("Roles").run()
    assert set(at.dataframe[0].value["kind"]) <= {"role"}


def test_changed_role_rule_reclassifies(live):
    from console.connections import ConnectionRepo

    conn = ConnectionRepo(live.ctx).get("Tenant")
    conn.role_rule = "regex:.*"
    ConnectionRepo(live.ctx).update(conn)
    at = app("pages/groups.py")
    assert set(at.dataframe[0].value["kind"]) == {"role"}


def test_open_group_and_member_links_to_user(live):
    from console.directory.store import latest_snapshot

    snap = latest_snapshot(live.ctx, live.conn)
    group = snap.groups.sort_values("member_count", ascending=False).iloc[0]
    at = app("pages/groups.py", state={"groups.detail_id": str(group["id"])})
    assert_clean(at)
    assert str(group["displayName"]) in texts(at)
    members = at.dataframe[1].value
    assert len(members) == min(int(group["member_count"]), 500)
    key = at.session_state["groups.members_key"]
    at.session_state[key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key="groups.open_user").click().run()
    assert_clean(at)
    assert at.session_state["users.detail_id"] == members["id"].iloc[0]
    assert "Users" in [t.value for t in at.title]
    assert str(members["userName"].iloc[0]) in texts(at)


def test_search_groups(live):
    from console.directory.store import latest_snapshot

    snap = latest_snapshot(live.ctx, live.conn)
    name = str(snap.groups["displayName"].iloc[0])
    at = app("pages/groups.py")
    at.text_input(key="groups.q").input(name).run()
    assert_clean(at)
    assert name in set(at.dataframe[0].value["displayName"])
