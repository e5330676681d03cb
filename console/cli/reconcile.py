"""``python -m console reconcile``: Entra and 6clicks side by side, in five categories.

Exit 0 clean, 1 drift only, 2 access that should not exist (orphans). ``--json`` prints the counts, warnings and
every row on one line; ``--csv FILE`` writes the run's rows (formula-safe) for evidence. The reconciliation
changes nothing; act on its result from the Reconcile page or the users/groups commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.cli._common import add_connection_option, data_dir_parent, open_ctx, print_json, progress
from console.connections import ConnectionRepo
from console.errors import InvalidInput
from console.reconcile.compare import CATEGORIES, TITLES
from console.reconcile.runs import export_csv, reconcile
from console.text import plain

SHOWN = 10  # rows printed per category (all of them with --json or --csv)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconcile", parents=[data_dir_parent()], help="compare Entra and 6clicks; exit 0 clean, 1 drift, 2 orphans",
        description="Read 6clicks (a fresh snapshot) and Entra (through Graph: the app's assignments, the members "
                    "of assigned groups, users by delta query) and list who is not managed by SCIM, orphans, "
                    "missing people, attribute drift and membership drift. Exit 0 clean, 1 drift only, 2 orphans.")
    add_connection_option(p)
    p.add_argument("--json", action="store_true", help="print the result as one line of JSON")
    p.add_argument("--csv", type=Path, metavar="FILE",
                   help="also write every row to FILE (CSV, formula-safe; - for standard output instead of the report)")
    p.add_argument("--no-refresh", action="store_true", help="use the latest snapshot instead of reading 6clicks")
    p.add_argument("--full", action="store_true", help="read every Entra user again instead of the changes")
    p.set_defaults(handler=cmd_reconcile)


def _check_csv_path(path: Path | None) -> None:
    """Say before a long run that the CSV cannot be written, rather than after it."""
    if path is None or str(path) == "-":
        return
    if path.is_dir():
        raise InvalidInput(f"--csv {path} is a folder.", "Give a file name, e.g. --csv reconciliation.csv (or - for "
                           "standard output).")
    if not path.parent.is_dir():
        raise InvalidInput(f"The folder of --csv {path} does not exist.", "Create it first, or write elsewhere.")


def cmd_reconcile(args: argparse.Namespace) -> int:
    _check_csv_path(args.csv)
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx).get(args.connection)
    run = reconcile(ctx, conn, refresh=not args.no_refresh, full=args.full,
                    progress=None if args.json else progress)
    result = run.result
    if args.csv and run.id is not None:
        data = export_csv(ctx, conn, run.id)
        if str(args.csv) == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return run.exit_code
        args.csv.write_bytes(data)
        print(f"Wrote {args.csv}", file=sys.stderr)
    if args.json:
        print_json({"connection": conn.name, "at": run.at.isoformat(), "mode": run.mode, "run": run.id,
                    "exit_code": run.exit_code, "counts": result.counts(), "warnings": result.warnings,
                    "rows": {k: v.astype(object).where(v.notna(), None).to_dict("records")
                             for k, v in result.tables.items()}})
        return run.exit_code
    counts = result.counts()
    print(f"Reconciliation of {conn.name!r} ({run.mode}; 6clicks as of {run.snapshot.taken_at:%Y-%m-%d %H:%M} UTC)")
    for category in CATEGORIES:
        if category not in result.tables:
            continue
        frame = result.tables[category]
        print(f"\n{TITLES[category]}: {counts[category]}")
        head = frame.drop(columns=[c for c in ("id", "user_id", "group_id") if c in frame.columns]).head(SHOWN)
        if len(head):
            print("  " + " | ".join(head.columns))
        for record in head.astype(object).where(head.notna(), "").to_dict("records"):
            # one line per row whatever the directory holds (a name with a line break cannot fake a line)
            print("  " + " | ".join(plain(v, limit=80, empty="-") for v in record.values()))
        if len(frame) > SHOWN:
            print(f"  … and {len(frame) - SHOWN} more (--json or --csv for all)")
    for warning in result.warnings:
        print(f"\nnote: {warning}")
    label = {0: "OK: clean", 1: "WARNING: drift", 2: "CRITICAL: orphans have access"}[run.exit_code]
    print(f"\n{label}.")
    return run.exit_code
