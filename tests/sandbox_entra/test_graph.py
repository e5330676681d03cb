"""Graph emulator: auth failures, paging and filters over the provisioning logs, export, secret hygiene."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.sandbox_entra.helpers import Graph, cycles, tenant
from tests.sandbox_fixture import REPO

NO_LIVE = ["--cycle-seconds", "0"]


@pytest.fixture(scope="module")
def logged(request):
    """A sandbox with ~40 log records, some failures, in several cycles."""
    from tests.sandbox_fixture import start_sandbox

    box = start_sandbox(seed_users=20, seed_groups=5, seed=11, extra_args=NO_LIVE)
    try:
        cycles(box)
        for _ in range(3):
            tenant(box, *({"action": "join", "groups": ["Finance"]} for _ in range(8)))
            cycles(box)
        tenant(box, {"action": "set_token", "token": "bad"}, {"action": "join", "groups": []})
        cycles(box)
        tenant(box, {"action": "set_token", "token": "valid"})
        cycles(box, ignore_backoff=True)
        yield box
    finally:
        box.cleanup()


def _entra_rows(box) -> list[dict]:
    import sqlite3

    conn = sqlite3.connect(box.data_dir / "entra.db")
    try:
        return [json.loads(d) for (d,) in conn.execute("SELECT doc FROM logs ORDER BY activity DESC, seq DESC")]
    finally:
        conn.close()


def test_paging_returns_every_record_exactly_once_newest_first(logged) -> None:
    graph = Graph(logged)
    expected = _entra_rows(logged)
    assert len(expected) >= 30
    got = graph.all_logs(top=7)
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    stamps = [r["activityDateTime"] for r in got]
    assert stamps == sorted(stamps, reverse=True)


def test_skiptoken_is_stable_while_new_records_arrive(logged) -> None:
    graph = Graph(logged)
    before = {r["id"] for r in _entra_rows(logged)}
    first = graph.get("/auditLogs/provisioning", **{"$top": 5}).json()
    tenant(logged, *({"action": "join", "groups": []} for _ in range(3)))
    [extra] = cycles(logged)
    assert extra["records"] == 3
    seen = [r["id"] for r in first["value"]]
    link = first["@odata.nextLink"]
    while link:
        body = graph.client.get(link).json()
        seen += [r["id"] for r in body["value"]]
        link = body.get("@odata.nextLink")
    assert len(seen) == len(set(seen))
    assert set(seen) == before


def test_filters_on_status_and_time(logged) -> None:
    graph = Graph(logged)
    rows = _entra_rows(logged)
    failures = graph.all_logs(filter="provisioningStatusInfo/status eq 'failure'")
    assert failures and {r["provisioningStatusInfo"]["status"] for r in failures} == {"failure"}
    assert len(failures) == sum(r["provisioningStatusInfo"]["status"] == "failure" for r in rows)
    pivot = rows[len(rows) // 2]["activityDateTime"]
    newer = graph.all_logs(top=9, filter=f"activityDateTime gt {pivot}")
    older = graph.all_logs(top=9, filter=f"activityDateTime le {pivot}")
    assert len(newer) + len(older) == len(rows)
    assert not {r["id"] for r in newer} & {r["id"] for r in older}
    assert all(r["activityDateTime"] > pivot for r in newer)
    both = graph.all_logs(filter=f"activityDateTime ge {rows[-1]['activityDateTime']} and "
                                 "provisioningStatusInfo/status eq 'success'")
    assert {r["provisioningStatusInfo"]["status"] for r in both} == {"success"}
    wrapped = graph.all_logs(filter=f"activityDateTime gt {pivot} and (provisioningStatusInfo/status eq 'failure')")
    assert {r["id"] for r in wrapped} == {r["id"] for r in failures if r["activityDateTime"] > pivot}
    assert graph.get("/auditLogs/provisioning", **{"$filter": "cycleId eq 'a' or cycleId eq 'b'"}).status_code == 400
    bad = graph.get("/auditLogs/provisioning", **{"$filter": "displayName eq 'x'"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"
    assert graph.get("/auditLogs/provisioning", **{"$filter": "activityDateTime gt yesterday"}).status_code == 400
    assert graph.get("/auditLogs/provisioning", **{"$skiptoken": "garbage!"}).status_code == 400


def test_graph_auth_failures(logged) -> None:
    box = logged
    resp = httpx.get(f"{box.graph_url}/auditLogs/provisioning")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    resp = httpx.get(f"{box.graph_url}/auditLogs/provisioning", headers={"Authorization": "Bearer forged.jwt.x"})
    assert resp.status_code == 401 and "innerError" in resp.json()["error"]
    form = {"client_id": box.client_id, "client_secret": "wrong", "grant_type": "client_credentials",
            "scope": "https://graph.microsoft.com/.default"}
    resp = httpx.post(f"{box.login_url}/{box.tenant_id}/oauth2/v2.0/token", data=form)
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    assert "wrong" not in resp.text
    resp = httpx.post(f"{box.login_url}/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token",
                      data={**form, "client_secret": box.client_secret})
    assert resp.status_code == 400
    resp = httpx.post(f"{box.login_url}/{box.tenant_id}/oauth2/v2.0/token",
                      data={**form, "client_secret": box.client_secret, "grant_type": "password"})
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"
    graph = Graph(box)
    assert graph.get(f"/servicePrincipals/{box.tenant_id}/synchronization/jobs").status_code == 404
    assert graph.get(f"{graph.sync}/jobs/scim.nope").status_code == 404
    listed = graph.get(f"{graph.sync}/jobs").json()["value"]
    assert [j["id"] for j in listed] == [box.job_id] and listed[0]["templateId"] == "scim"
    box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": ["Synchronization.Read.All"]})
    try:
        limited = Graph(box)
        resp = limited.get("/auditLogs/provisioning")
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "Authorization_RequestDenied"
        assert limited.get(limited.job_path).status_code == 200
        assert limited.put_secrets(token="x").status_code == 403
    finally:
        box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": [
            "AuditLog.Read.All", "Directory.Read.All", "Synchronization.Read.All", "Synchronization.ReadWrite.All"]})


def test_graph_throttling_under_fault_injection(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=2, seed_groups=1, extra_args=NO_LIVE)
    graph = Graph(box)
    box.set_faults(rate_429=1.0, retry_after=3, paths="^/graph")
    try:
        resp = graph.get("/auditLogs/provisioning")
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    finally:
        box.clear_faults()
    assert graph.get("/auditLogs/provisioning").status_code == 200


def test_export_logs_json_and_csv_without_secrets(logged, tmp_path: Path) -> None:
    rows = _entra_rows(logged)
    out = tmp_path / "logs.json"
    run = subprocess.run([sys.executable, "-m", "sandbox", "export-logs", "--data-dir", str(logged.data_dir),
                          "--format", "json", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "\n" not in text and ", " not in text[:200]
    exported = json.loads(text)
    assert {r["id"] for r in exported} == {r["id"] for r in rows}
    base = tmp_path / "logs.csv"
    run = subprocess.run([sys.executable, "-m", "sandbox", "export-logs", "--data-dir", str(logged.data_dir),
                          "--format", "csv", "--out", str(base)], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    with base.open(encoding="utf-8-sig") as f:
        logs = list(csv.DictReader(f))
    with (tmp_path / "logs-steps.csv").open(encoding="utf-8-sig") as f:
        steps = list(csv.DictReader(f))
    with (tmp_path / "logs-modifiedProperties.csv").open(encoding="utf-8-sig") as f:
        props = list(csv.DictReader(f))
    assert len(logs) == len(rows)
    change_ids = {r["Change ID"] for r in logs}
    assert {s["Change ID"] for s in steps} <= change_ids and {p["Change ID"] for p in props} <= change_ids
    assert len(steps) == sum(len(r["provisioningSteps"]) for r in rows)
    assert len(props) == sum(len(r["modifiedProperties"]) for r in rows)
    missing = subprocess.run([sys.executable, "-m", "sandbox", "export-logs", "--data-dir", str(tmp_path / "no"),
                              "--out", str(tmp_path / "x.json")], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1 and "entra.db" in missing.stderr and "Traceback" not in missing.stderr
    # Secrets never reach the simulator's files.
    blob = b"".join(p.read_bytes() for p in logged.data_dir.iterdir() if p.is_file())
    for secret in (logged.client_secret, logged.api_key, logged.admin_token, logged.token()):
        assert secret.encode() not in blob
        assert secret not in text
