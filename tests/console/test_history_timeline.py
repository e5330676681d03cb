"""The merged timeline (console.timeline), the next cycle and the recent trouble (console.entra.health): a
person's History joins change events with their Entra records by SCIM id, Entra object id and user name; the
Overview's recent changes count what the Sync history page counts; the default range shows the worst failing
cycle of the last 30 days; a record's target resolves to the SCIM id of the latest snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import memory_credentials
from console.directory.events import describe_event
from console.directory.frames import build_frames
from console.directory.store import latest_snapshot, store_snapshot
from console.entra.catalogue import error_category_text, error_title
from console.entra.health import RecentTrouble, choose_range, job_overview, recent_trouble, record_job_status
from console.entra.logstore import ingest_records, query_logs, range_start, summarise
from console.entra.schedule import next_cycle, next_cycle_words, relative
from console.store import Store
from console.timeline import (
    SOURCE_DIRECTORY,
    SOURCE_ENTRA,
    person_timeline,
    recent_activity,
    record_sentence,
    resolve_target,
)

NOW = datetime.now(UTC).replace(microsecond=0)
RANGES = {"24 hours": timedelta(hours=24), "7 days": timedelta(days=7), "30 days": timedelta(days=30), "All": None}


@dataclass
class U:
    id: str
    user_name: str
    active: bool = True
    email: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None
    external_id: str | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    raw: dict = field(default_factory=dict)


@dataclass
class G:
    id: str
    display_name: str
    member_ids: list[str] | None = None
    external_id: str | None = None
    raw: dict = field(default_factory=dict)


@pytest.fixture
def ctx(tmp_path) -> Context:
    return Context(data_dir=tmp_path, store=Store.open(tmp_path), credentials=memory_credentials())


@pytest.fixture
def conn(ctx) -> Connection:
    # stored: rows for a connection that does not exist are refused (migration 0006)
    return ConnectionRepo(ctx).add(Connection(name="acme", api_url="https://acme.example.com/api"))


def snap(ctx, conn, users, groups, at):
    frames, ur, gr = build_frames(users, groups, conn.is_role)
    return store_snapshot(ctx, conn.name, frames, ur, gr, taken_at=at)


def record(rid: str, at: datetime, *, cycle: str = "cyc-1", action: str = "update", status: str = "success",
           code: str | None = None, itype: str = "User", source_id: str = "obj-1", source_name: str = "Ann Lee",
           target_id: str = "", target_name: str = "ann@x.com", props: list | None = None,
           steps: list | None = None, category: str | None = None) -> dict:
    error = {"errorCode": code, "errorCategory": category, "reason": f"reason {rid}"} if code else None
    return {"id": rid, "activityDateTime": at.isoformat(), "cycleId": cycle, "changeId": f"chg-{rid}",
            "provisioningAction": action, "provisioningStatusInfo": {"status": status, "errorInformation": error},
            "provisioningSteps": steps or [], "modifiedProperties": props or [],
            "sourceIdentity": {"id": source_id, "displayName": source_name, "identityType": itype},
            "targetIdentity": {"id": target_id, "displayName": target_name, "identityType": itype}}


# ------------------------------------------------------------------------------------------------- words

def test_record_sentences_say_what_entra_did():
    assert record_sentence("disable", "success", "User", "Ann Lee") == "Entra disabled Ann Lee"
    assert record_sentence("disable", "success", "User", "Ann Lee", person=True, cycle_id="7f22bad9-a9") == \
        "Entra disabled the account (provisioning cycle 7f22bad9)"
    failed = record_sentence("update", "failure", "Group", "Finance", error_code="InternalServerError",
                             cycle_id="a04f189a-81ba")
    assert failed.startswith("Entra failed to update group Finance (provisioning cycle a04f189a): 6clicks answered 500")
    short = record_sentence("update", "failure", "Group", "Finance", error_code="InternalServerError", meaning=False)
    assert short == "Entra failed to update group Finance: 6clicks server error"
    assert record_sentence("update", "success", "User", "x", person=True, properties=["user name", "e-mail"]) == \
        "Entra updated the account: user name, e-mail"
    assert record_sentence("stagedDelete", "success", "User", "Bo") == "Entra held back the deletion of Bo"
    assert record_sentence("other", "failure", "User", "Bo", error_code="SomeNewCode", meaning=False) == \
        "Entra failed to provision Bo: SomeNewCode"
    assert "with a warning" in record_sentence("update", "warning", "Group", "G",
                                               error_code="SystemForCrossDomainIdentityManagementBadResponse")
    assert error_title("SystemForCrossDomainIdentityManagementCredentialValidationFailure") == "token rejected"
    assert error_title("Contoso6clicksEntryConflict") == "conflict with an existing object"
    assert error_category_text("NonServiceFailure").startswith("caused outside Entra's provisioning service")
    assert error_category_text("brandNewCategory") == "brandNewCategory"


def test_events_in_plain_words():
    removed = {"kind": "member_removed", "subject_type": "group", "subject_name": "Sales", "related_name": "bo@x.com"}
    assert describe_event(removed) == "bo@x.com removed from group Sales"
    assert describe_event(removed, about_person=True) == "Removed from group Sales"
    changed = {"kind": "user_changed", "subject_name": "bo@x.com", "attribute": "email", "old_value": "a@x.com",
               "new_value": None}
    assert describe_event(changed) == "bo@x.com: e-mail changed from “a@x.com” to (empty)"
    assert describe_event({"kind": "user_deactivated", "subject_name": "bo@x.com"}) == "bo@x.com deactivated"
    assert describe_event({"kind": "user_created", "new_value": "inactive"}, about_person=True) == \
        "Created in 6clicks (inactive)"
    assert describe_event({"kind": "role_created", "subject_type": "role", "subject_name": "Role - A"}) == \
        "Role Role - A created"


# ------------------------------------------------------------------------------------------------ targets

def test_a_records_target_resolves_to_the_scim_id_of_the_latest_snapshot(ctx, conn):
    s = snap(ctx, conn, [U("u1", "ann@x.com", external_id="obj-1", given_name="Ann", family_name="Lee"),
                         U("u2", "Bo@X.com", external_id="obj-2")], [G("g1", "Finance", ["u1"], "gobj-1")],
             NOW - timedelta(hours=1))
    users, groups = s.users, s.groups
    by_id = resolve_target({"identity_type": "User", "target_id": "u2", "source_id": "zzz"}, users, groups)
    assert (by_id.scim_id, by_id.matched_by) == ("u2", "SCIM id")
    # a failed create has no target id: the Entra object id (externalId) finds the person created later
    by_object = resolve_target({"identity_type": "User", "target_id": None, "source_id": "obj-1",
                                "source_name": "Ann Lee"}, users, groups)
    assert (by_object.scim_id, by_object.label, by_object.matched_by) == ("u1", "Ann Lee", "Entra object id")
    by_name = resolve_target({"identity_type": "User", "target_name": "bo@x.com", "source_id": "other"}, users,
                             groups)
    assert (by_name.scim_id, by_name.matched_by) == ("u2", "user name")
    anchor = resolve_target({"identity_type": "User"}, users, groups,
                            {"provisioningSteps": [{"details": {"TargetAnchor": "u1"}}]})
    assert anchor.scim_id == "u1"
    group = resolve_target({"identity_type": "Group", "target_id": "", "source_id": "gobj-1"}, users, groups)
    assert (group.kind, group.scim_id) == ("group", "g1")
    gone = resolve_target({"identity_type": "User", "target_id": "u9", "source_name": "Cy Gone"}, users, groups)
    assert (gone.scim_id, gone.label) == (None, "Cy Gone")
    assert resolve_target({"identity_type": "User", "source_name": "X"}, None, None).scim_id is None


# ------------------------------------------------------------------------------------------- a person

def test_a_persons_history_merges_snapshots_and_entra_records(ctx, conn):
    t0 = NOW - timedelta(days=3)
    snap(ctx, conn, [U("u1", "ann.old@x.com", external_id="obj-1"), U("u2", "bo@x.com", external_id="obj-2")],
         [G("g1", "Sales", ["u1"])], t0)
    ingest_records(ctx, conn, [
        # by SCIM id; by Entra object id (a failed create before the id existed); by the old user name
        record("r-disable", t0 + timedelta(hours=2), cycle="cyc-disable", action="disable", target_id="u1",
               props=[{"displayName": "active", "oldValue": "True", "newValue": "False"}]),
        record("r-fail", t0 - timedelta(hours=5), cycle="cyc-fail", action="create", status="failure",
               code="SystemForCrossDomainIdentityManagementCredentialValidationFailure", source_id="obj-1",
               target_name="nobody"),
        record("r-name", t0 + timedelta(hours=1), cycle="cyc-name", target_name="ANN.OLD@x.com", source_id="?",
               props=[{"displayName": "userName", "oldValue": "a", "newValue": "ann.old@x.com"},
                      {"displayName": 'emails[type eq "work"].value', "oldValue": "a", "newValue": "b"}]),
        # someone else, and a group record naming nobody
        record("r-other", t0 + timedelta(hours=2), target_id="u2", source_id="obj-2", target_name="bo@x.com"),
        record("r-group", t0 + timedelta(hours=2), itype="Group", target_id="g1", source_id="gobj",
               target_name="Sales"),
    ])
    # Entra disabled her and renamed her; the next snapshot sees both, and her leaving Sales
    snap(ctx, conn, [U("u1", "ann@x.com", active=False, external_id="obj-1"), U("u2", "bo@x.com",
                                                                                    external_id="obj-2")],
         [G("g1", "Sales", [])], t0 + timedelta(hours=3))
    tl = person_timeline(ctx, conn, "u1")
    assert list(tl["at"]) == sorted(tl["at"], reverse=True)
    assert set(tl["record_id"].dropna()) == {"r-disable", "r-fail", "r-name"}
    whats = tl["what"].tolist()
    assert "Entra disabled the account (provisioning cycle cyc-disa)" in whats
    assert "Entra updated the account (provisioning cycle cyc-name): user name, e-mail" in whats
    failed = next(w for w in whats if w.startswith("Entra failed"))
    assert failed.startswith("Entra failed to create the account (provisioning cycle cyc-fail): Entra could not "
                             "authenticate to 6clicks")
    assert {"Deactivated", "Removed from group Sales",
            "User name changed from “ann.old@x.com” to “ann@x.com”"} <= set(whats)
    assert set(tl["source"]) == {SOURCE_ENTRA, SOURCE_DIRECTORY}
    assert tl.iloc[-1]["record_id"] == "r-fail"  # the oldest, last
    # at the same moment as the snapshot that saw it, Entra's action comes first (newest first otherwise)
    assert tl.loc[tl["source"] == SOURCE_DIRECTORY, "at"].nunique() == 1
    # someone with nothing recorded
    assert person_timeline(ctx, conn, "u-nobody").empty


# --------------------------------------------------------------------------------------- recent activity

def test_recent_activity_counts_what_sync_history_counts_and_knows_a_baseline(ctx, conn):
    since = range_start(timedelta(days=7), NOW)
    ingest_records(ctx, conn, [record(f"a{i}", NOW - timedelta(days=2, minutes=i), cycle="c-a") for i in range(5)]
                   + [record(f"b{i}", NOW - timedelta(days=1, minutes=i), cycle="c-b", status="failure",
                             code="InternalServerError") for i in range(2)]
                   + [record("old", NOW - timedelta(days=12), cycle="c-old")])
    act = recent_activity(ctx, conn, since)
    assert act.snapshots == 0 and not act.baseline_only
    s = summarise(ctx, conn, since=since)
    assert (act.entra_records, act.entra_cycles, act.entra_failures) == (s.total, len(s.cycles), 2) == (7, 2, 2)
    assert len(act.entries) == 7 and act.entries["what"].str.startswith("Entra").all()
    snap(ctx, conn, [U("u1", "ann@x.com")], [], NOW - timedelta(hours=3))
    act = recent_activity(ctx, conn, since)
    assert act.baseline_only and act.directory_changes == 0 and act.first_snapshot_at is not None
    snap(ctx, conn, [U("u1", "ann@x.com", active=False)], [], NOW - timedelta(hours=1))
    act = recent_activity(ctx, conn, since)
    assert not act.baseline_only and act.directory_changes == 1
    assert act.entries.iloc[0]["what"] == "ann@x.com deactivated"
    assert act.entries.iloc[0]["source"] == SOURCE_DIRECTORY


# ------------------------------------------------------------------------------------------- next cycle

def job(code="Active", *, ended=None, cycle="c1", schedule_state="Active", quarantine=None):
    status = {"code": code, "lastExecution": {"activityIdentifier": cycle,
                                              "timeBegan": (ended - timedelta(minutes=1)).isoformat() if ended else "",
                                              "timeEnded": ended.isoformat() if ended else "", "state": "Succeeded"}}
    if quarantine:
        status["quarantine"] = quarantine
    return {"schedule": {"interval": "PT40M", "state": schedule_state}, "status": status}


def test_the_next_cycle_is_computed_once_with_its_words(ctx, conn):
    fmt = lambda t: t.strftime("%H:%M")  # noqa: E731
    assert next_cycle(job_overview(ctx, conn, NOW), NOW).state == "unknown"
    record_job_status(ctx, conn, job(ended=NOW - timedelta(minutes=10)), NOW)
    ov = job_overview(ctx, conn, NOW)
    nc = next_cycle(ov, NOW)
    assert (nc.state, nc.at) == ("expected", ov.next_expected) and nc.at == NOW + timedelta(minutes=30)
    short, sentence = next_cycle_words(nc, fmt, NOW)
    assert short == "in 30 min"
    assert sentence == f"Expected {fmt(nc.at)} (in 30 min; cycles run every 40 min)."
    later = NOW + timedelta(minutes=45)
    assert next_cycle(ov, later).state == "due"
    assert next_cycle_words(next_cycle(ov, later), fmt, later)[0] == "due now"
    ov_overdue = job_overview(ctx, conn, NOW + timedelta(hours=3))
    assert next_cycle(ov_overdue, NOW + timedelta(hours=3)).state == "overdue"
    record_job_status(ctx, conn, job(ended=NOW - timedelta(minutes=10), schedule_state="Paused"), NOW)
    assert next_cycle_words(next_cycle(job_overview(ctx, conn, NOW), NOW), fmt, NOW)[0] == "paused"
    retry = NOW + timedelta(hours=6)
    record_job_status(ctx, conn, job("Quarantine", ended=NOW - timedelta(minutes=10), quarantine={
        "reason": "EncounteredQuarantineException", "nextAttempt": retry.isoformat()}), NOW)
    q = next_cycle(job_overview(ctx, conn, NOW), NOW)
    assert (q.state, q.at) == ("quarantine", retry)
    assert next_cycle_words(q, fmt, NOW)[1] == f"In quarantine: Entra tries again {fmt(retry)} (in 6 h)."
    assert relative(NOW - timedelta(days=3), NOW) == "3 days ago" and relative(NOW + timedelta(seconds=20), NOW) \
        == "in 1 min"


# ---------------------------------------------------------------------------------------- recent trouble

def demo_like(ctx, conn) -> None:
    """Like the demo: 40-minute cycles for 14 days; a spike ten days ago (8 failures in three cycles) and a
    token expiry six days ago (2 credential failures)."""
    recs = []
    for k in range(14 * 36):
        at = NOW - timedelta(days=14) + timedelta(minutes=40 * k)
        recs.append(record(f"ok-{k}", at, cycle=f"cyc-{k:03d}"))
    for i, (days, n, code) in enumerate([(10, 4, "InternalServerError"), (9.97, 2, "InternalServerError"),
                                         (9.94, 2, "InternalServerError"),
                                         (6, 1, "SystemForCrossDomainIdentityManagementCredentialValidationFailure"),
                                         (5.8, 1, "SystemForCrossDomainIdentityManagementCredentialValidationFailure")]):
        for j in range(n):
            recs.append(record(f"f-{i}-{j}", NOW - timedelta(days=days), cycle=f"bad-{i}", status="failure",
                               code=code))
    ingest_records(ctx, conn, recs)


def test_the_default_range_shows_the_worst_failures_of_the_last_30_days(ctx, conn):
    assert choose_range(recent_trouble(ctx, conn, NOW), RANGES, "7 days") == "7 days"  # nothing: the default
    demo_like(ctx, conn)
    trouble = recent_trouble(ctx, conn, NOW)
    assert trouble.failures == 10
    worst = trouble.worst()
    assert (worst["cycle_id"], worst["failures"], worst["error_code"]) == ("bad-0", 4, "InternalServerError")
    assert choose_range(trouble, RANGES, "7 days") == "30 days"
    since = range_start(timedelta(days=7), NOW)
    assert trouble.failures_before(since) == 8
    assert trouble.worst(before=since)["cycle_id"] == "bad-0"
    assert trouble.failures_before(range_start(timedelta(days=30), NOW)) == 0
    # only recent trouble: the smallest range that shows it
    recent = RecentTrouble(since=NOW - timedelta(days=30), now=NOW, cycles=pd.DataFrame({
        "cycle_id": ["x"], "start": [pd.Timestamp(NOW - timedelta(hours=3))], "failures": [3], "total": [9],
        "error_code": ["Timeout"]}))
    assert choose_range(recent, RANGES, "7 days") == "24 hours"
    recent.quarantine_starts = [NOW - timedelta(days=2)]
    assert choose_range(recent, RANGES, "7 days") == "7 days"


def test_a_cycle_can_be_found_by_the_start_of_its_id(ctx, conn):
    ingest_records(ctx, conn, [record("r1", NOW, cycle="7f22bad9-a973"), record("r2", NOW, cycle="7f2_other"),
                               record("r3", NOW, cycle="8a")])
    assert query_logs(ctx, conn, cycle_id="7f22bad9")["id"].tolist() == ["r1"]
    assert query_logs(ctx, conn, cycle_id="7f2_")["id"].tolist() == ["r2"]  # "_" is not a wildcard
    assert query_logs(ctx, conn, cycle_id="8a")["id"].tolist() == ["r3"]


def test_latest_snapshot_users_are_used_when_none_are_given(ctx, conn):
    snap(ctx, conn, [U("u1", "ann@x.com", external_id="obj-1")], [], NOW - timedelta(hours=1))
    ingest_records(ctx, conn, [record("r1", NOW, source_id="obj-1", target_name="x")])
    assert latest_snapshot(ctx, conn) is not None
    assert person_timeline(ctx, conn, "u1")["record_id"].tolist() == ["r1"]
