"""AppTest of the Activity page against a real sandbox: the log with filters, an action's detail, Undo through
preview → confirm, unfinished actions with Resume / Abandon, and changes a later snapshot shows reverted."""

from __future__ import annotations

from console.operations import execute, plan
from console.operations.audit import get_action, list_actions
from tests.console._ops_helpers import scim, users
from tests.pages.conftest import app, assert_clean, make_connection, texts


def select_action(at, row: int = 0):
    at.session_state["activity.table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def active(sb, n):
    return sorted(u.id for u in users(sb).values() if u.active)[:n]


def test_empty_log_explains_itself(console_home, sandbox_factory):
    sb = sandbox_factory(seed_users=5, seed_groups=1, seed=1)
    make_connection(console_home, sb, "Tenant", entra=False, snapshot=False)
    at = app("pages/activity.py")
    assert_clean(at)
    assert "No manual changes recorded" in texts(at)


def test_list_filters_detail_and_undo(console_home, sandbox_factory):
    sb = sandbox_factory(seed_users=20, seed_groups=2, seed=4)
    live = make_connection(console_home, sb, "Tenant", entra=False)
    ids = active(sb, 3)
    first = execute(live.ctx, live.conn, plan(live.ctx, live.conn, "deactivate", ids), "leavers", "carol@corp.example")
    execute(live.ctx, live.conn, plan(live.ctx, live.conn, "reactivate", ids[:1]), "came back", "dave@corp.example")
    at = app("pages/activity.py")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["id"]) == [2, 1] and set(table["operator"]) == {"carol@corp.example", "dave@corp.example"}
    at.selectbox(key="activity.operator").set_value("carol@corp.example").run()
    assert list(at.dataframe[0].value["id"]) == [1]
    at.multiselect(key="activity.kinds").set_value(["reactivate"]).run()
    assert "No manual changes recorded" in texts(at)
    at.multiselect(key="activity.kinds").set_value([]).run()
    at = select_action(at, 0)
    assert_clean(at)
    shown = texts(at)
    assert "Action 1: deactivate" in shown and "leavers" in shown and "carol@corp.example" in shown
    at.button(key="activity.undo").click().run()
    assert_clean(at)
    assert "Preview: undo of action 1: reactivate" in texts(at)
    # ids[0] was reactivated meanwhile: execution finds it already active ("already done")
    at.button(key="ops.activity.continue").click().run()
    at.text_area(key="ops.activity.reason").input("wrong list").run()
    at.button(key="ops.activity.confirm_go").click().run()
    assert_clean(at)
    assert any("changed" in s.value for s in at.success), texts(at)
    assert all(users(sb)[i].active for i in ids)
    assert get_action(live.ctx, first.batch_id).undone_by == [3]
    undo = get_action(live.ctx, 3)
    assert undo.undo_of == 1 and undo.reason == "wrong list" and undo.source == "ui"


def test_unfinished_action_resume_and_abandon(console_home, sandbox_factory):
    sb = sandbox_factory(seed_users=20, seed_groups=2, seed=6)
    key = "6ck_activity_" + "5e6f7a8b9c0d"
    sb.admin("POST", "/sandbox-admin/keys", json={"name": "act", "apiKey": key})
    live = make_connection(console_home, sb, "Tenant", entra=False)
    from console.tokens.service import TokenService

    TokenService(live.ctx).set_api_key("Tenant", key)
    TokenService(live.ctx).generate("Tenant")
    ids = active(sb, 4)
    p1 = plan(live.ctx, live.conn, "deactivate", ids[:2])
    p2 = plan(live.ctx, live.conn, "deactivate", ids[2:])
    sb.admin("DELETE", "/sandbox-admin/keys/act")
    r1 = execute(live.ctx, live.conn, p1, "incident", "op")
    r2 = execute(live.ctx, live.conn, p2, "incident", "op")
    assert r1.state == r2.state == "stopped"
    at = app("pages/activity.py")
    assert_clean(at)
    shown = texts(at)
    assert "Unfinished actions" in shown and "401" in shown
    # a new key, then Resume from the page
    TokenService(live.ctx).set_api_key("Tenant", sb.api_key)
    TokenService(live.ctx).generate("Tenant")
    at.button(key=f"activity.resume.{r1.batch_id}").click().run()
    assert_clean(at)
    assert all(not users(sb)[i].active for i in ids[:2])
    at.text_input(key=f"activity.abandon_note.{r2.batch_id}").input("not needed any more").run()
    at.button(key=f"activity.abandon.{r2.batch_id}").click().run()
    assert_clean(at)
    assert "Unfinished actions" not in texts(at)
    assert get_action(live.ctx, r2.batch_id).outcome == "abandoned"
    assert all(users(sb)[i].active for i in ids[2:])
    assert [a.outcome for a in list_actions(live.ctx)] == ["abandoned", "success"]


def test_reverted_changes_are_flagged(console_home, sandbox_factory):
    from console.directory.take import take_snapshot

    sb = sandbox_factory(seed_users=12, seed_groups=2, seed=2)
    live = make_connection(console_home, sb, "Tenant", entra=False)
    ids = active(sb, 2)
    execute(live.ctx, live.conn, plan(live.ctx, live.conn, "deactivate", ids), "leaver", "op")
    with scim(sb) as c:   # what the next Entra cycle does for a user still assigned in Entra
        c.set_active(ids[0], True)
    take_snapshot(live.ctx, live.conn)
    at = app("pages/activity.py")
    assert_clean(at)
    assert "reverted for 1 person" in " ".join(at.dataframe[0].value["result"])
    at = select_action(at, 0)
    shown = texts(at)
    assert "no longer hold" in shown and "Entra" in shown
