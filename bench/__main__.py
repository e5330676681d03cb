"""``python -m bench [NAME...] [--quick]``: run the benchmarks, print tables, write JSON under bench/results/.

Discovers ``bench/<name>_bench.py`` modules that expose ``run(quick: bool) -> dict``. Each one runs in a fresh
Python process (so its peak memory and imports do not leak into the next), one after the other, with a time
limit. Exit status: 0 when every selected benchmark ran (skips included), 1 when one failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import _harness as h

BENCH_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Names of the benchmark modules, e.g. ``sandbox`` for ``bench/sandbox_bench.py``."""
    return sorted(p.name[: -len("_bench.py")] for p in BENCH_DIR.glob("*_bench.py") if not p.name.startswith("_"))


def run_one(name: str, quick: bool, results_dir: Path) -> dict[str, Any]:
    """Import and run one benchmark in this process; write its JSON; return the document."""
    document: dict[str, Any] = {
        "name": name,
        "timestamp": h.timestamp(),
        "quick": quick,
        "machine": h.machine_info(),
    }
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.{name}_bench")
        result = module.run(quick)
        if not isinstance(result, dict):
            raise TypeError(f"bench/{name}_bench.py run() returned {type(result).__name__}, not a dict")
        document["status"] = "ok"
        document["result"] = result
    except h.Skip as exc:
        document["status"] = "skipped"
        document["reason"] = str(exc)
        document["result"] = {}
    except Exception as exc:
        document["status"] = "error"
        document["reason"] = f"{type(exc).__name__}: {exc}"
        document["traceback"] = traceback.format_exc(limit=8)
        document["result"] = {}
    document["duration_s"] = round(time.perf_counter() - started, 3)
    document["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    path = h.write_result(name, document, results_dir)
    document["path"] = str(path)
    return document


def report(document: dict[str, Any]) -> None:
    name = document["name"]
    if document["status"] == "ok":
        print(h.format_table(name, document["result"]))
    else:
        print(f"== {name}: {document['status'].upper()}: {document.get('reason')}")
        if document["status"] == "error" and document.get("traceback"):
            print(document["traceback"])
    print(f"   ({document['duration_s']:.1f} s; written to {document['path']})\n", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke: the suite in < 2 min)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results-dir", type=Path, default=h.RESULTS_DIR, help="where the JSON goes")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds allowed per benchmark (default 300 quick, 3600 full)")
    parser.add_argument("--in-process", action="store_true", help="run in this process (debugging)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    names = args.names or available

    if args.child or args.in_process:
        statuses = []
        for name in names:
            document = run_one(name, args.quick, args.results_dir)
            report(document)
            statuses.append(document["status"])
            if args.child:
                print("BENCH-RESULT " + json.dumps({"name": name, "status": document["status"],
                                                    "path": document["path"]}), flush=True)
        return 1 if "error" in statuses else 0

    timeout = args.timeout or (300.0 if args.quick else 3600.0)
    failed = []
    for name in names:
        cmd = [sys.executable, "-m", "bench", "--child", name, "--results-dir", str(args.results_dir)]
        if args.quick:
            cmd.append("--quick")
        proc = subprocess.Popen(cmd, cwd=h.ROOT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # the benchmark's own process group: its servers and browsers go with it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            print(f"== {name}: ERROR: timed out after {timeout:.0f} s\n", flush=True)
            h.write_result(name, {"name": name, "timestamp": h.timestamp(), "quick": args.quick,
                                  "machine": h.machine_info(), "status": "error",
                                  "reason": f"timed out after {timeout:.0f} s", "result": {}},
                           args.results_dir)
            failed.append(name)
            continue
        if proc.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
