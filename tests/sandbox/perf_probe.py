"""Quick performance probe of a running sandbox (not a test; the benchmarks proper live in bench/).

    python -m tests.sandbox.perf_probe --data-dir DIR [--seconds 10] [--concurrency 4]

Starts the sandbox on DIR (seed it first: python -m sandbox seed --data-dir DIR --users 100000 --groups 1000),
then measures: userName-eq lookups per second from N concurrent clients, the median latency of a page of 100
users (random pages), of a group lookup by displayName without members, and the server's CPU time per
lookup (psutil). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from pathlib import Path

import httpx

from tests.sandbox_fixture import start_sandbox


async def _lookups(scim_url: str, token: str, names: list[str], seconds: float, concurrency: int) -> dict:
    stop = time.perf_counter() + seconds
    counts = [0] * concurrency
    errors = [0]
    latencies: list[float] = []

    async def worker(i: int) -> None:
        rng = random.Random(i)
        async with httpx.AsyncClient(base_url=scim_url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=30) as c:
            while time.perf_counter() < stop:
                name = rng.choice(names)
                t0 = time.perf_counter()
                resp = await c.get("/Users", params={"filter": f'userName eq "{name}"'})
                latencies.append(time.perf_counter() - t0)
                if resp.status_code != 200 or resp.json()["totalResults"] != 1:
                    errors[0] += 1
                counts[i] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"requests": sum(counts), "errors": errors[0], "req_per_s": round(sum(counts) / elapsed, 1),
            "median_ms": round(statistics.median(latencies) * 1000, 2)}


def _server_cpu_per_lookup(box, token: str, names: list[str], n: int = 1000) -> float:
    """CPU time the server process spends per sequential userName-eq lookup (psutil), in ms."""
    import psutil

    proc = psutil.Process(box.proc.pid)
    rng = random.Random(2)
    with httpx.Client(base_url=box.scim_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        c.get("/Users", params={"count": 1})
        before = proc.cpu_times()
        for _ in range(n):
            c.get("/Users", params={"filter": f'userName eq "{rng.choice(names)}"'})
        after = proc.cpu_times()
    return round((after.user + after.system - before.user - before.system) / n * 1000, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--pages", type=int, default=200)
    args = ap.parse_args()
    box = start_sandbox(data_dir=args.data_dir, timeout=300)
    try:
        token = box.token()
        with httpx.Client(base_url=box.scim_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            total = c.get("/Users", params={"count": 0}).json()["totalResults"]
            rng = random.Random(1)
            names: list[str] = []
            for _ in range(20):
                page = c.get("/Users", params={"startIndex": rng.randint(1, max(1, total - 100)), "count": 100})
                names += [u["userName"] for u in page.json()["Resources"]]
            page_ms = []
            for _ in range(args.pages):
                t0 = time.perf_counter()
                resp = c.get("/Users", params={"startIndex": rng.randint(1, max(1, total - 100)), "count": 100})
                page_ms.append((time.perf_counter() - t0) * 1000)
                assert len(resp.json()["Resources"]) == min(100, total)
            groups = [g["displayName"] for g in c.get("/Groups", params={"count": 100,
                                                                        "excludedAttributes": "members"}).json()["Resources"]]
            group_ms = []
            for name in groups:
                t0 = time.perf_counter()
                c.get("/Groups", params={"filter": f'displayName eq "{name}"', "excludedAttributes": "members"})
                group_ms.append((time.perf_counter() - t0) * 1000)
        lookups = asyncio.run(_lookups(box.scim_url, token, names, args.seconds, args.concurrency))
        cpu_ms = _server_cpu_per_lookup(box, token, names)
        print(json.dumps({"server_cpu_ms_per_lookup": cpu_ms, "users": total, "page_of_100_median_ms": round(statistics.median(page_ms), 2),
                          "page_of_100_p95_ms": round(sorted(page_ms)[int(len(page_ms) * 0.95)], 2),
                          "group_lookup_median_ms": round(statistics.median(group_ms), 2),
                          "username_eq_lookups": lookups}, indent=2))
    finally:
        box.stop()


if __name__ == "__main__":
    main()
