"""Demo history: fast-forwarded over HTTP, with a failure spike and a recovered quarantine; deterministic."""

from __future__ import annotations

import sqlite3

import pytest

from tests.sandbox_entra.helpers import Graph, status
from tests.sandbox_fixture import start_sandbox

DEMO = {"seed_users": 150, "seed_groups": 10, "seed": 21, "demo": True,
        "extra_args": ["--demo-days", "3", "--cycle-seconds", "0"]}
CREDENTIAL_FAILURE = "SystemForCrossDomainIdentityManagementCredentialValidationFailure"


def _projection(box, cycles: int) -> list[tuple]:
    """What must not depend on the run: per cycle, each record's action, status, error and identities."""
    conn = sqlite3.connect(box.data_dir / "entra.db")
    try:
        import json

        rows = conn.execute(
            "SELECT c.seq, l.doc FROM logs l JOIN cycles c ON c.cycle_id = l.cycle_id WHERE c.seq <= ? "
            "ORDER BY c.seq, l.seq", (cycles,)).fetchall()
    finally:
        conn.close()
    out = []
    for seq, raw in rows:
        r = json.loads(raw)
        err = r["provisioningStatusInfo"]["errorInformation"] or {}
        out.append((seq, r["id"], r["changeId"], r["cycleId"], r["provisioningAction"],
                    r["provisioningStatusInfo"]["status"], err.get("errorCode"), r["sourceIdentity"]["id"],
                    r["sourceIdentity"]["displayName"],
                    tuple(m["displayName"] for m in r["modifiedProperties"])))
    return out


@pytest.mark.slow
def test_demo_history_is_deterministic_and_tells_the_story(tmp_path) -> None:
    first = start_sandbox(data_dir=tmp_path / "a", **DEMO)
    try:
        st = status(first)
        assert st["demo"]["cycles"] > 60 and st["demo"]["skipped"] >= 1
        graph = Graph(first)
        job = graph.job()["status"]
        assert job["code"] == "Active" and job["quarantine"] is None
        failures = graph.all_logs(top=500, filter="provisioningStatusInfo/status eq 'failure'")
        codes = {r["provisioningStatusInfo"]["errorInformation"]["errorCode"] for r in failures}
        assert CREDENTIAL_FAILURE in codes  # the quarantine episode
        assert "InternalServerError" in codes  # the failure spike
        everything = graph.all_logs(top=1000)
        assert {r["provisioningAction"] for r in everything} >= {"create", "update", "disable"}
        # After the quarantine, a successful cycle exported what had piled up.
        cred = min(r["activityDateTime"] for r in failures if
                   r["provisioningStatusInfo"]["errorInformation"]["errorCode"] == CREDENTIAL_FAILURE)
        assert any(r["activityDateTime"] > cred and r["provisioningStatusInfo"]["status"] == "success"
                   for r in everything)
        cycles_done = st["demo"]["cycles"]
        count = len(everything)
    finally:
        first.stop()
    second = start_sandbox(data_dir=tmp_path / "b", **DEMO)
    try:
        n = min(cycles_done, status(second)["demo"]["cycles"]) - 2
        assert _projection(first, n) == _projection(second, n)
        assert len(_projection(first, n)) > 20
    finally:
        second.cleanup()
    # A restart resumes without redoing the history.
    again = start_sandbox(data_dir=tmp_path / "a", **DEMO)
    try:
        assert len(Graph(again).all_logs(top=1000)) == count
    finally:
        again.cleanup()
