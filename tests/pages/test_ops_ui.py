"""AppTest of the operation panels on the Users and Groups & roles pages, against a real sandbox: select →
preview → confirmation dialog (reason required) → progress → per-person result → retry failed; after each
change the tables show the new state at once (a snapshot derived from the read-backs, with its events), and a
result panel goes with "Done", another selection or another page."""

from __future__ import annotations

import getpass

from console.directory.events import list_events
from console.directory.store import latest_snapshot
from console.operations.audit import get_action, list_actions
from tests.console._ops_helpers import groups, members, users
from tests.pages.conftest import app, assert_clean, make_connection, texts


def result_table(at):
    return next(df.value for df in at.dataframe if {"state", "attempts"} <= set(df.value.columns))


def select_users(at, rows):
    key = at.session_state["users.table_key"]
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_users_page_deactivate_preview_confirm_result(console_home, sandbox_factory):
    sb = sandbox_factory(seed_users=30, seed_groups=4, seed=3)
    live = make_connection(console_home, sb, "Tenant", entra=False)
    at = app("pages/users.py")
    assert_clean(at)
    at = select_users(at, [0, 1, 2])
    chosen = at.session_state["users.selected_ids"]
    assert len(chosen) == 3
    before = users(sb)
    expected = sum(1 for i in chosen if before[i].active)
    assert expected >= 1
    assert at.selectbox(key="ops.users.kind").value is None   # nothing preselected
    at.selectbox(key="ops.users.kind").set_value("Deactivate").run()
    at.button(key="ops.users.preview").click().run()
    assert_clean(at)
    shown = texts(at)
    assert "Preview: deactivate" in shown and "Entra ID is the source of truth" in shown
    assert {m.label: m.value for m in at.metric}["Will change"] == str(expected)
    at.button(key="ops.users.continue").click().run()
    assert f"{expected} {'person' if expected == 1 else 'people'} will change in 6clicks" in texts(at)
    # the reason is required: confirming without one keeps the dialog open with an error, nothing runs
    at.button(key="ops.users.confirm_go").click().run()
    assert any("reason is required" in e.value for e in at.error)
    assert list_actions(live.ctx) == []
    at.text_area(key="ops.users.reason").input("left the company, ticket 4711").run()
    at.button(key="ops.users.confirm_go").click().run()
    assert_clean(at)
    assert any(f"{expected} changed" in s.value for s in at.success), texts(at)
    after = users(sb)
    assert all(not after[i].active for i in chosen)
    [action] = list_actions(live.ctx)
    assert action.source == "ui" and action.operator == getpass.getuser()
    assert action.reason == "left the company, ticket 4711" and action.kind == "deactivate"
    assert set(result_table(at)["state"]) == {"done"}
    # the table shows them inactive at once, without a refresh: a snapshot derived from the read-backs
    shown = at.dataframe[0].value.set_index("id")
    assert not shown.loc[chosen, "active"].any()
    snap = latest_snapshot(live.ctx, live.conn)
    assert snap.based_on is not None and snap.note == f"after action {action.id}"
    events = list_events(live.ctx, live.conn, kinds=["user_deactivated"])
    assert set(events["subject_id"]) == {i for i in chosen if before[i].active}
    assert "The directory tables show the new state" in texts(at)
    at.button(key="ops.users.done").click().run()
    assert not any("changed" in s.value for s in at.success)
    assert at.session_state["ops.users.open"] is False                     # the panel folds when done


def test_users_page_move_with_failures_then_retry(console_home, sandbox_factory):
    sb = sandbox_factory(seed_users=30, seed_groups=4, seed=8)
    live = make_connection(console_home, sb, "Tenant", entra=False)
    g = sorted(groups(sb).values(), key=lambda x: -len(x.member_ids or []))
    src, dst = g[0], g[1]
    at = app("pages/users.py")
    # select members of src that are not in dst: find their row positions on the first page
    table_key = at.session_state["users.table_key"]
    view = at.dataframe[0].value
    wanted = set(src.member_ids or []) - set(dst.member_ids or [])
    rows = [i for i, uid in enumerate(view["id"]) if uid in wanted][:2]
    assert rows, "the seed must give the source group members on the first page"
    at.session_state[table_key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    picked = at.session_state["users.selected_ids"]
    at.selectbox(key="ops.users.kind").set_value("Move from one group or role to another").run()
    labels = at.selectbox(key="ops.users.from").options
    at.selectbox(key="ops.users.from").set_value(next(x for x in labels if x.startswith(src.display_name + " ")))
    at.selectbox(key="ops.users.to").set_value(next(x for x in labels if x.startswith(dst.display_name + " "))).run()
    at.button(key="ops.users.preview").click().run()
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Will change"] == str(len(picked))
    sb.set_faults(rate_500=1.0, paths=f"/Groups/{src.id}$")
    at.button(key="ops.users.continue").click().run()
    at.text_area(key="ops.users.reason").input("reorg").run()
    at.button(key="ops.users.confirm_go").click().run()
    assert_clean(at)
    assert any("failed" in w.value for w in at.warning), texts(at)
    notes = " ".join(result_table(at)["note"])
    assert "in both" in notes
    sb.clear_faults()
    assert set(picked) <= members(sb, src.id) and set(picked) <= members(sb, dst.id)
    at.button(key="ops.users.retry").click().run()
    assert_clean(at)
    assert any(f"{len(picked)} changed" in s.value for s in at.success), texts(at)
    assert not set(picked) & members(sb, src.id) and set(picked) <= members(sb, dst.id)
    assert list_actions(live.ctx)[0].outcome == "success"
    # the table shows their new group at once (after the failed first run they were in both)
    shown = at.dataframe[0].value.set_index("id")
    for uid in picked:
        groups_now = shown.loc[uid, "groups_list"].split(", ")
        assert dst.display_name in groups_now and src.display_name not in groups_now
    events = list_events(live.ctx, live.conn)
    kinds = set(zip(events["kind"], events["subject_id"], strict=True))
    assert ("member_removed", src.id) in kinds and ("member_added", dst.id) in kinds


def test_groups_page_remove_members(console_home, sandbox_factory):
    sb = sandbox_factory(seed_users=30, seed_groups=4, seed=5)
    live = make_connection(console_home, sb, "Tenant", entra=False)
    target = max(groups(sb).values(), key=lambda x: len(x.member_ids or []))
    at = app("pages/groups.py")
    assert_clean(at)
    frame = at.dataframe[0].value
    row = list(frame["id"]).index(target.id)
    at.session_state["groups.table.All."] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    assert at.segmented_control(key="ops.groups.action").value is None     # nothing preselected
    at.segmented_control(key="ops.groups.action").set_value("Remove members").run()
    options = at.multiselect(key="ops.groups.members").options
    at.multiselect(key="ops.groups.members").set_value(options[:2]).run()
    at.button(key="ops.groups.preview").click().run()
    assert "Preview: remove from" in texts(at)
    at.button(key="ops.groups.continue").click().run()
    at.text_area(key="ops.groups.reason").input("cleanup").run()
    at.button(key="ops.groups.confirm_go").click().run()
    assert_clean(at)
    assert any("2 changed" in s.value for s in at.success), texts(at)
    action = get_action(live.ctx, list_actions(live.ctx)[0].id)
    gone = {i.user_id for i in action.items if i.changes}
    assert len(gone) == 2 and not gone & members(sb, target.id)


def test_a_result_belongs_to_its_people_and_its_page(console_home, sandbox_factory):
    sb = sandbox_factory(seed_users=20, seed_groups=3, seed=9)
    make_connection(console_home, sb, "Tenant", entra=False)
    at = select_users(app("pages/users.py"), [0])
    at.selectbox(key="ops.users.kind").set_value("Deactivate").run()
    at.button(key="ops.users.preview").click().run()
    assert "Preview: deactivate" in texts(at)
    # another selection: the preview made for the first person goes
    at = select_users(at, [1])
    assert "Preview: deactivate" not in texts(at)
    at.selectbox(key="ops.users.kind").set_value("Deactivate").run()
    at.button(key="ops.users.preview").click().run()
    at.button(key="ops.users.continue").click().run()
    at.text_area(key="ops.users.reason").input("left").run()
    at.button(key="ops.users.confirm_go").click().run()
    assert any("changed" in s.value for s in at.success)
    # another page, then back: the result panel went with the page that made it
    at.switch_page("pages/groups.py").run()
    assert_clean(at)
    at.switch_page("pages/users.py").run()
    assert_clean(at)
    assert not at.success and "ops.users.result" not in at.session_state


def test_selecting_members_shows_them_before_any_change(console_home, sandbox_factory):
    sb = sandbox_factory(seed_users=30, seed_groups=4, seed=5)
    make_connection(console_home, sb, "Tenant", entra=False)
    target = max(groups(sb).values(), key=lambda x: len(x.member_ids or []))
    at = app("pages/groups.py", state={"groups.detail_id": target.id})
    key = at.session_state["groups.members_key"]
    members_view = next(df.value for df in at.dataframe if "userName" in df.value.columns)
    at.session_state[key] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    assert "2 members selected" in texts(at)
    assert at.session_state["ops.groups.open"] is False
    assert at.segmented_control(key="ops.groups.action").value is None
    # choosing "Remove members" offers the two selected members, nothing runs before the preview
    at.segmented_control(key="ops.groups.action").set_value("Remove members").run()
    chosen = at.multiselect(key="ops.groups.members").value
    assert len(chosen) == 2 and {members_view["userName"].iloc[0], members_view["userName"].iloc[1]} <= set(
        c.split(" · ")[0] for c in chosen)
    assert members(sb, target.id) == set(target.member_ids or [])
