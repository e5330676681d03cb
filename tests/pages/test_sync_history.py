"""Sync history page (AppTest): designed empty states, charts with their data checked, quarantine shading,
times in the operator's zone, import box, fetch-now against the Graph emulator, log table drill-down."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.pages.conftest import (
    app,
    assert_clean,
    make_connection,
    open_ctx,
    plotly_specs,
    synthetic_frames,
    texts,
)

PAGE = "pages/sync_history.py"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def records(cycle: str, at: datetime, n: int, failures: int = 0, code: str = "EntryConflict") -> list[dict]:
    out = []
    for i in range(n):
        failed = i < failures
        out.append({
            "id": f"{cycle}-{i}", "activityDateTime": (at + timedelta(seconds=i)).isoformat(), "cycleId": cycle,
            "changeId": f"{cycle}-chg-{i}", "provisioningAction": "create" if i % 2 else "update",
            "provisioningStatusInfo": {"status": "failure" if failed else "success",
                                       "errorInformation": {"errorCode": code, "reason": "409"} if failed else None},
            "provisioningSteps": [{"name": "EntryExportUpdate", "provisioningStepType": "export",
                                   "status": "failure" if failed else "success", "description": f"step of {i}",
                                   "details": {"ReportableIdentifier": f"user{i}"}}],
            "modifiedProperties": [{"displayName": "displayName", "oldValue": "Old", "newValue": f"New {i}"}],
            "sourceIdentity": {"id": f"src-{cycle}-{i}", "displayName": f"Person {cycle} {i}", "identityType": "User"},
            "targetIdentity": {"id": f"tgt-{cycle}-{i}", "displayName": f"Person {cycle} {i}", "identityType": "User"},
        })
    return out


def offline(home, *, entra: bool = False, snapshot: bool = False) -> tuple:
    """A connection that needs no server: its context, the connection, and optionally one stored snapshot."""
    from console.connections import Connection, ConnectionRepo, EntraSettings
    from console.snapshots import SnapshotFrames, store_snapshot

    ctx = open_ctx(home)
    settings = EntraSettings(tenant_id="t", client_id="c", service_principal_id="sp", job_id="scim.1",
                             graph_base_url="https://graph.example.com/v1.0",
                             login_base_url="https://login.example.com") if entra else None
    conn = ConnectionRepo(ctx).add(Connection(name="Tenant", api_url="https://tenant.example.com/api",
                                              entra=settings))
    if snapshot:
        frames = synthetic_frames(200, 10)
        store_snapshot(ctx, conn.name, SnapshotFrames(frames.users, frames.groups, frames.memberships))
    return ctx, conn


def chart(at, title: str) -> dict:
    for spec in plotly_specs(at):
        if title in json.dumps(spec.get("layout", {}).get("title", "")):
            return spec
    raise AssertionError(f"no chart titled {title!r}: {[s.get('layout', {}).get('title') for s in plotly_specs(at)]}")


def test_without_graph_settings_or_logs_the_page_says_what_to_do(console_home):
    offline(console_home)
    at = app(PAGE)
    assert_clean(at)
    shown = texts(at)
    assert "Microsoft Graph is not configured" in shown and "import a download" in shown
    assert "No provisioning logs yet" in shown
    assert "No directory snapshots yet" in shown
    assert plotly_specs(at) == []
    assert not at.error


def test_charts_show_the_stored_data_in_the_operators_zone(console_home, monkeypatch):
    monkeypatch.setenv("TZ", "Australia/Sydney")
    from console.entra_logs import ingest_records
    from console.job_health import record_job_status

    ctx, conn = offline(console_home, snapshot=True)
    c1, c2, c3 = NOW - timedelta(hours=3), NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    ingest_records(ctx, conn, records("c1", c1, 10) + records("c2", c2, 10, failures=2)
                   + records("c3", c3, 10, failures=6,
                             code="SystemForCrossDomainIdentityManagementCredentialValidationFailure"))
    q_began = NOW - timedelta(minutes=70)
    record_job_status(ctx, conn, {
        "schedule": {"interval": "PT40M", "state": "Active"},
        "status": {"code": "Quarantine", "quarantine": {"currentBegan": q_began.isoformat(),
                                                         "reason": "EncounteredQuarantineException"},
                   "lastExecution": {"activityIdentifier": "c3", "timeBegan": c3.isoformat(),
                                     "timeEnded": (c3 + timedelta(seconds=9)).isoformat(), "state": "Failed"}}})
    at = app(PAGE)
    assert_clean(at)
    # the only errors are the alerts (quarantine, credential failure), no failure of the page itself
    assert sorted(e.value.split("**")[1] for e in at.error) == [
        "Entra cannot authenticate to 6clicks", "Provisioning is quarantined"], [e.value for e in at.error]
    cycles = chart(at, "Cycles over time")
    by_name = {t["name"]: t for t in cycles["data"]}
    assert by_name["success"]["y"] == [10, 8, 4] and by_name["failure"]["y"] == [0, 2, 6]
    assert by_name["success"]["customdata"] == ["c1", "c2", "c3"]
    # x is the operator's wall-clock time (Sydney), not UTC
    from zoneinfo import ZoneInfo

    first_local = c1.astimezone(ZoneInfo("Australia/Sydney")).replace(tzinfo=None)
    assert by_name["success"]["x"][0].startswith(first_local.isoformat()[:16])
    # the quarantine period is shaded, from its start
    shapes = cycles["layout"].get("shapes", [])
    assert len(shapes) == 1
    assert shapes[0]["x0"].startswith(q_began.astimezone(ZoneInfo("Australia/Sydney")).replace(tzinfo=None)
                                      .isoformat()[:16])
    actions = chart(at, "Actions by type")
    totals = {}
    for trace in actions["data"]:
        for x, y in zip(trace["x"], trace["y"], strict=True):
            totals[(x, trace["name"])] = y
    assert sum(v for (_, s), v in totals.items() if s == "failure") == 8
    assert sum(totals.values()) == 30
    errors = chart(at, "Failures by error code")
    assert errors["data"][0]["y"][-1] == "SystemForCrossDomainIdentityManagementCredentialValidationFailure"
    assert errors["data"][0]["x"][-1] == 6
    rate = chart(at, "Failure rate per cycle")
    assert rate["data"][0]["y"] == [0.0, 20.0, 60.0]
    size = chart(at, "Directory size")
    assert size["data"][0]["y"] == [200]
    shown = texts(at)
    assert "Provisioning is quarantined" in shown  # the alert
    assert "generate a new 6clicks token" in shown.lower()  # the suggested fix next to the error code
    assert "30 records in 3 cycles" in shown


def test_log_table_filters_and_drill_down(console_home):
    from console.entra_logs import ingest_records

    ctx, conn = offline(console_home)
    ingest_records(ctx, conn, records("c1", NOW - timedelta(hours=1), 6, failures=2))
    at = app(PAGE)
    assert_clean(at)
    table = at.dataframe[-1].value
    assert len(table) == 6
    at.selectbox(key="sync_history.f_status").set_value("failure").run()
    assert_clean(at)
    assert len(at.dataframe[-1].value) == 2
    at.selectbox(key="sync_history.record").set_value("c1-1").run()
    assert_clean(at)
    shown = texts(at)
    assert "EntryConflict" in shown and "Suggested fix" in shown
    frames = [d.value for d in at.dataframe]
    steps = next(f for f in frames if "description" in f.columns)
    assert steps["description"].tolist() == ["step of 1"]
    props = next(f for f in frames if "property" in f.columns)
    assert props["new"].tolist() == ["New 1"]
    at.text_input(key="sync_history.f_identity").set_value("Person c1 0").run()
    assert len(at.dataframe[-1].value) == 1


def test_import_box_reports_counts(console_home):
    ctx, conn = offline(console_home)
    body = json.dumps([*records("imp", NOW - timedelta(hours=1), 4), {"id": "broken"}]).encode()
    at = app(PAGE)
    at.file_uploader(key="sync_history.upload").upload("download.json", body, "application/json").run()
    at.button(key="sync_history.import").click().run()
    assert_clean(at)
    shown = texts(at)
    assert "Imported: 4 new, 0 already known, 1 rejected." in shown
    from console.entra_logs import log_count

    assert log_count(ctx, conn) == 4
    assert chart(at, "Cycles over time")["data"][0]["y"] == [4]


@pytest.mark.slow
def test_fetch_now_against_the_graph_emulator(console_home, sandbox_factory):
    box = sandbox_factory(seed_users=20, seed_groups=3, seed=4)
    box.admin("POST", "/sandbox-admin/entra/cycles", {"count": 2})
    make_connection(console_home, box, snapshot=False)
    at = app(PAGE)
    assert_clean(at)
    assert "No provisioning logs" in texts(at)
    at.button(key="sync_history.fetch").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    shown = texts(at)
    assert "Fetched:" in shown and "new" in shown
    assert chart(at, "Cycles over time")["data"]
    assert any(m.label == "Job status" and m.value not in ("—", "not read yet") for m in at.metric)


def test_bad_files_in_the_import_box_are_reported_not_raised(console_home):
    ctx, conn = offline(console_home)
    good = json.dumps(records("ok", NOW - timedelta(hours=2), 3))
    truncated = good[: good.index('"id": "ok-2"') + 10]
    at = app(PAGE)
    at.file_uploader(key="sync_history.upload").set_value([
        ("cut.json", truncated.encode(), "application/json"),
        ("noise.csv", bytes(range(256)) * 4, "text/csv"),
        ("utf16.json", json.dumps(records("u16", NOW - timedelta(hours=1), 2)).encode("utf-16"), "application/json"),
    ]).run()
    at.button(key="sync_history.import").click().run()
    assert_clean(at)
    shown = texts(at)
    assert "Imported: 4 new, 0 already known, 1 rejected." in shown, shown
    assert "cut off" in shown
    frames = [d.value for d in at.dataframe]
    rejected = next(f for f in frames if "Why" in f.columns)
    assert rejected["Where"].tolist() == ["noise.csv"]
    from console.entra_logs import log_count

    assert log_count(ctx, conn) == 4
