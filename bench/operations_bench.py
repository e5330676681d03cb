"""Manual operations: deactivating people through the console's journaled executor against the sandbox with
50 ms of added latency per request, at the default concurrency (8 in flight) and one at a time; and the cost of
read-back verification on a move.

Each person costs two requests (a live GET to re-check the state, then the PATCH) plus one journal commit per
state change, so one-at-a-time is bounded below by ~2 x 50 ms per person. Full: 1,000 people each way (the
sandbox holds 2,000 so the two runs touch different people); quick: 100 each way. Also measured: the preview
(resolve a 10,000-row CSV against the directory) on the full run.

Verification: the same 1,000 people (quick: 100) are moved from a group of 1,200 to a group of 200, with the
executor's read-backs on (as shipped) and off (the Verifier replaced by one that never reads back, for this
measurement only), in ABBA order, three times each (quick: once); each run has its own pair of groups. The
overhead is the ratio of the medians. Every run is checked for exactness afterwards.

Run: ``python -m bench operations`` (or ``--quick``).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import _harness as h

LATENCY_MS = 50
OTHERS_IN_GROUPS = 200     # members of the move's groups who are not moved (what a read-back also reads)


@contextlib.contextmanager
def _without_read_backs() -> Iterator[None]:
    """The executor with a Verifier that never reads anything back (the baseline of the overhead figure)."""
    from console.operations import executor
    from console.operations.verify import Verifier

    class Unverified(Verifier):
        def __init__(self, client: Any, **kwargs: Any) -> None:
            super().__init__(client, **kwargs)
            self.trusted = True            # no canary either

        def due(self, *, final: bool = False) -> list[str]:
            return []

    original = executor.Verifier
    executor.Verifier = Unverified  # type: ignore[misc]
    try:
        yield
    finally:
        executor.Verifier = original  # type: ignore[misc]


def _verification_cost(ctx: Any, conn: Any, tokens: Any, sandbox: Any, per_run: int, rounds: int) -> list[dict[str, Any]]:
    from console.operations import execute, plan
    from console.operations.audit import get_action
    from console.operations.targets import Directory

    sandbox.admin("PUT", "/sandbox-admin/faults", {"latency_ms": 0})
    # ABBA order (on, off, off, on, on, off ...) so that warm-up and drifting load do not favour either side
    modes = [m for r in range(rounds) for m in (("verified", "unverified") if r % 2 == 0 else ("unverified", "verified"))]
    with tokens.scim_client("Bench") as client:
        everyone = sorted(u.id for u in client.list_users())
        kept = min(OTHERS_IN_GROUPS, (len(everyone) - per_run) // 2)
        movers, others = everyone[:per_run], everyone[per_run:per_run + 2 * kept]
        pairs = []
        for i, _mode in enumerate(modes):
            src = client.create_group(f"Bench move from {i}")
            dst = client.create_group(f"Bench move to {i}")
            client.add_members(src.id, movers + others[:kept])
            client.add_members(dst.id, others[kept:])
            pairs.append((src.id, dst.id))
        directory = Directory.from_live(ctx, client, conn)
    sandbox.admin("PUT", "/sandbox-admin/faults", {"latency_ms": LATENCY_MS})
    seconds: dict[str, list[float]] = {"verified": [], "unverified": []}
    reads: list[int] = []
    for mode, (src_id, dst_id) in zip(modes, pairs, strict=True):
        p = plan(ctx, conn, "move", movers, from_group=src_id, to_group=dst_id, directory=directory)
        guard = contextlib.nullcontext() if mode == "verified" else _without_read_backs()
        with guard, h.stopwatch() as t:
            result = execute(ctx, conn, p, "benchmark", "bench")
        if result.counts["done"] != per_run or result.defects:
            raise RuntimeError(f"move ({mode}): {result.summary()}")
        seconds[mode].append(t["seconds"])
        if mode == "verified":
            detail = next(e.detail for e in get_action(ctx, result.batch_id).events if e.event == "verified")
            reads.append(int(re.match(r"(\d+) read-back", detail or "").group(1)))  # type: ignore[union-attr]
    sandbox.admin("PUT", "/sandbox-admin/faults", {"latency_ms": 0})
    with tokens.scim_client("Bench") as client:          # every run was exact
        for src_id, dst_id in pairs:
            src_now = set(client.get_group(src_id).member_ids or [])
            dst_now = set(client.get_group(dst_id).member_ids or [])
            if src_now != set(others[:kept]) or dst_now != set(others[kept:]) | set(movers):
                raise RuntimeError(
                    f"a benchmark move did not end exactly as planned: source {len(src_now)} members (expected "
                    f"{kept}), target {len(dst_now)} (expected {len(others) - kept + len(movers)})")
    import statistics

    on, off = statistics.median(seconds["verified"]), statistics.median(seconds["unverified"])
    overhead = (on / off - 1) * 100
    return [
        h.metric(f"move {per_run:,} people, read-backs on (as shipped)", seconds["verified"], "s",
                 per_person_ms=round(on / per_run * 1000, 1), read_backs=reads),
        h.metric(f"move {per_run:,} people, read-backs off (baseline)", seconds["unverified"], "s",
                 per_person_ms=round(off / per_run * 1000, 1)),
        # the target is for 1,000 people; the quick size (100) is dominated by the fixed canary and final reads
        h.metric("time added by read-back verification on the move", overhead, "%",
                 target="< 15 % at 1,000 people" if per_run >= 1000 else None,
                 met=h.check(overhead, at_most=15) if per_run >= 1000 else None, requests_per_person=3,
                 read_backs_per_run=statistics.median(reads) if reads else None),
        # deterministic: the requests verification adds, against the 3 per person a move makes anyway
        h.metric("requests added by read-back verification on the move",
                 [r / (3 * per_run) * 100 for r in reads], "%", read_backs=reads),
    ]


def run(quick: bool) -> dict[str, Any]:
    try:
        from console.connections import Connection, ConnectionRepo
        from console.context import open_context
        from console.credentials import memory_credentials
        from console.operations import DEFAULT_CONCURRENCY, execute, plan, read_csv_targets
        from console.operations.targets import Directory
        from console.tokens.service import TokenService
    except ImportError as exc:
        raise h.Skip(f"the console is not importable yet ({exc})") from None
    per_run = 100 if quick else 1000
    seeded = int(per_run * 2.4)  # some seeded users start inactive
    rounds = 1 if quick else 3
    params = {"people_per_run": per_run, "latency_ms": LATENCY_MS, "default_concurrency": DEFAULT_CONCURRENCY,
              "requests_per_person": 2, "move_rounds_each_way": rounds, "others_in_move_groups": OTHERS_IN_GROUPS}
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
                directory = Directory.from_live(ctx, client, conn)
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
            metrics.extend(_verification_cost(ctx, conn, tokens, sandbox, per_run, rounds))
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
    notes = ["Read-back overhead: the machine's other load makes single runs vary by more than the overhead; "
             "the deterministic row is the share of requests the read-backs add."]
    return {"parameters": params, "metrics": metrics, "notes": notes}
