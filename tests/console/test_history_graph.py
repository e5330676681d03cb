"""Entra provisioning logs and job health against the sandbox's Entra simulator and Graph emulator over HTTP:
fetch, incremental fetch, quarantine and recovery seen as alerts, Graph errors (403 naming the permission,
401, 429 honoured), and the logs command line."""

from __future__ import annotations

import json

import pytest

from console.cli import main
from console.entra.fetch import FetchError, fetch_logs, fetch_since
from console.entra.health import job_overview, poll_job
from console.entra.logstore import log_count, query_logs, summarise
from console.errors import ConsoleError
from console.graph import GraphClient, GraphError, permissions_for
from console.notify.alerts import current_alerts
from tests.console.test_history_sandbox import connect, home  # noqa: F401  (fixture)


def cycles(box, count=1, **extra):
    return box.admin("POST", "/sandbox-admin/entra/cycles", {"count": count, **extra})["cycles"]


def tenant(box, **action):
    return box.admin("POST", "/sandbox-admin/entra/tenant", action)["results"]


@pytest.fixture
def entra_box(sandbox_factory):
    box = sandbox_factory(seed_users=20, seed_groups=3, seed=11)
    if not getattr(box, "graph_url", None):
        pytest.fail("the sandbox did not start its Graph emulator")
    return box


def test_fetch_incremental_quarantine_and_recovery(home, entra_box, capsys):  # noqa: F811
    box = entra_box
    ctx, conn = connect(home, box)
    cycles(box)  # the initial cycle provisions the simulated tenant into the SCIM store
    first = fetch_logs(ctx, conn)
    assert first.new > 0 and first.rejected_count == 0
    assert fetch_since(ctx, conn) is not None
    stored = log_count(ctx, conn)
    assert stored == first.new
    poll_job(ctx, conn)
    ov = job_overview(ctx, conn)
    assert ov.status and ov.status != "Quarantine" and ov.last_cycle_end is not None
    assert [a for a in current_alerts(ctx, conn, include_token=False)] == []

    # incremental: one more person joins; only the new records come back (the overlap is deduplicated)
    tenant(box, action="join", givenName="Iris", surname="Incremental")
    cycles(box)
    second = fetch_logs(ctx, conn)
    assert second.new >= 1
    assert log_count(ctx, conn) == stored + second.new
    assert len(query_logs(ctx, conn, identity="Iris")) >= 1
    again = fetch_logs(ctx, conn)
    assert again.new == 0

    # Entra's secret token goes bad: the cycle fails with 401 and the job is quarantined
    tenant(box, action="set_token", token="bad")
    tenant(box, action="join", givenName="Quinn", surname="Quarantine")
    cycles(box)
    fetch_logs(ctx, conn)
    poll_job(ctx, conn)
    ov = job_overview(ctx, conn)
    assert ov.status == "Quarantine" and ov.quarantine is not None
    alerts = current_alerts(ctx, conn, include_token=False)
    kinds = [a.kind for a in alerts]
    assert kinds[0] == "quarantine" and alerts[0].severity == "critical"
    assert "credential_failure" in kinds
    cred = next(a for a in alerts if a.kind == "credential_failure")
    assert "token" in cred.remedy

    # the summary command reports it and exits 2 (critical)
    code = main(["logs", "summary", "--connection", conn.name, "--data-dir", str(home), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2
    assert out["job"]["quarantine"]["reason"]
    assert {a["kind"] for a in out["alerts"]} >= {"quarantine", "credential_failure"}
    assert out["records"] == log_count(ctx, conn)

    # recovery: a valid token again, the job restarted, a successful cycle
    tenant(box, action="set_token", token="valid")

    with GraphClient.for_connection(ctx, conn) as graph:
        graph.restart("QuarantineState")
    cycles(box, ignore_backoff=True)
    fetch_logs(ctx, conn)
    poll_job(ctx, conn)
    ov = job_overview(ctx, conn)
    assert ov.quarantine is None and ov.status != "Quarantine"
    assert len(ov.quarantine_periods) == 1 and ov.quarantine_periods.iloc[0]["end"] is not None
    assert {a.kind for a in current_alerts(ctx, conn, include_token=False)} <= {"failure_spike"}
    s = summarise(ctx, conn)
    assert len(s.cycles) >= 3 and s.total == log_count(ctx, conn)
    # no secret reached the data folder (store, WAL, snapshots, logs)
    from console.directory.take import take_snapshot

    take_snapshot(ctx, conn)
    secrets = [box.api_key, box.client_secret, ctx.credentials.get(conn.name, "access_token")]
    ctx.store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"a secret was written to {path}"


def test_graph_errors_are_clear_and_lose_nothing(home, entra_box):  # noqa: F811
    box = entra_box
    ctx, conn = connect(home, box)
    cycles(box)
    # 429 with Retry-After on the logs endpoint: honoured, the fetch completes
    box.set_faults(rate_429=0.5, retry_after=1, seed=3, paths=r"auditLogs/provisioning")
    res = fetch_logs(ctx, conn)
    assert res.new > 0
    box.clear_faults()
    # 403: the app lacks AuditLog.Read.All
    box.admin("PUT", "/sandbox-admin/entra/graph-permissions", {"roles": ["Synchronization.Read.All"]})
    with pytest.raises(FetchError) as info:
        fetch_logs(ctx, conn)
    assert "AuditLog.Read.All" in str(info.value)
    assert info.value.status == 403 and "AuditLog.Read.All" in (info.value.permission or "")
    assert log_count(ctx, conn) == res.new  # nothing lost
    with GraphClient.for_connection(ctx, conn) as graph, pytest.raises(ConsoleError) as denied:
        graph.get_job()  # Synchronization.Read.All is granted: the job is readable
        list(graph.iter_provisioning_logs())
    assert isinstance(denied.value, GraphError) and denied.value.status == 403
    assert denied.value.permission == permissions_for("logs") and denied.value.remedy
    # 401: the client secret is wrong
    box.admin("PUT", "/sandbox-admin/entra/graph-permissions",
              {"roles": ["AuditLog.Read.All", "Directory.Read.All", "Synchronization.Read.All",
                         "Synchronization.ReadWrite.All"]})
    ctx.credentials.set(conn.name, "graph_client_secret", "wrong-secret-value")
    with pytest.raises(ConsoleError) as info:
        fetch_logs(ctx, conn)
    assert "wrong-secret-value" not in str(info.value)
    assert info.value.remedy
    ctx.credentials.set(conn.name, "graph_client_secret", box.client_secret)
    assert fetch_logs(ctx, conn).rejected_count == 0


def test_logs_commands(home, entra_box, capsys, tmp_path):  # noqa: F811
    box = entra_box
    _ctx, conn = connect(home, box)
    cycles(box)
    assert main(["logs", "fetch", "--connection", conn.name, "--data-dir", str(home), "--json"]) == 0
    fetched = json.loads(capsys.readouterr().out)
    assert fetched["new"] > 0 and fetched["job_error"] is None
    # a download with one bad record: exit 1, the rest imported
    records = [{"id": "imp-1", "activityDateTime": "2026-11-20T10:00:00Z", "provisioningAction": "Create",
                "provisioningStatusInfo": {"status": "Success"}}, {"id": "imp-2"}]
    path = tmp_path / "download.json"
    path.write_text(json.dumps(records))
    assert main(["logs", "import", str(path), "--connection", conn.name, "--data-dir", str(home)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("1 new, 0 already known, 1 rejected")
    assert "imp-2" in out and "activityDateTime" in out
    assert main(["logs", "summary", "--connection", conn.name, "--data-dir", str(home)]) in (0, 1)
    out = capsys.readouterr().out
    assert "provisioning log records" in out and "alerts:" in out


def test_import_of_sandbox_export_logs_json_and_csv(home, entra_box, tmp_path, capsys):  # noqa: F811
    import subprocess
    import sys

    from console.entra.files import import_files
    from console.entra.logstore import get_record
    from console.entra.records import record_steps

    box = entra_box
    ctx, conn = connect(home, box)
    cycles(box)
    tenant(box, action="join", givenName="Csv", surname="Person")
    tenant(box, action="set_token", token="bad")
    cycles(box)  # a failed cycle too, so failures and error codes are in the export
    tenant(box, action="set_token", token="valid")
    out_json, out_csv = tmp_path / "logs.json", tmp_path / "logs.csv"
    for fmt, out in (("json", out_json), ("csv", out_csv)):
        done = subprocess.run([sys.executable, "-m", "sandbox", "export-logs", "--data-dir", str(box.data_dir),
                               "--format", fmt, "--out", str(out)], capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, done.stderr
    csv_files = sorted(tmp_path.glob("logs*.csv"))
    assert len(csv_files) == 3
    exported = json.loads(out_json.read_text(encoding="utf-8"))
    # CSV first into one connection, JSON into another; then each into the other (all already known)
    _ctx2, other = connect(home, box, name="Other")
    from_csv = import_files(ctx, conn, csv_files)
    assert (from_csv.new, from_csv.rejected_count) == (len(exported), 0), from_csv.as_dict()
    from_json = import_files(ctx, other, [out_json])
    assert (from_json.new, from_json.rejected_count) == (len(exported), 0)
    again = import_files(ctx, conn, [out_json])
    assert (again.new, again.known) == (0, len(exported))
    # the CSV round trip keeps what the page shows: same cycles, counts, error codes, steps, properties
    a, b = summarise(ctx, conn), summarise(ctx, other)
    assert a.cycles[["cycle_id", "total", "success", "failure"]].equals(b.cycles[["cycle_id", "total", "success",
                                                                                   "failure"]])
    assert a.by_error[["error_code", "count"]].equals(b.by_error[["error_code", "count"]])
    assert a.by_error["count"].sum() > 0
    with_steps = next(r for r in exported if r.get("provisioningSteps") and r.get("modifiedProperties"))
    steps_csv, props_csv = record_steps(get_record(ctx, conn, with_steps["id"]))
    steps_json, props_json = record_steps(get_record(ctx, other, with_steps["id"]))
    assert [s["name"] for s in steps_csv] == [s["name"] for s in steps_json]
    assert [(p["property"], p["new"]) for p in props_csv] == [(p["property"], p["new"]) for p in props_json]
    # and through the command line, which prints the counts
    assert main(["logs", "import", *map(str, csv_files), "--connection", "Other", "--data-dir", str(home)]) == 0
    assert capsys.readouterr().out.startswith(f"0 new, {len(exported)} already known, 0 rejected")
