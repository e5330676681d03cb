"""AppTest: the Groups & roles and Users operation panels against a server whose "add members" replaces the
member list. The batch stops after one write; the panel shows a fixed-wording error and the defect report (the
request, the answer, who vanished, the verified restore) as plain text, never as Markdown."""

from __future__ import annotations

from console.operations.audit import list_actions
from tests.odd_servers import odd_server
from tests.pages.conftest import app, assert_clean, make_connection, texts

HOSTILE = "**Finance** [Re-authenticate](https://evil.example/login)"


def test_groups_panel_shows_the_defect_report_as_plain_text(console_home):
    with odd_server(users=14, groups=[(HOSTILE, list(range(10)))], sloppy_add=True) as srv:
        live = make_connection(console_home, srv, "Odd", entra=False)
        gid = srv.group_id(HOSTILE)
        before = srv.member_ids(gid)
        newcomers = sorted(set(srv.users) - before)[:2]
        at = app("pages/groups.py")
        assert_clean(at)
        row = list(at.dataframe[0].value["id"]).index(gid)
        at.session_state["groups.table.All."] = {"selection": {"rows": [row], "columns": [], "cells": []}}
        at.run()
        at.segmented_control(key="ops.groups.action").set_value("Add people").run()
        at.text_area(key="ops.groups.add_typed").input(
            "\n".join(srv.users[u]["userName"] for u in newcomers)).run()
        at.button(key="ops.groups.preview").click().run()
        assert_clean(at)
        at.button(key="ops.groups.continue").click().run()
        at.text_area(key="ops.groups.reason").input("new team").run()
        at.button(key="ops.groups.confirm_go").click().run()
        assert_clean(at)
        errors = [e.value for e in at.error]
        assert any("removed group members it was not asked to remove" in e and "verified" in e for e in errors)
        assert any("Do not resume" in t.value for t in at.text)
        [code] = [c.value for c in at.code]
        assert code.startswith("SERVER DEFECT") and f"request: PATCH Groups/{gid}" in code
        assert HOSTILE in code                                      # the exact name, as plain text
        assert "answer:  HTTP 200" in code and "(restored)" in code
        shown = texts(at)                                           # nothing of the report reaches Markdown
        assert "request: PATCH" not in shown and "evil.example" not in "\n".join(errors)
        assert not any(b.key == "ops.groups.resume" for b in at.button)
        # the server is back to how it was, plus the one person added before the stop
        assert before < srv.member_ids(gid) and len(srv.member_ids(gid)) == 11
        [action] = list_actions(live.ctx)
        assert action.outcome == "defect" and action.source == "ui"
        # the Activity page shows the same report for the action, as plain text
        at = app("pages/activity.py")
        at.session_state["activity.table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
        at.run()
        assert_clean(at)
        assert any("removed group members it was not asked to remove" in e.value for e in at.error)
        assert [c.value for c in at.code] == [code]
        assert at.dataframe[0].value["result"].iloc[0].startswith("Server defect")  # the outcome in words


def test_users_panel_shows_the_defect_report(console_home):
    with odd_server(users=14, groups=[("Auditors", list(range(8)))], sloppy_add=True) as srv:
        make_connection(console_home, srv, "Odd", entra=False)
        gid = srv.group_id("Auditors")
        at = app("pages/users.py")
        key = at.session_state["users.table_key"]
        view = at.dataframe[0].value
        rows = [i for i, uid in enumerate(view["id"]) if uid not in srv.member_ids(gid)][:2]
        at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
        at.run()
        at.selectbox(key="ops.users.kind").set_value("Add to a group or role").run()
        label = next(x for x in at.selectbox(key="ops.users.group").options if x.startswith("Auditors "))
        at.selectbox(key="ops.users.group").set_value(label).run()
        at.button(key="ops.users.preview").click().run()
        at.button(key="ops.users.continue").click().run()
        at.text_area(key="ops.users.reason").input("audit team").run()
        at.button(key="ops.users.confirm_go").click().run()
        assert_clean(at)
        assert any("removed group members it was not asked to remove" in e.value for e in at.error)
        [code] = [c.value for c in at.code]
        assert "SERVER DEFECT" in code and "Auditors" in code and "8 member(s)" in code
        assert len(srv.member_ids(gid)) == 9
