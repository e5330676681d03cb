"""Manual operations: deactivating people through the console's journaled executor against the sandbox with
50 ms of added latency per request, at the default concurrency (8 in flight) and one at a time.

Each person costs two requests (a live GET to re-check the state, then the PATCH) plus one journal commit per
state change, so one-at-a-time is bounded below by ~2 x 50 ms per person. Full: 1,000 people each way (the
sandbox holds 2,000 so the two runs touch different people); quick: 100 each way. Also measured: the preview
(resolve a 10,000-row CSV against the directory) on the full run.

Run: ``python -m bench operations`` (or ``--quick``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench import _harness as h

LATENCY_MS = 50


def run(quick: bool) -> dict[str, Any]:
    try:
        from console.connections import Connection, ConnectionRepo
        from console.context import open_context
        from console.credentials import memory_credentials
        from console.operations import DEFAULT_CONCURRENCY, execute, plan, read_csv_targets
        from console.operations.targets import Directory
        from console.tokens import TokenService
    except ImportError as exc:
        raise h.Skip(f"the console is not importable yet ({exc})") from None
    per_run = 100 if quick else 1000
    seeded = int(per_run * 2.4)  # some seeded users start inactive
    params = {"people_per_run": per_run, "latency_ms": LATENCY_MS, "default_concurrency": DEFAULT_CONCURRENCY,
              "requests_per_person": 2}
    metrics: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ops-") as tmp:
        sandbox = h.start_sandbox(Path(tmp) / "sandbox", "--seed-users", str(seeded), "--seed-groups", "4",
                                  "--seed", "5")
        try:
            ctx = open_context(Path(tmp) / "home", credentials=memory_credentials())
            conn = ConnectionRepo(ctx).add(Connection(name="Bench", api_url=sandbox.api_url))
            tokens = TokenService(ctx)
            tokens.set_api_key("Bench", sandbox.api_key)
            tokens.generate("Bench")
            with tokens.scim_client("Bench") as client:
                directory = Directory.from_live(client, conn)
            people = sorted(u.user_name for u in directory.users.values() if u.active and u.user_name)
            if len(people) < per_run * 2:
                raise RuntimeError(f"only {len(people)} active users were seeded")
            sandbox.admin("PUT", "/sandbox-admin/faults", {"latency_ms": LATENCY_MS})
            runs = (("default concurrency", DEFAULT_CONCURRENCY, people[:per_run]),
                    ("one at a time", 1, people[per_run:per_run * 2]))
            seconds: dict[str, float] = {}
            for label, concurrency, names in runs:
                p = plan(ctx, conn, "deactivate", names, directory=directory)
                with h.stopwatch() as t:
                    result = execute(ctx, conn, p, "benchmark", "bench", concurrency=concurrency)
                if result.counts["done"] != per_run:
                    raise RuntimeError(f"{label}: {result.summary()}")
                seconds[label] = t["seconds"]
                metrics.append(h.metric(f"deactivate {per_run:,} people, {label} ({concurrency} in flight)",
                                        t["seconds"], "s", per_person_ms=round(t["seconds"] / per_run * 1000, 1)))
            speedup = seconds["one at a time"] / seconds["default concurrency"]
            metrics.append(h.metric("speed-up of the default concurrency over one at a time", speedup, "x",
                                    target=">= 4x", met=h.check(speedup, at_least=4)))
            if not quick:
                big = Directory(source="snapshot", taken_at=directory.taken_at)
                from console.operations.targets import DirUser

                for i in range(10_000):
                    big.add_user(DirUser(id=f"u{i}", user_name=f"user{i}@bench.example", email=None,
                                         display_name=None, active=True, external_id=None))
                data = ("userName\n" + "\n".join(f"user{i}@bench.example" for i in range(10_000))).encode()
                with h.stopwatch() as t:
                    preview = plan(ctx, conn, "deactivate", read_csv_targets(data), directory=big)
                assert preview.count == 10_000
                metrics.append(h.metric("preview of a 10,000-row CSV (parse + resolve + plan)", t["seconds"], "s",
                                        target="<= 2 s", met=h.check(t["seconds"], at_most=2)))
        finally:
            sandbox.stop()
    return {"params": params, "metrics": metrics}
