"""Entra provisioning logs: variants, imports (JSON, envelope, truncated, CSV bundle in several encodings),
deduplication, rejections with reasons, aggregations and the log table. Graph fetching against the emulator is
in test_history_graph.py."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import memory_credentials
from console.entra.files import import_files
from console.entra.logstore import get_record, ingest_records, log_count, query_logs, summarise
from console.entra.records import normalise, record_steps
from console.store import Store

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ctx(tmp_path) -> Context:
    made = Context(data_dir=tmp_path, store=Store.open(tmp_path), credentials=memory_credentials())
    ConnectionRepo(made).add(Connection(name="acme", api_url="https://acme.example.com/api"))
    return made


def rec(i: int, *, cycle: str = "c1", action: str = "create", status: str = "success", code: str | None = None,
        at: datetime | None = None, name: str | None = None) -> dict:
    at = at or NOW - timedelta(minutes=i)
    error = {"errorCode": code, "reason": f"reason {code}", "errorCategory": "failure",
             "recommendedAction": None, "additionalDetails": None} if code else None
    return {
        "id": f"log-{i}", "activityDateTime": at.strftime("%Y-%m-%dT%H:%M:%S.1234567Z"), "cycleId": cycle,
        "changeId": f"chg-{i}", "jobId": "scim.abc", "durationInMilliseconds": 120,
        "provisioningAction": action,
        "provisioningStatusInfo": {"status": status, "errorInformation": error},
        "provisioningSteps": [{"name": "EntryImportAdd", "provisioningStepType": "import", "status": "success",
                               "description": "Received User", "details": {"k": "v"}},
                              {"name": "EntryExportAdd", "provisioningStepType": "export", "status": status,
                               "description": "Created", "details": {}}],
        "modifiedProperties": [{"displayName": "userName", "oldValue": None, "newValue": f"u{i}@x.com"}],
        "sourceIdentity": {"id": f"src-{i}", "displayName": name or f"User {i}", "identityType": "User",
                           "details": {}},
        "targetIdentity": {"id": f"tgt-{i}", "displayName": name or f"User {i}", "identityType": "User",
                           "details": {}},
        "servicePrincipal": {"id": "sp1", "displayName": "6clicks"},
        "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
        "tenantId": "t1",
    }


def test_normalise_tolerates_variants_and_keeps_unknown_values():
    r = rec(1)
    variant = {
        "ID": "v1", "ActivityDateTime": "2026-11-20T10:00:00Z", "CycleId": "c9",
        "action": "StagedDelete",                                    # beta name, capitalised
        "statusInfo": {"Status": "Failure", "ErrorInformation": {"ErrorCode": "TooManyDeletes"}},
        "servicePrincipal": [{"id": "sp1", "displayName": "6clicks"}],
        "initiatedBy": {"initiatingType": "System"},                 # misspelt key
        "sourceIdentity": {"Id": "s", "DisplayName": "Ann", "IdentityType": "User"},
        "somethingNew": {"x": 1},
    }
    row, reason = normalise(variant)
    assert reason == ""
    assert row[0] == "v1" and row[2] == "c9"
    assert row[5] == "stagedDelete" and row[6] == "failure" and row[7] == "TooManyDeletes"
    assert row[9] == "User" and row[10] == "s" and row[11] == "Ann" and row[14] == "System"
    row, _ = normalise({**r, "provisioningAction": "Frobnicate",
                        "provisioningStatusInfo": {"status": "PartiallyDone"}})
    assert row[5] == "Frobnicate" and row[6] == "PartiallyDone"  # unknown enums kept as they are
    assert normalise({"activityDateTime": "2026-11-20T10:00:00Z"}) == (None, "no id")
    assert normalise({"id": "x", "activityDateTime": "yesterday-ish"})[1].startswith("activityDateTime")
    assert normalise([1, 2])[0] is None


def test_json_array_import_then_reimport_stores_nothing_twice(ctx, tmp_path):
    path = tmp_path / "logs.json"
    path.write_text(json.dumps([rec(i) for i in range(30)]), encoding="utf-8")
    first = import_files(ctx, "acme", [path])
    assert (first.new, first.known, first.rejected_count) == (30, 0, 0)
    again = import_files(ctx, "acme", [path])
    assert (again.new, again.known) == (0, 30)
    assert log_count(ctx, "acme") == 30
    assert log_count(ctx, "other") == 0  # per connection
    stored = get_record(ctx, "acme", "log-3")
    assert stored == rec(3) | {"activityDateTime": stored["activityDateTime"]}
    steps, props = record_steps(stored)
    assert [s["name"] for s in steps] == ["EntryImportAdd", "EntryExportAdd"]
    assert props == [{"property": "userName", "old": None, "new": "u3@x.com"}]


def test_envelope_duplicates_and_rejections_are_counted_with_reasons(ctx):
    records = [rec(1), rec(2), rec(2), {"id": "bad-date", "activityDateTime": "not a date"},
               {"activityDateTime": "2026-11-20T10:00:00Z"}, "junk"]
    body = json.dumps({"@odata.context": "x", "value": records, "@odata.nextLink": "https://graph/next"})
    res = import_files(ctx, "acme", [("page.json", body.encode())])
    assert (res.new, res.duplicates, res.rejected_count) == (2, 1, 3)
    reasons = [r for _, r in res.rejected]
    assert any("not a date" in r for r in reasons) and "no id" in reasons
    assert any("not a JSON object" in r for r in reasons)
    assert any("(id bad-date)" in where for where, _ in res.rejected)
    assert any("nextLink" in w for w in res.warnings)
    assert res.summary() == "2 new, 1 already known (1 repeated within the input), 3 rejected"


def test_truncated_json_keeps_complete_records_and_says_so(ctx):
    text = json.dumps([rec(i) for i in range(5)])
    cut = text[: text.index('"id": "log-4"') + 20]
    res = import_files(ctx, "acme", [("cut.json", cut.encode())])
    assert res.new == 4 and res.rejected_count == 0
    assert any("cut off" in w and "4 complete records" in w for w in res.warnings)
    bad = import_files(ctx, "acme", [("bad.json", b"{not json at all")])
    assert bad.new == 0 and bad.rejected_count == 1
    assert "Download the logs again" in bad.rejected[0][1]


def test_json_lines_and_single_record(ctx):
    lines = "\n".join(json.dumps(rec(i)) for i in range(3)) + "\n{broken\n"
    res = import_files(ctx, "acme", [("logs.jsonl", lines.encode())])
    assert res.new == 3 and res.rejected_count == 1
    single = import_files(ctx, "acme", [("one.json", json.dumps(rec(9)).encode())])
    assert single.new == 1


def test_ten_year_old_and_future_records_are_kept_with_a_warning(ctx):
    old = rec(1, at=NOW - timedelta(days=3650))
    future = rec(2, at=NOW + timedelta(days=3))
    res = ingest_records(ctx, "acme", [old, future])
    assert res.new == 2
    assert any("older than Entra's 30-day retention" in w for w in res.warnings)
    assert any("future" in w for w in res.warnings)


def csv_bundle(records: list[dict], *, drop: tuple[str, ...] = ()) -> tuple[str, str, str]:
    main_cols = ["Date", "Id", "Change ID", "Cycle ID", "Job ID", "Action", "Status", "Error Code", "Reason",
                 "Source Identity ID", "Source Identity Name", "Source Identity Type", "Target Identity ID",
                 "Target Identity Name", "Duration (ms)", "Extra column"]
    main_cols = [c for c in main_cols if c not in drop]
    out = io.StringIO()
    w = csv.DictWriter(out, main_cols)
    w.writeheader()
    steps, props = io.StringIO(), io.StringIO()
    ws = csv.DictWriter(steps, ["Change ID", "Step Number", "Step Name", "Provisioning Step Type", "Status",
                                "Description", "Details"])
    wp = csv.DictWriter(props, ["Change ID", "Display Name", "Old Value", "New Value"])
    ws.writeheader()
    wp.writeheader()
    for r in records:
        err = r["provisioningStatusInfo"]["errorInformation"] or {}
        row = {"Date": r["activityDateTime"], "Id": r["id"], "Change ID": r["changeId"], "Cycle ID": r["cycleId"],
               "Job ID": r["jobId"], "Action": r["provisioningAction"].capitalize(),
               "Status": r["provisioningStatusInfo"]["status"].capitalize(), "Error Code": err.get("errorCode", ""),
               "Reason": err.get("reason", ""), "Source Identity ID": r["sourceIdentity"]["id"],
               "Source Identity Name": r["sourceIdentity"]["displayName"], "Source Identity Type": "User",
               "Target Identity ID": r["targetIdentity"]["id"],
               "Target Identity Name": r["targetIdentity"]["displayName"], "Duration (ms)": "120",
               "Extra column": "kept"}
        w.writerow({k: v for k, v in row.items() if k in main_cols})
        for n, s in reversed(list(enumerate(r["provisioningSteps"], 1))):
            ws.writerow({"Change ID": r["changeId"], "Step Number": n, "Step Name": s["name"],
                         "Provisioning Step Type": s["provisioningStepType"].capitalize(), "Status": s["status"],
                         "Description": s["description"], "Details": json.dumps(s["details"])})
        for p in r["modifiedProperties"]:
            wp.writerow({"Change ID": r["changeId"], "Display Name": p["displayName"], "Old Value": p["oldValue"],
                         "New Value": p["newValue"]})
    return out.getvalue(), steps.getvalue(), props.getvalue()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1"])
def test_csv_bundle_in_several_encodings(ctx, encoding):
    records = [rec(i, name="Zoë Müller" if i == 0 else None, status="failure" if i == 1 else "success",
                   code="EntryConflict" if i == 1 else None) for i in range(4)]
    main, steps, props = csv_bundle(records)
    files = [("ProvisioningLogs.csv", main.encode(encoding)), ("ProvisioningLogs_steps.csv", steps.encode(encoding)),
             ("ProvisioningLogs_modifiedProperties.csv", props.encode(encoding))]
    res = import_files(ctx, "acme", files)
    assert (res.new, res.rejected_count) == (4, 0), res.as_dict()
    df = query_logs(ctx, "acme", identity="zoë")
    assert df["source_name"].tolist() == ["Zoë Müller"]
    r1 = get_record(ctx, "acme", "log-1")
    assert r1["provisioningStatusInfo"]["errorInformation"]["errorCode"] == "EntryConflict"
    steps_, props_ = record_steps(r1)
    assert [s["name"] for s in steps_] == ["EntryImportAdd", "EntryExportAdd"]  # ordered by step number
    assert props_[0]["property"] == "userName" and props_[0]["new"] == "u1@x.com"
    assert r1["csvExtraColumns"] == {"Extra column": "kept"}
    row = query_logs(ctx, "acme", status="failure").iloc[0]
    assert row["action"] == "create" and row["error_code"] == "EntryConflict"  # capitalised enums normalised


def test_csv_with_missing_columns(ctx):
    records = [rec(i) for i in range(3)]
    main, _steps, _props = csv_bundle(records, drop=("Cycle ID", "Action"))
    res = import_files(ctx, "acme", [("logs.csv", main.encode())])
    assert res.new == 3
    assert any("no cycleId, provisioningAction column" in w for w in res.warnings)
    main, _, _ = csv_bundle(records, drop=("Id",))
    res = import_files(ctx, "acme", [("noid.csv", main.encode())])
    assert res.new == 0 and res.rejected_count == 1
    assert "no id column" in res.rejected[0][1]
    _, steps, _ = csv_bundle(records)
    res = import_files(ctx, "acme", [("steps.csv", steps.encode())])
    assert res.rejected_count == 1 and "main provisioning-logs CSV" in res.rejected[0][1]
    res = import_files(ctx, "acme", [("empty.csv", b""), ("nothing.txt", b"hello")])
    assert res.rejected_count == 2


def test_log_files_go_through_the_upload_decoder():
    from console.uploads import decode_text

    assert decode_text("é".encode()).encoding == "UTF-8"
    assert decode_text("\ufeffé".encode()).text == "é"
    assert decode_text("hello, world".encode("utf-16")).text == "hello, world"
    assert decode_text("hello, world".encode("utf-16-le")).text == "hello, world"
    assert decode_text("Zoë Müller, Renée".encode("latin-1")).text == "Zoë Müller, Renée"


def test_summary_and_table_filters(ctx):
    records = []
    for c in range(3):
        for i in range(10):
            n = c * 10 + i
            failed = c == 2 and i < 5
            records.append(rec(n, cycle=f"cycle-{c}", action="update" if i % 2 else "create",
                               status="failure" if failed else "success",
                               code="SystemForCrossDomainIdentityManagementCredentialValidationFailure" if failed
                               else None, at=NOW - timedelta(hours=3 - c, minutes=i)))
    records.append(rec(99, cycle="cycle-2", action="stagedDelete", status="skipped", code="Tenant6clicksEntryConflict",
                       at=NOW - timedelta(minutes=50)))
    ingest_records(ctx, "acme", records)
    s = summarise(ctx, "acme")
    assert s.total == 31
    assert s.cycles["cycle_id"].tolist() == ["cycle-0", "cycle-1", "cycle-2"]
    last = s.cycles.iloc[-1]
    assert (last["total"], last["failure"], last["skipped"]) == (11, 5, 1)
    assert last["failure_rate"] == pytest.approx(5 / 11)
    assert last["action_stagedDelete"] == 1
    by_action = {(r.action, r.status): r.count for r in s.by_action.itertuples()}
    assert by_action[("create", "failure")] + by_action[("update", "failure")] == 5
    errors = s.by_error.set_index("error_code")
    assert errors.loc["SystemForCrossDomainIdentityManagementCredentialValidationFailure", "count"] == 5
    assert "token" in errors.loc["SystemForCrossDomainIdentityManagementCredentialValidationFailure", "fix"]
    # an app-prefixed code is explained by its suffix
    assert "same unique value" in errors.loc["Tenant6clicksEntryConflict", "explanation"]
    only = summarise(ctx, "acme", since=NOW - timedelta(hours=1, minutes=30))
    assert only.cycles["cycle_id"].tolist() == ["cycle-2"]
    assert summarise(ctx, "nobody").total == 0
    # the table
    assert len(query_logs(ctx, "acme")) == 31
    assert query_logs(ctx, "acme", limit=5)["time"].is_monotonic_decreasing
    assert set(query_logs(ctx, "acme", cycle_id="cycle-1")["cycle_id"]) == {"cycle-1"}
    assert len(query_logs(ctx, "acme", action="stagedDelete")) == 1
    assert len(query_logs(ctx, "acme", identity="src-7")) == 1
    assert len(query_logs(ctx, "acme", identity="user 1")) == 11  # "User 1", "User 10".."User 19"
    assert len(query_logs(ctx, "acme", error_code="Tenant6clicksEntryConflict")) == 1
    window = query_logs(ctx, "acme", since=NOW - timedelta(hours=1, minutes=30), until=NOW)
    assert set(window["cycle_id"]) == {"cycle-2"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=400),
    st.text(max_size=300).map(lambda t: t.encode("utf-8")),
    st.lists(st.dictionaries(st.sampled_from(["id", "ID", "activityDateTime", "action", "statusInfo", "x"]),
                             st.one_of(st.none(), st.integers(), st.text(max_size=20),
                                       st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)),
                             max_size=5), max_size=5).map(lambda v: json.dumps(v).encode()),
))
def test_import_never_raises_on_arbitrary_input(ctx, data):
    for name in ("x.json", "x.csv"):
        res = import_files(ctx, "acme", [(name, data)])
        assert res.new >= 0 and res.rejected_count >= 0
        assert len(res.rejected) <= 50


def test_per_cycle_counts_match_the_records(ctx):
    from console.entra.logstore import grouped_counts

    batch = [rec(i, cycle=f"c{i % 3}", status="failure" if i % 4 == 0 else "success",
                 code="Timeout" if i % 4 == 0 else None) for i in range(40)]
    ingest_records(ctx, "acme", batch[:25])
    ingest_records(ctx, "acme", [*batch[10:], {**batch[0], "cycleId": None, "id": "nocycle"}])  # overlap + new

    def clean(row):
        return tuple("" if v is None or (isinstance(v, float) and v != v) else v for v in row)

    def direct():
        rows = ctx.store.query(
            "SELECT cycle_id, action, status, error_code, COUNT(*), MIN(activity_ms), MAX(activity_ms) FROM"
            " provisioning_logs WHERE connection = 'acme' GROUP BY 1, 2, 3, 4")
        return sorted(clean(r) for r in rows)

    def agg():
        return sorted(clean(r) for r in grouped_counts(ctx, "acme").itertuples(index=False, name=None))

    assert agg() == direct() and sum(r[4] for r in direct()) == 41


def test_fast_and_tolerant_normalisation_agree():
    class Plain(dict):  # not exactly a dict: forces the tolerant path
        pass

    samples = [rec(i, action=a, status=s, code=c) for i, (a, s, c) in enumerate([
        ("create", "success", None), ("update", "failure", "EntryConflict"), ("stagedDelete", "skipped", None),
        ("Update", "Failure", "X"), ("delete", "warning", None), ("other", "success", None)])]
    samples += [{**samples[0], "durationInMilliseconds": "12"}, {**samples[0], "cycleId": ""},
                {**samples[1], "initiatedBy": {"initiatingType": "System"}}, {**samples[0], "targetIdentity": {}},
                {**samples[0], "activityDateTime": "2026-11-20T10:00:00"}, {**samples[0], "sourceIdentity": {}}]
    for r in samples:
        assert normalise(r) == normalise(Plain(r)), r


@pytest.mark.parametrize("odd", [float("inf"), "1e400", 2**70, -5, True, "soon"])
def test_a_duration_that_is_not_a_plausible_number_is_dropped_not_fatal(ctx, odd):
    """Infinity, numbers beyond SQLite's 64-bit integers, negatives: the record is kept without a duration."""
    row, reason = normalise({**rec(1), "durationInMilliseconds": odd})
    assert reason == "" and row[-1] is None
    res = ingest_records(ctx, "acme", [{**rec(2), "durationInMilliseconds": odd}], origin="graph")
    assert log_count(ctx, "acme") == 1, res
