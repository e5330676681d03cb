"""History: snapshot diff, provisioning-log ingest, and the Sync history page's aggregations.

- diff of two 100,000-user snapshots with 1 % of users changed (plus membership changes): ``diff_frames``
  alone (target <= 1 s), and the whole ``store_snapshot`` (Parquet write + diff + events + metadata);
  loading the latest snapshot's users.
- ingest of 1,000,000 provisioning-log records in the Graph schema (normalise, compress, INSERT OR IGNORE in
  5,000-row transactions; target <= 60 s). Records are generated in chunks outside the timed part.
- the page's aggregations over those 1,000,000 records: ``summarise`` (cycles, actions, failures by error code:
  one indexed GROUP BY + pandas; target <= 2 s), ``job_overview``, the newest page of the log table.

``--quick``: 10,000 users and 50,000 records.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench._harness import check, metric, repeat
from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import memory_credentials
from console.directory.diff import diff_frames
from console.directory.frames import SnapshotFrames, norm_groups, norm_users
from console.directory.store import latest_snapshot, store_snapshot
from console.entra.health import job_overview
from console.entra.logstore import Ingester, query_logs, summarise
from console.store import Store
from console.timeline import person_records

ACTIONS = np.array(["create", "update", "update", "update", "disable", "delete", "other"], dtype=object)
CODES = np.array(["EntryConflict", "SystemForCrossDomainIdentityManagementBadRequest", "TooManyRequests",
                  "InvalidAnchor", "Timeout"], dtype=object)


def frames(users: int, seed: int) -> Any:

    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i:07d}" for i in range(users)], dtype=object)
    names = np.array([f"user{i:07d}@example.org" for i in range(users)], dtype=object)
    groups = max(10, users // 100)
    gids = np.array([f"g{i:05d}" for i in range(groups)], dtype=object)
    gnames = [f"Role - R{i}" if i % 10 == 0 else f"Team {i}" for i in range(groups)]
    udf = pd.DataFrame({
        "id": ids, "userName": names, "email": names, "givenName": "Ada",
        "familyName": np.array([f"F{i % 997}" for i in range(users)], dtype=object),
        "displayName": np.array([f"Ada F{i % 997}" for i in range(users)], dtype=object),
        "active": rng.random(users) > 0.05, "externalId": np.array([f"e{i}" for i in range(users)], dtype=object),
        "created": pd.Timestamp("2026-01-01", tz="UTC"), "lastModified": pd.Timestamp("2026-11-01", tz="UTC")})
    mdf = pd.DataFrame({"group_id": gids[rng.integers(0, groups, users * 3)],
                        "user_id": np.repeat(ids, 3)}).drop_duplicates().reset_index(drop=True)
    gdf = pd.DataFrame({"id": gids, "displayName": gnames, "externalId": None,
                        "kind": ["role" if n.startswith("Role") else "group" for n in gnames]})
    gdf["member_count"] = gdf["id"].map(mdf.groupby("group_id").size()).fillna(0).astype("int64")
    return SnapshotFrames(norm_users(udf), norm_groups(gdf), mdf.astype("string"))


def changed(base: Any, fraction: float, seed: int) -> Any:
    """1 % of users changed: a quarter deactivated/reactivated, a quarter renamed, a quarter deleted, a quarter
    new; the same number of memberships added and removed."""
    rng = np.random.default_rng(seed)
    users = base.users.copy()
    n = len(users)
    k = max(4, int(n * fraction)) // 4
    pick = rng.choice(n, size=3 * k, replace=False)
    flip, rename, delete = pick[:k], pick[k:2 * k], pick[2 * k:]
    users.loc[flip, "active"] = ~users.loc[flip, "active"]
    users.loc[rename, "familyName"] = "Changed"
    users = users.drop(index=delete)
    new = base.users.iloc[:k].copy()
    new["id"] = [f"n{i:07d}" for i in range(k)]
    users = pd.concat([users, new], ignore_index=True)
    m = base.memberships
    drop = rng.choice(len(m), size=k, replace=False)
    memberships = pd.concat([m.drop(index=drop), pd.DataFrame({"group_id": m["group_id"].iloc[:k].to_numpy(),
                                                               "user_id": new["id"].to_numpy()})],
                            ignore_index=True).astype("string")
    return SnapshotFrames(users.reset_index(drop=True), base.groups, memberships)


def log_chunk(start: int, count: int, now: datetime, per_cycle: int) -> list[dict]:
    out = []
    rng = np.random.default_rng(start)
    fails = rng.random(count) < 0.04
    actions = ACTIONS[rng.integers(0, len(ACTIONS), count)]
    codes = CODES[rng.integers(0, len(CODES), count)]
    for j in range(count):
        i = start + j
        at = now - timedelta(seconds=(10_000_000 - i) * 2)
        failed = bool(fails[j])
        out.append({
            "id": f"{i:012d}-0000-4000-8000-{i:012d}", "activityDateTime": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "cycleId": f"cycle-{i // per_cycle:06d}", "changeId": f"chg-{i}", "jobId": "scim.bench",
            "durationInMilliseconds": 150, "provisioningAction": actions[j],
            "provisioningStatusInfo": {"status": "failure" if failed else "success",
                                       "errorInformation": {"errorCode": codes[j], "reason": "bench",
                                                            "errorCategory": "failure"} if failed else None},
            "provisioningSteps": [
                {"name": "EntryImportAdd", "provisioningStepType": "import", "status": "success",
                 "description": "Received User 'user@example.org' change of type (Add) from Azure Active Directory",
                 "details": {}},
                {"name": "EntryExportUpdate", "provisioningStepType": "export",
                 "status": "failure" if failed else "success", "description": "User updated in 6clicks",
                 "details": {"ReportableIdentifier": f"user{i}@example.org"}}],
            "modifiedProperties": [{"displayName": "displayName", "oldValue": None, "newValue": f"User {i}"}],
            "sourceIdentity": {"id": f"src-{i % 100_000}", "displayName": f"User {i % 100_000}",
                               "identityType": "User", "details": {}},
            "targetIdentity": {"id": f"tgt-{i % 100_000}", "displayName": f"User {i % 100_000}",
                               "identityType": "User", "details": {}},
            "servicePrincipal": {"id": "sp", "displayName": "6clicks"},
            "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
            "tenantId": "bench-tenant"})
    return out


def timed(fn: Any, runs: int, warmup: int = 0) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds of this process) per run. The CPU time shows what the code costs when the
    machine's two cores are shared with other work (wall time then includes waiting for a core)."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def run(quick: bool) -> dict[str, Any]:
    users = 10_000 if quick else 100_000
    n_logs = 50_000 if quick else 1_000_000
    params = {"users": users, "changed_fraction": 0.01, "log_records": n_logs, "records_per_cycle": 2_000}
    metrics: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        ctx = Context(data_dir=Path(tmp), store=Store.open(Path(tmp)), credentials=memory_credentials())
        ConnectionRepo(ctx.store).add(Connection(name="bench", api_url="https://127.0.0.1:9"))  # what is stored needs one
        a = frames(users, 1)
        b = changed(a, 0.01, 2)
        events = diff_frames(a, b)
        samples, cpu = timed(lambda: diff_frames(a, b), runs=5, warmup=1)
        med = _median(samples)
        metrics.append(metric(f"diff {users:,} users, 1 % changed", [s * 1000 for s in samples], "ms",
                              target="<= 1000 ms", met=check(med, at_most=1.0), events=len(events),
                              cpu_ms=round(_median(cpu) * 1000)))
        store_snapshot(ctx, "bench", a, compact=False)
        t, c = time.perf_counter(), time.process_time()
        snap = store_snapshot(ctx, "bench", b, compact=False)
        metrics.append(metric("store_snapshot (Parquet write + diff + events)", (time.perf_counter() - t) * 1000,
                              "ms", events=snap.event_count, cpu_ms=round((time.process_time() - c) * 1000)))
        load = repeat(lambda: latest_snapshot(ctx, "bench").users, runs=5, warmup=1)
        metrics.append(metric(f"load latest snapshot's {users:,} users", [s * 1000 for s in load], "ms"))
        size = sum(p.stat().st_size for p in snap.path.glob("*.parquet"))
        notes.append(f"snapshot files: {size / 1e6:.1f} MB for {users:,} users, {snap.membership_count:,} "
                     "memberships (Parquet, zstd, raw SCIM JSON included)")

        now = datetime.now(UTC)
        ing = Ingester(ctx, "bench", "import")
        chunk = 50_000
        ingest_s = ingest_cpu = 0.0
        for start in range(0, n_logs, chunk):
            records = log_chunk(start, min(chunk, n_logs - start), now, params["records_per_cycle"])
            t, c = time.perf_counter(), time.process_time()
            for i, r in enumerate(records):
                ing.add(r, f"record {start + i}")
            ing.flush()
            ingest_s += time.perf_counter() - t
            ingest_cpu += time.process_time() - c
        res = ing.finish()
        assert res.new == n_logs, res.as_dict()
        metrics.append(metric(f"ingest {n_logs:,} log records", ingest_s, "s", target="<= 60 s",
                              met=check(ingest_s, at_most=60.0), records_per_s=round(n_logs / ingest_s),
                              cpu_s=round(ingest_cpu, 1)))
        again = ing.__class__(ctx, "bench", "import")
        repeat_records = log_chunk(0, min(chunk, n_logs), now, params["records_per_cycle"])
        t = time.perf_counter()
        for i, r in enumerate(repeat_records):
            again.add(r, f"record {i}")
        known = again.finish()
        metrics.append(metric(f"re-import {min(chunk, n_logs):,} already-known records", time.perf_counter() - t, "s",
                              stored_again=known.new))
        db_mb = (Path(tmp) / "console.db").stat().st_size / 1e6
        notes.append(f"store after ingest: {db_mb:.0f} MB ({db_mb * 1e6 / n_logs:.0f} bytes per record incl. "
                     "compressed raw JSON and indexes)")

        cold = time.perf_counter()
        s = summarise(ctx, "bench")
        cold = time.perf_counter() - cold
        warm, cpu = timed(lambda: summarise(ctx, "bench"), runs=3)
        metrics.append(metric(f"page aggregations over {n_logs:,} records (summarise)", warm, "s",
                              target="<= 2 s", met=check(_median(warm), at_most=2.0), first_run_s=round(cold, 3),
                              cycles=len(s.cycles), cpu_s=round(_median(cpu), 3)))
        ov, cpu = timed(lambda: job_overview(ctx, "bench"), runs=3)
        metrics.append(metric("job_overview (cycles, spikes, alerts input)", ov, "s", cpu_s=round(_median(cpu), 3)))
        week = now - timedelta(days=7)
        metrics.append(metric("summarise, last 7 days", repeat(lambda: summarise(ctx, "bench", since=week), runs=3),
                              "s"))
        table = repeat(lambda: query_logs(ctx, "bench", limit=500), runs=3)
        metrics.append(metric("log table: newest 500", [v * 1000 for v in table], "ms"))
        failures = repeat(lambda: query_logs(ctx, "bench", status="failure", error_code="EntryConflict", limit=500),
                          runs=3)
        metrics.append(metric("log table: failures with one error code", [v * 1000 for v in failures], "ms"))
        # a person's History reads their records by SCIM id, Entra object id or user name: one pass, no index
        ids = {"ids": {"tgt-4242"}, "external_ids": {"src-4242"}, "names": {"user 4242"}}
        found = len(person_records(ctx, "bench", ids))
        person = repeat(lambda: person_records(ctx, "bench", ids), runs=3)
        metrics.append(metric(f"a person's Entra records among {n_logs:,} (person_records, {found} found)",
                              [v * 1000 for v in person], "ms"))
    return {"parameters": params, "metrics": metrics, "notes": notes}
