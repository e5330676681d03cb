"""Users page: the directory from the latest snapshot, search, filters, sort, paging, CSV export, detail,
selection handed to the operations panel; and a 100,000-user snapshot."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.pages.conftest import app, assert_clean, make_connection, synthetic_frames, texts, unescape


def _table(at):
    return at.dataframe[0].value


def select_rows(at, rows):
    key = at.session_state["users.table_key"]
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_lists_the_directory_and_searches(live):
    snap_users = __import__("console.directory.store", fromlist=["latest_snapshot"]).latest_snapshot(
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
    from console.directory.store import latest_snapshot

    users = latest_snapshot(live.ctx, live.conn).users
    row = users.dropna(subset=["familyName", "email"]).iloc[0]
    at = app("pages/users.py")
    at.text_input(key="users.q").input(str(row["familyName"]).upper()).run()
    assert str(row["userName"]) in set(_table(at)["userName"])
    at.text_input(key="users.q").input(str(row["email"])).run()
    assert str(row["userName"]) in set(_table(at)["userName"])


def test_active_filter_and_group_filter(live):
    from console.directory.store import latest_snapshot

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


def test_csv_export_has_group_and_role_names(live):
    from console.directory import view
    from console.directory.store import latest_snapshot
    from tests.formula_cells import formula_cells

    snap = latest_snapshot(live.ctx, live.conn)
    d = view.build_directory(snap, live.conn)
    matched = view.filter_users(d, query="")
    data = view.users_csv(d, matched)
    assert formula_cells(data) == []
    frame = pd.read_csv(io.BytesIO(data), keep_default_na=False)
    assert len(frame) == len(snap.users)
    assert list(frame.columns) == ["id", "userName", "email", "givenName", "familyName", "displayName", "active",
                                   "externalId", "groups", "roles", "created", "lastModified"]
    names = snap.groups.set_index("id")
    m = snap.memberships
    member = m.iloc[0]
    person = frame.set_index("id").loc[member["user_id"]]
    expected_groups = sorted((str(names.loc[g, "displayName"]) for g in m.loc[m["user_id"] == member["user_id"],
                                                                              "group_id"]
                              if names.loc[g, "kind"] == "group"), key=str.lower)
    expected_roles = sorted((str(names.loc[g, "displayName"]) for g in m.loc[m["user_id"] == member["user_id"],
                                                                             "group_id"]
                             if names.loc[g, "kind"] == "role"), key=str.lower)
    assert person["groups"] == "; ".join(expected_groups)
    assert person["roles"] == "; ".join(expected_roles)  # roles as 6clicks names them ("Role - …")
    assert all(r.startswith("Role - ") for r in expected_roles)
    assert not frame["groups"].astype(str).str.fullmatch(r"\d+").any()  # names, not membership counts
    at = app("pages/users.py")
    assert at.get("download_button"), "the page offers a CSV download"


def test_selecting_a_person_shows_details_first_and_the_change_panel_folded(live):
    at = app("pages/users.py")
    table = _table(at)
    at = select_rows(at, [0])
    assert_clean(at)
    assert at.session_state["users.selected_ids"] == [table["id"].iloc[0]]
    subheaders = [h.value for h in at.subheader]
    assert subheaders and unescape(subheaders[0]) == str(table["label"].iloc[0])  # the person's details
    assert at.get("json"), "the raw SCIM JSON is shown"
    [panel] = [e for e in at.expander if "Change" in e.label]
    assert panel.label == "Change the 1 selected person"
    assert at.session_state["ops.users.open"] is False                     # folded
    assert at.selectbox(key="ops.users.kind").value is None                 # no action chosen for the operator
    preview = at.button(key="ops.users.preview")
    assert preview.disabled and preview.proto.type != "primary"
    parts = [type(c).__name__ for c in at.main.children.values()]
    assert parts.index("Subheader") < parts.index("Expander")                # details first, the panel below


def test_several_selected_people_are_listed_and_one_is_detailed(live):
    at = app("pages/users.py")
    table = _table(at)
    at = select_rows(at, [0, 1])
    assert_clean(at)
    assert at.session_state["users.selected_ids"] == [table["id"].iloc[0], table["id"].iloc[1]]
    shown = texts(at)
    assert "2 people selected" in shown
    listed = next(df.value for df in at.dataframe if "label" in df.value.columns and len(df.value) == 2)
    assert list(listed["userName"]) == list(table["userName"].iloc[:2])
    assert at.selectbox(key="users.detail_of").value == table["id"].iloc[0]
    at.selectbox(key="users.detail_of").set_value(table["id"].iloc[1]).run()
    assert unescape([h.value for h in at.subheader][1]) == str(table["label"].iloc[1])
    assert any(e.label == "Change the 2 selected people" for e in at.expander)


def test_the_heading_follows_the_way_people_are_chosen(live):
    at = app("pages/users.py")
    at = select_rows(at, [0, 1])
    at.segmented_control(key="ops.users.source").set_value("People in a CSV file").run()
    assert_clean(at)
    labels = [e.label for e in at.expander]
    assert "Change the people listed in a CSV file" in labels
    assert not any("selected" in label for label in labels)
    at.segmented_control(key="ops.users.source").set_value("Selected people").run()
    assert "Change the 2 selected people" in [e.label for e in at.expander]
    at = select_rows(app("pages/users.py"), [])
    assert any(e.label.startswith("Change people (select them") for e in at.expander)


def test_detail_from_session_state(live):
    from console.directory.store import latest_snapshot

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
    from console.directory.store import store_snapshot

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
