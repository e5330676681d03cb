"""The Reconcile page (AppTest) against the demo sandbox: a run shows each category's count and table, orphans
selected open the operations panel (preview, reason, journal), a missing person can be provisioned on demand, and
the run's CSV is offered."""

from __future__ import annotations

import pytest

from tests.pages.conftest import app, assert_clean, texts
from tests.sandbox_entra.helpers import planted_demo, status

RECONCILE = "pages/reconcile.py"


@pytest.fixture(scope="module")
def demo_box():
    yield from planted_demo()


def test_reconcile_page_runs_and_acts_through_operations(console_home, demo_box):
    from tests.pages.conftest import make_connection

    make_connection(console_home, demo_box, "Tenant")
    planted = status(demo_box)["demo"]["planted"]
    at = app(RECONCILE)
    assert_clean(at)
    assert "Not reconciled yet" in texts(at)
    next(b for b in at.button if b.label == "Reconcile now").click().run()
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Orphans"] == str(len(planted["orphans"])) and metrics["Missing"] == str(len(planted["missing"]))
    assert metrics["Not managed"] == str(len(planted["notManagedBySCIM"]))
    assert [t.label.split(" (")[0] for t in at.tabs][:3] == ["Not managed by SCIM", "Orphans", "Missing"]
    orphans = next(df for df in at.dataframe if "reason" in df.value.columns)
    assert sorted(orphans.value["userName"]) == sorted(o["userName"] for o in planted["orphans"])
    assert any(b.label == "Download this run as CSV (evidence)" for b in at.get("download_button"))
    # select the orphans: the usual operations panel acts on them (preview, reason, journal)
    key = f"reconcile.table.orphans.{len(orphans.value)}"
    at.session_state[key] = {"selection": {"rows": list(range(len(orphans.value))), "columns": [], "cells": []}}
    at.run()
    assert at.selectbox(key="ops.users.kind").value is None   # nothing preselected
    at.selectbox(key="ops.users.kind").set_value("Deactivate").run()
    at.button(key="ops.users.preview").click().run()
    assert_clean(at)
    assert "Preview: deactivate" in texts(at)
    at.button(key="ops.users.continue").click().run()
    at.text_area(key="ops.users.reason").input("orphans found by reconciliation").run()
    at.button(key="ops.users.confirm_go").click().run()
    assert_clean(at)
    from console.operations.audit import list_actions
    from tests.pages.conftest import open_ctx
    [action] = list_actions(open_ctx(console_home))
    assert action.kind == "deactivate" and action.reason == "orphans found by reconciliation"
    # the alert ends with the deactivation, before any new reconciliation
    from console.connections import ConnectionRepo
    from console.notify.alerts import orphans_alert
    ctx = open_ctx(console_home)
    assert orphans_alert(ctx, ConnectionRepo(ctx).get("Tenant")) is None
    # a second run finds no orphan left
    next(b for b in at.button if b.label == "Reconcile now").click().run()
    assert {m.label: m.value for m in at.metric}["Orphans"] == "0"
