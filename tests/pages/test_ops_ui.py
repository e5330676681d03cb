"""AppTest of the operation panels on the Users and Groups & roles pages, against a real sandbox: select →
preview → confirmation dialog (reason required) → progress → per-person result → retry failed."""

from __future__ import annotations

import getpass

from console.audit import get_action, list_actions
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
    assert at.selectbox(key="ops.users.kind").value == "Deactivate"
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
    at.button(key="ops.users.done").click().run()
    assert not any("changed" in s.value for s in at.success)


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
    at.selectbox(key="ops.users.kind").set_value("Move to another group or role").run()
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
