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
    unescape,
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
    from console.directory.frames import SnapshotFrames
    from console.directory.store import store_snapshot

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
    from console.entra.health import record_job_status
    from console.entra.logstore import ingest_records

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
    # failures by error code: one card each, most frequent first, with its meaning and fix as wrapped text
    cards = [m.value for m in at.markdown if "What it means" in m.value]
    assert len(cards) == 2
    first = unescape(cards[0])
    assert first.startswith("**Token rejected** · SystemForCrossDomainIdentityManagementCredentialValidationFailure · "
                            "**6 records**")
    assert "Entra could not authenticate to 6clicks" in first and "Generate a new 6clicks token" in first
    assert unescape(cards[1]).startswith("**Conflict with an existing object** · EntryConflict · **2 records**")
    rate = chart(at, "Failure rate per cycle")
    assert rate["data"][0]["y"] == [0.0, 20.0, 60.0]
    assert rate["layout"]["yaxis"]["range"] == [0, 66.0]  # ends just above the data, not past 100 %
    size = chart(at, "Directory size")
    assert size["data"][0]["y"] == [200]
    shown = texts(at)
    assert "Provisioning is quarantined" in shown  # the alert
    assert "30 records in 3 cycles, 8 failures" in shown
    # the worst cycle is pointed at on the cycles chart
    notes = [a["text"] for a in cycles["layout"].get("annotations", [])]
    assert "worst: 6 of 10 failed (token rejected)" in notes


def log_table(at):
    return next(d.value for d in at.dataframe if "what" in d.value.columns)


def select_record(at, record_id: str) -> None:
    """Select the log table's row of ``record_id`` as a click does (the widget's selection state)."""
    ids = log_table(at)["id"].tolist()
    key = at.session_state["sync_history.table_key"]
    at.session_state[key] = {"selection": {"rows": [ids.index(record_id)], "columns": [], "cells": []}}
    at.run()


def test_log_table_filters_and_drill_down(console_home):
    from console.entra.logstore import ingest_records

    ctx, conn = offline(console_home)
    ingest_records(ctx, conn, records("c1", NOW - timedelta(hours=1), 6, failures=2))
    at = app(PAGE)
    assert_clean(at)
    table = log_table(at)
    assert len(table) == 6
    assert list(table.columns) == ["time", "what", "status", "cycle", "id"]
    assert "Entra failed to update Person c1 0: conflict with an existing object" in set(table["what"])
    assert set(table["cycle"]) == {"c1"}
    at.selectbox(key="sync_history.f_status").set_value("failure").run()
    assert_clean(at)
    assert len(at.dataframe[-1].value) == 2
    select_record(at, "c1-1")
    assert_clean(at)
    shown = texts(at)
    assert "Entra failed to create Person c1 1" in shown  # the record's sentence heads its details
    assert "**Conflict with an existing object** · EntryConflict" in shown
    assert "**What it means:** 6clicks already has an object" in shown and "**Suggested fix:**" in shown
    assert "**Entra's reason:** 409" in shown
    assert "step of 1" in shown  # the steps, as wrapped text
    props = next(d.value for d in at.dataframe if "property" in d.value.columns)
    assert props["after"].tolist() == ["New 1"] and props["property"].tolist() == ["display name"]
    # nobody in the directory: the record says so instead of linking
    assert "not in the latest directory snapshot" in shown
    at.text_input(key="sync_history.f_identity").set_value("Person c1 0").run()
    assert len(at.dataframe[-1].value) == 1
    # a cycle is found by the start of its id, as the pages show it
    at.text_input(key="sync_history.f_identity").set_value("").run()
    at.selectbox(key="sync_history.f_status").set_value("(any)").run()
    at.text_input(key="sync_history.f_cycle").set_value("c").run()
    assert len(at.dataframe[-1].value) == 6


def test_import_box_reports_counts(console_home):
    ctx, conn = offline(console_home)
    body = json.dumps([*records("imp", NOW - timedelta(hours=1), 4), {"id": "broken"}]).encode()
    at = app(PAGE)
    at.file_uploader(key="sync_history.upload").upload("download.json", body, "application/json").run()
    at.button(key="sync_history.import").click().run()
    assert_clean(at)
    shown = texts(at)
    assert "Imported: 4 new, 0 already known, 1 rejected." in shown
    from console.entra.logstore import log_count

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
    from console.entra.logstore import log_count

    assert log_count(ctx, conn) == 4


# --- the default view, a record's person, chart axes --------------------------------------------------------

def demo_like_records(ctx, conn) -> None:
    """Like the demo: a cycle every 40 minutes for 14 days; a failure spike ten days ago (8 failures in three
    cycles) and a token expiry six days ago (2 failures)."""
    from console.entra.logstore import ingest_records

    recs = []
    for k in range(14 * 36):
        recs += records(f"ok{k:03d}", NOW - timedelta(days=14) + timedelta(minutes=40 * k), 1)
    for i, (days, n, code) in enumerate([
            (10, 4, "InternalServerError"), (9.97, 2, "InternalServerError"), (9.94, 2, "InternalServerError"),
            (6, 1, "SystemForCrossDomainIdentityManagementCredentialValidationFailure"),
            (5.97, 1, "SystemForCrossDomainIdentityManagementCredentialValidationFailure")]):
        recs += records(f"bad{i}", NOW - timedelta(days=days), n + 2, failures=n, code=code)
    ingest_records(ctx, conn, recs)


def test_the_default_range_shows_the_recent_trouble(console_home):
    ctx, conn = offline(console_home, snapshot=True)
    demo_like_records(ctx, conn)
    at = app(PAGE)
    assert_clean(at)
    # 8 of the 10 failures are older than 7 days: the page opens on the 30 days that show them
    assert at.session_state["sync_history.range"] == "30 days"
    shown = texts(at)
    assert "10 failures" in shown
    notes = [a["text"] for a in chart(at, "Cycles over time")["layout"].get("annotations", [])]
    assert "worst: 4 of 6 failed (6clicks server error)" in notes
    assert "earlier than this range" not in shown
    # the admin narrows it: the page says what is hidden and offers one click back
    at.session_state["sync_history.range"] = "7 days"
    at.run()
    assert_clean(at)
    shown = texts(at)
    assert "8 of the 10 failed records of the last 30 days are earlier than this range." in shown
    assert "6clicks server error" in shown and "had 4 of 6 records failed" in shown
    assert "2 failures" in shown
    at.button(key="sync_history.widen").click().run()
    assert_clean(at)
    assert at.session_state["sync_history.range"] == "30 days"
    assert "earlier than this range" not in texts(at)


def test_a_failed_record_opens_its_details_and_links_to_the_person(console_home):
    from console.entra.logstore import ingest_records

    ctx, conn = offline(console_home, snapshot=True)  # synthetic people u000000.. (externalId ext-N)
    failed = records("cq", NOW - timedelta(hours=5), 1, failures=1,
                     code="SystemForCrossDomainIdentityManagementCredentialValidationFailure")[0]
    failed.update(provisioningAction="other", id="rec-failed",
                  sourceIdentity={"id": "ext-5", "displayName": "Ada Five", "identityType": "User"},
                  targetIdentity={"id": "", "displayName": "user000005@example.org", "identityType": "User"})
    failed["provisioningStatusInfo"]["errorInformation"].update(
        reason="The credentials (SecretToken) were rejected with 401.", errorCategory="NonServiceFailure",
        recommendedAction="Generate a new token.")
    created = records("ok", NOW - timedelta(hours=4), 1)[0]
    created.update(id="rec-created", provisioningAction="create",
                   sourceIdentity={"id": "ext-5", "displayName": "Ada Five", "identityType": "User"},
                   targetIdentity={"id": "u000005", "displayName": "user000005@example.org", "identityType": "User"})
    disabled = records("dis", NOW - timedelta(hours=1), 1)[0]
    disabled.update(id="rec-disabled", provisioningAction="disable", modifiedProperties=[
        {"displayName": "active", "oldValue": "True", "newValue": "False"}],
        sourceIdentity={"id": "ext-5", "displayName": "Ada Five", "identityType": "User"},
        targetIdentity={"id": "u000005", "displayName": "user000005@example.org", "identityType": "User"})
    ingest_records(ctx, conn, [failed, created, disabled])
    at = app(PAGE)
    assert_clean(at)
    at.selectbox(key="sync_history.f_status").set_value("failure").run()
    select_record(at, "rec-failed")
    assert_clean(at)
    shown = texts(at)
    assert "Entra failed to provision Ada Five" in shown
    assert "**Token rejected** · SystemForCrossDomainIdentityManagementCredentialValidationFailure" in shown
    assert "Entra could not authenticate to 6clicks" in shown and "Generate a new 6clicks token" in shown
    assert "**Kind of failure:** caused outside Entra's provisioning service" in shown
    assert "**Entra recommends:** Generate a new token." in shown
    # the failed create has no SCIM id: the Entra object id (= externalId) finds the person created since
    assert "found by Entra object id" in shown
    open_button = at.button(key="sync_history.open_target")
    assert "details and history" in open_button.label
    open_button.click().run()
    assert_clean(at)
    assert at.session_state["users.detail_id"] == "u000005"
    shown = texts(at)
    assert "SCIM id u000005" in shown  # the Users page shows that person's detail
    # their History merges Entra's records with the snapshots, newest first, in plain words
    history = next(m.value for m in at.markdown if "provisioning cycle" in unescape(m.value))
    lines = [unescape(line) for line in history.split("\n\n")]
    assert len(lines) == 3
    assert "Entra disabled the account (provisioning cycle dis)" in lines[0]
    assert "Entra created the account (provisioning cycle ok)" in lines[1]
    assert "Entra failed to provision the account (provisioning cycle cq): Entra could not authenticate" in lines[2]
    assert "3 entries, newest first; 1 failed provisioning record" in shown


def _no_sub_minute_ticks(axis: dict) -> None:
    stops = axis.get("tickformatstops") or []
    assert stops, "the axis sets its tick formats"
    for stop in stops:
        assert not any(code in stop["value"] for code in ("%L", "%f", "%S", "%s")), stop


def test_chart_axes_at_one_snapshot(console_home):
    ctx, conn = offline(console_home, snapshot=True)
    from console.entra.logstore import ingest_records

    ingest_records(ctx, conn, records("only", NOW - timedelta(minutes=30), 3))
    at = app(PAGE)
    assert_clean(at)
    for title in ("Directory size", "Cycles over time", "Failure rate per cycle"):
        axis = chart(at, title)["layout"]["xaxis"]
        _no_sub_minute_ticks(axis)
        lo, hi = (datetime.fromisoformat(v) for v in axis["range"])
        assert hi - lo >= timedelta(days=1), (title, axis["range"])  # a readable span around one point
    size = chart(at, "Directory size")
    x = datetime.fromisoformat(size["data"][0]["x"][0])
    lo, hi = (datetime.fromisoformat(v) for v in size["layout"]["xaxis"]["range"])
    assert lo < x < hi
    assert hi - x < timedelta(hours=2)  # the snapshot just taken sits near the right edge, not half a day early
    assert "One snapshot in this range" in texts(at)
    rate = chart(at, "Failure rate per cycle")["layout"]["yaxis"]["range"]
    assert rate == [0, 5.0]


def test_chart_axes_at_a_year(console_home):
    """A year of hourly-cron snapshots (compacted: only their counts are kept) and of daily log records."""
    from console.entra.logstore import ingest_records

    ctx, conn = offline(console_home, snapshot=True)
    with ctx.store.transaction() as db:
        db.executemany(
            "INSERT INTO snapshots (connection, taken_at, user_count, active_users, group_count, role_count,"
            " membership_count, event_count, fetch_seconds, files, warnings) VALUES (?,?,?,?,?,?,?,?,?,NULL,'[]')",
            [("Tenant", (NOW - timedelta(days=365) + timedelta(days=d)).isoformat(), 100 + d // 3, 90 + d // 4,
              9, 1, 300, 0, 1.0) for d in range(364)])
    recs = []
    for d in range(365):
        recs += records(f"y{d:03d}", NOW - timedelta(days=365 - d), 2, failures=1 if d % 50 == 0 else 0)
    ingest_records(ctx, conn, recs)
    at = app(PAGE, state={"sync_history.range": "All"})
    assert_clean(at)
    for title in ("Directory size", "Cycles over time", "Failure rate per cycle"):
        spec = chart(at, title)
        axis = spec["layout"]["xaxis"]
        _no_sub_minute_ticks(axis)
        assert {"dtickrange": ["M1", "M12"], "value": "%b %Y"} in axis["tickformatstops"]
        lo, hi = (datetime.fromisoformat(v) for v in axis["range"])
        assert timedelta(days=360) <= hi - lo <= timedelta(days=367), (title, axis["range"])
        xs = [datetime.fromisoformat(v) for v in spec["data"][0]["x"]]
        assert lo <= min(xs) and max(xs) <= hi
    assert len(chart(at, "Directory size")["data"][0]["x"]) == 365
    rate = chart(at, "Failure rate per cycle")["layout"]["yaxis"]["range"]
    assert rate == [0, 55.0]  # 1 of 2 failed at most: 50 % and a little room, not past 100 %


# --- more states: Graph without logs, a quiet period, a person's merged history -----------------------------

def test_with_graph_but_no_logs_the_page_offers_the_fetch(console_home):
    offline(console_home, entra=True, snapshot=True)
    at = app(PAGE)
    assert_clean(at)
    shown = texts(at)
    assert "Microsoft Graph is not configured" not in shown
    assert "**No provisioning logs in the last 7 days.** Fetch them now (button above)" in shown
    assert at.button(key="sync_history.fetch").label == "Fetch new logs now"
    assert at.session_state["sync_history.range"] == "7 days"  # nothing to lead to
    assert "earlier than this range" not in shown
    assert [m.value for m in at.metric if m.label == "Next cycle"] == ["not known yet"]


def test_without_failures_the_page_opens_on_seven_days_and_says_so(console_home):
    from console.entra.logstore import ingest_records

    ctx, conn = offline(console_home, snapshot=True)
    ingest_records(ctx, conn, records("quiet1", NOW - timedelta(days=12), 4) + records("quiet2", NOW - timedelta(hours=2), 4))
    at = app(PAGE)
    assert_clean(at)
    assert at.session_state["sync_history.range"] == "7 days"
    shown = texts(at)
    assert "4 records in 1 cycle, 0 failures" in shown
    assert "No failures in this period." in shown
    assert "earlier than this range" not in shown
    notes = [a["text"] for a in chart(at, "Cycles over time")["layout"].get("annotations", [])]
    assert not [n for n in notes if n.startswith("worst")]


def test_a_persons_history_merges_snapshot_changes_with_their_entra_records(console_home, sandbox_factory):
    """A real directory: the person's family name changes between two snapshots and Entra's records name them
    (one failure among them). Their History lists both, newest first, in words, and says which is which."""
    from console.directory.store import latest_snapshot
    from console.directory.take import take_snapshot
    from console.entra.logstore import ingest_records
    from console.tokens.service import TokenService
    from pages._history import KEY_OPEN_HISTORY
    from scim_client import patch as patches
    from tests.pages.conftest import make_connection

    box = sandbox_factory(seed_users=8, seed_groups=2, seed=11)
    live = make_connection(console_home, box, entra=False)
    person = latest_snapshot(live.ctx, live.conn).users.sort_values("userName").iloc[0]
    uid, user_name = str(person["id"]), str(person["userName"])
    with TokenService(live.ctx).scim_client("Tenant") as client:
        client.patch_user(uid, patches.request(patches.replace("name.familyName", "Okonkwo-Reyes")))
    take_snapshot(live.ctx, live.conn)
    seen_at = latest_snapshot(live.ctx, live.conn).taken_at
    failed = records("qq", seen_at - timedelta(hours=3), 1, failures=1,
                     code="SystemForCrossDomainIdentityManagementCredentialValidationFailure")[0]
    failed.update(id="p-failed", provisioningAction="update",
                  sourceIdentity={"id": "entra-obj-1", "displayName": "The Person", "identityType": "User"},
                  targetIdentity={"id": uid, "displayName": user_name, "identityType": "User"})
    later = records("rr", seen_at + timedelta(minutes=5), 1)[0]
    later.update(id="p-disabled", provisioningAction="disable", modifiedProperties=[],
                 sourceIdentity={"id": "entra-obj-1", "displayName": "The Person", "identityType": "User"},
                 targetIdentity={"id": uid, "displayName": user_name, "identityType": "User"})
    other = records("rr", seen_at + timedelta(minutes=5), 1)[0]  # someone else: not in their History
    other.update(id="p-other", targetIdentity={"id": "somebody-else", "displayName": "x@example.org",
                                               "identityType": "User"})
    ingest_records(live.ctx, live.conn, [failed, later, other])
    at = app("pages/users.py", state={"users.detail_id": uid, KEY_OPEN_HISTORY: uid})
    assert_clean(at)
    history = next(m.value for m in at.markdown if "provisioning cycle" in unescape(m.value))
    lines = [unescape(line) for line in history.split("\n\n")]
    assert len(lines) == 3, lines
    assert "Entra disabled the account (provisioning cycle rr)" in lines[0]
    assert "Family name changed from" in lines[1] and "Okonkwo-Reyes" in lines[1]
    assert lines[0].startswith(":green-badge[:material/check: done] ")
    assert lines[1].startswith(":blue-badge[:material/photo_camera: snapshot] ")  # seen between two snapshots
    assert lines[2].startswith(":red-badge[failed] ")
    assert "Entra failed to update the account (provisioning cycle qq): Entra could not authenticate" in lines[2]
    shown = texts(at)
    assert "3 entries, newest first; 1 failed provisioning record" in shown
    for internal in ("member_removed", "user_changed", "familyName", "jwt-exp"):
        assert internal not in history
