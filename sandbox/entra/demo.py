"""Demo history: fast-forward ``--demo-days`` of 40-minute cycles over real HTTP, once per data dir.

The baseline organisation was provisioned before the retained history (links recorded at adoption, no
requests), so only each cycle's changes travel. Scripted episodes on top of the random churn:
- a failure spike: a re-organisation moves many people while 6clicks answers 5xx to a share of requests
  (the server's own fault injection, restricted to /scim for three cycles);
- a quarantine that recovers: the SecretToken expires, cycles fail with 401 and the job is quarantined
  (retry after 6 h, then 12 h); nine hours in, an admin saves a fresh token (PUT secrets) and the next cycle
  succeeds.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .engine import CYCLE_INTERVAL
from .records import parse_iso

log = logging.getLogger("sandbox.entra")


def window(days: float, now: datetime | None = None) -> tuple[datetime, list[datetime]]:
    """Cycle times from midnight UTC ``days`` days ago up to now, every 40 minutes."""
    now = now or datetime.now(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=int(days))
    times = []
    t = start
    while t <= now:
        times.append(t)
        t += CYCLE_INTERVAL
    return start, times


def fast_forward(sim: Any, now: datetime | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    days = float(getattr(sim.config, "demo_days", 14) or 14)
    start, times = window(days, now)
    eng = sim.engine
    # The baseline's history: first reached steady state well before the window.
    state = eng.job()
    state["initial_done"] = True
    state["code"] = "Active"
    state["steadyStateFirstAchievedTime"] = (start - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    eng.save_job(state)
    n = int(days * 36)  # whole days only, so that the episodes do not move with the time of day
    spike = range(int(n * 0.35), int(n * 0.35) + 3) if n > 20 else range(0)
    expire_at = int(n * 0.62) if n > 40 else None
    rotate_after = timedelta(hours=9)
    expired_since: datetime | None = None
    saved_faults = sim.state.faults.as_dict()
    good_token = eng.secret_token
    summaries = {"cycles": 0, "skipped": 0, "records": 0}
    last = (state.get("lastExecution") or {}).get("timeBegan")
    resume_after = parse_iso(last) if last else None  # a fast-forward interrupted by a stop resumes here
    for k, at in enumerate(times):
        if resume_after is not None and at <= resume_after:
            continue
        rng = random.Random(f"{sim.seed}:demo:{k}")
        sim.tenant.churn(rng, at)
        if k in spike and k == spike.start:
            reorg(sim, rng, at)
            sim.state.faults.set(rate_500=0.3, seed=sim.seed, paths=r"^/scim")
        if expire_at is not None and k == expire_at:
            expired_since = at
            eng.secret_token = sim.mint_token(lifetime=-3600)  # an expired 6clicks token
        if expired_since is not None and at - expired_since >= rotate_after:
            eng.set_secrets(None, good_token if good_token else sim.mint_token(), at)
            expired_since = None
        result = eng.run_cycle(at)
        if k in spike and k == spike.stop - 1:
            sim.state.faults.set(**saved_faults)
        if result.get("ran"):
            summaries["cycles"] += 1
            summaries["records"] += result["records"]
        else:
            summaries["skipped"] += 1
    sim.state.faults.set(**saved_faults)
    if expired_since is not None:
        eng.set_secrets(None, good_token, datetime.now(UTC))
    from .plant import plant

    summaries["planted"] = plant(sim)
    summaries["seconds"] = round(time.perf_counter() - started, 2)
    sim.db.set_meta("demo_done", json.dumps({**summaries, "windowStart": start.isoformat(), "days": days}))
    log.info("Entra demo history: %s", summaries)
    return summaries


def reorg(sim: Any, rng: random.Random, at: datetime) -> None:
    """A re-organisation: about 4 % of active users change department at once."""
    rows = sim.db.query("SELECT object_id, department FROM src_users WHERE in_scope AND NOT soft_deleted "
                        "AND department IS NOT NULL ORDER BY object_id")
    depts = [r["object_id"] for r in sim.db.query(
        "SELECT object_id FROM src_groups WHERE assigned AND NOT deleted AND display_name NOT LIKE 'Role - %' "
        "ORDER BY object_id")]
    if not rows or len(depts) < 2:
        return
    for r in rng.sample(rows, max(1, len(rows) // 25)):
        target = rng.choice([d for d in depts if d != r["department"]])
        sim.tenant.move(r["object_id"], target, r["department"])
