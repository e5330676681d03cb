"""Reconciliation at scale: a sandbox with N users on both sides (the SCIM server and the Entra simulator's
tenant) and 50 ms added to every request (SCIM and Graph); a full reconciliation (a fresh 6clicks snapshot, every
Entra user through ``/users/delta``, every group with its members through ``/groups/delta``, the app's
assignments), then delta runs after changes in the tenant (the simulator's churn). Targets (issue "Reconcile"): full <= 60 s and <= 400 MB at 100,000 users; the delta
run in a few seconds (it still re-reads 6clicks unless told not to: measured both ways). Graph has no delta for
the app's assignments, so a tenant that assigns 100,000 people one by one pays ~100 assignment pages per run; the
last run measures the shape most large tenants have, the app assigned to groups."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import _harness as h
from bench.snapshot_bench import _console, code_root, console_env

TARGET_S = 60.0
TARGET_MB = 400.0

RUN = r"""
import json, os, sys, time
sys.path.insert(0, os.getcwd())
from console.connections import ConnectionRepo
from console.context import open_context
from console.reconcile.runs import reconcile
ctx = open_context(None)
conn = ConnectionRepo(ctx.store).get("Bench")
refresh = sys.argv[1] == "refresh"
started = time.perf_counter()
run = reconcile(ctx, conn, refresh=refresh)
seconds = time.perf_counter() - started
print("RESULT " + json.dumps({"seconds": seconds, "mode": run.mode, "counts": run.result.counts(),
                              "changes": run.entra.changes if run.entra else None,
                              "group_changes": run.entra.group_changes if run.entra else None,
                              "graph_pages": run.entra.requests if run.entra else None,
                              "entra_seconds": run.entra.seconds if run.entra else None}), flush=True)
"""


def _measure(env: dict[str, str], refresh: bool) -> dict[str, Any]:
    child = h.start([sys.executable, "-c", RUN, "refresh" if refresh else "keep"], env=env, cwd=code_root())
    try:
        sampler = h.RssSampler(child.pid, interval=0.02, children=False)
        with sampler:
            code = child.popen.wait(timeout=1800)
        if code != 0:
            raise RuntimeError("reconcile failed: " + "\n".join(child.lines[-10:]))
    finally:
        child.stop()
    out: dict[str, Any] = {"peak_mb": sampler.peak_mb}
    for line in child.lines:
        if line.startswith("RESULT "):
            out.update(json.loads(line.split(" ", 1)[1]))
    return out


def _tenant(box: h.Sandbox, action: dict[str, Any]) -> list[dict[str, Any]]:
    import httpx

    resp = httpx.post(f"{box.api_url}/sandbox-admin/entra/tenant", json={"actions": [action]},
                      headers={"Authorization": f"Bearer {box.admin_token}"}, timeout=300)
    resp.raise_for_status()
    return list(resp.json()["results"])


def _churn(box: h.Sandbox, rounds: int) -> int:
    """Changes in the simulated tenant between the full and the delta runs (joiners, leavers, moves, renames:
    the simulator's own churn), so the delta run has users and group memberships to read."""
    events = 0
    for _ in range(rounds):
        events += sum(len(r.get("events") or []) for r in _tenant(box, {"action": "churn"}))
    return events


def run(quick: bool) -> dict[str, Any]:
    users, groups = (3_000, 30) if quick else (100_000, 1_000)
    metrics: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        env = console_env(Path(tmp))
        box = h.start_sandbox(Path(tmp) / "sandbox", "--seed-users", str(users), "--seed-groups", str(groups),
                              "--seed", "5", "--latency-ms", "50", "--max-page-size", "1000")
        try:
            value = box.child.value
            _console(env, "connections", "add", "Bench", "--api-url", box.api_url, "--allow-http",
                     "--tenant-id", value("tenant id") or "", "--client-id", value("client id") or "",
                     "--service-principal-id", value("service principal id") or "",
                     "--job-id", value("job id") or "", "--graph-url", value("Graph base URL") or "",
                     "--login-url", value("Login base URL") or "", "--no-check")
            _console(env, "token", "set-key", "--connection", "Bench", "--stdin", stdin=box.api_key)
            _console(env, "token", "generate", "--connection", "Bench")
            _console(env, "connections", "graph-secret", "Bench", "--stdin", stdin=value("client secret") or "")
            full = _measure(env, refresh=True)
            changed = _churn(box, rounds=5)
            delta_keep = _measure(env, refresh=False)
            delta_refresh = _measure(env, refresh=True)
            # the shape of most large tenants: the app assigned to groups (people in scope through them)
            by_group = _tenant(box, {"action": "assign_by_group"})[0]["users"]
            changed_by_group = _churn(box, rounds=5)
            delta_groups = _measure(env, refresh=False)
        finally:
            box.stop()
    metrics.append(h.metric(f"full reconciliation, {users:,} users, 50 ms latency: wall time", full["seconds"], "s",
                            target=f"<= {TARGET_S:.0f} s", met=h.check(full["seconds"], at_most=TARGET_S)))
    metrics.append(h.metric("full reconciliation: peak RSS", full["peak_mb"], "MB", target=f"<= {TARGET_MB:.0f} MB",
                            met=h.check(full["peak_mb"], at_most=TARGET_MB)))
    metrics.append(h.metric("delta run on the latest snapshot: wall time", delta_keep["seconds"], "s"))
    metrics.append(h.metric("delta run with a fresh 6clicks snapshot: wall time", delta_refresh["seconds"], "s"))
    metrics.append(h.metric("delta run: peak RSS", delta_keep["peak_mb"], "MB"))
    metrics.append(h.metric("delta run, tenant assigned by group, on the latest snapshot: wall time",
                            delta_groups["seconds"], "s", target="a few seconds",
                            met=h.check(delta_groups["seconds"], at_most=5.0)))
    notes = [f"full: {full.get('graph_pages')} Graph pages read in {full.get('entra_seconds')} s (after the 6clicks "
             f"snapshot), counts {full.get('counts')}",
             f"delta after {changed} tenant changes (the simulator's churn): {delta_keep.get('changes')} changed "
             f"users, {delta_keep.get('group_changes')} changed groups, {delta_keep.get('graph_pages')} Graph pages",
             f"tenant assigned by group ({by_group:,} people in scope through their groups, not one by one): "
             f"after {changed_by_group} changes, {delta_groups.get('changes')} changed users, "
             f"{delta_groups.get('group_changes')} changed groups, {delta_groups.get('graph_pages')} Graph pages",
             "the sandbox runs alongside on the same 2 cores; the wall times are the reconciliation's own (from the "
             "call to its result, the keyring's unlock included), not the Python start"]
    return {"parameters": {"users": users, "groups": groups, "latency_ms": 50, "console_code": str(code_root()),
                           "pid": os.getpid()}, "metrics": metrics, "notes": notes}


if __name__ == "__main__":  # python -m bench.reconcile_bench [--quick]
    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
