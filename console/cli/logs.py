"""``python -m console logs import|fetch|summary``: Entra provisioning logs.

  logs import PATH... --connection NAME   import admin-center downloads (JSON, or the CSV bundle's files
                                          together); prints new / already known / rejected with reasons.
                                          Exit 0, or 1 when some records or files were rejected.
  logs fetch --connection NAME [--full]   fetch new records from Microsoft Graph (incremental) and poll the
                                          provisioning job. Exit 0, 2 on a Graph error (what was fetched is kept).
  logs summary --connection NAME [--json] cycles, counts by action and status, failures by error code, alerts.
                                          Exit 0 without alerts, 1 with warnings, 2 with critical alerts.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

from console.cli._common import add_connection_option, data_dir_parent, open_ctx, print_json, progress
from console.connections import ConnectionRepo
from console.entra.fetch import fetch_since
from console.entra.files import import_files
from console.entra.health import job_overview
from console.entra.logstore import ImportResult, summarise
from console.entra.sync import sync
from console.notify.alerts import current_alerts


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logs", help="Entra provisioning logs: import, fetch, summary", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    logs = p.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    imp = logs.add_parser("import", parents=[data_dir_parent()], help="import downloaded log files")
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add_connection_option(imp)
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=cmd_import)
    fetch = logs.add_parser("fetch", parents=[data_dir_parent()], help="fetch new logs from Microsoft Graph")
    add_connection_option(fetch)
    fetch.add_argument("--full", action="store_true", help="fetch everything Graph keeps, not only what is new")
    fetch.add_argument("--json", action="store_true")
    fetch.set_defaults(handler=cmd_fetch)
    summ = logs.add_parser("summary", parents=[data_dir_parent()], help="cycles, failures and alerts")
    add_connection_option(summ)
    summ.add_argument("--days", type=float, default=None, help="only the last N days (default: everything)")
    summ.add_argument("--json", action="store_true")
    summ.set_defaults(handler=cmd_summary)


def _print_result(res: ImportResult, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        print_json({**res.as_dict(), **(extra or {})})
        return
    print(f"{res.new} new, {res.known + res.duplicates} already known"
          + (f" ({res.duplicates} repeated within the input)" if res.duplicates else "")
          + f", {res.rejected_count} rejected")
    for where, reason in res.rejected[:20]:
        print(f"  rejected: {where}: {reason}")
    if res.rejected_count > 20:
        print(f"  ... and {res.rejected_count - 20} more rejected")
    for w in res.warnings:
        print(f"  note: {w}")


def cmd_import(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.connection)
    res = import_files(ctx, conn, list(args.paths))
    _print_result(res, args.json)
    return 1 if res.rejected_count else 0


def cmd_fetch(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.connection)
    since = None if args.full else fetch_since(ctx, conn)
    if conn.entra is not None:
        progress(f"fetching provisioning logs {'since ' + since.isoformat() if since else '(everything Graph keeps)'}")
    res = sync(ctx, conn, full=args.full, progress=lambda n: progress(f"  {n:,} records read"))
    _print_result(res, args.json, None)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.connection)
    since = ctx.now() - timedelta(days=args.days) if args.days else None
    s = summarise(ctx, conn, since=since)
    ov = job_overview(ctx, conn)
    alerts = current_alerts(ctx, conn)
    code = 2 if any(a.severity == "critical" for a in alerts) else 1 if alerts else 0
    if args.json:
        cycles = s.cycles.tail(50)
        print_json({
            "connection": conn.name, "records": s.total,
            "first": s.first.isoformat() if s.first else None, "last": s.last.isoformat() if s.last else None,
            "job": {"status": ov.status, "last_cycle_end": ov.last_cycle_end, "next_expected": ov.next_expected,
                    "overdue": ov.overdue, "quarantine": ov.quarantine,
                    "quarantine_periods": len(ov.quarantine_periods)},
            "cycles": [{"cycle_id": r["cycle_id"], "start": r["start"].isoformat(), "end": r["end"].isoformat(),
                        "total": int(r["total"]), "success": int(r["success"]), "failure": int(r["failure"]),
                        "skipped": int(r["skipped"]), "warning": int(r["warning"]),
                        "failure_rate": round(float(r["failure_rate"]), 4)} for _, r in cycles.iterrows()],
            "by_action": s.by_action[["action", "status", "count"]].astype({"count": int}).to_dict("records"),
            "failures_by_error": s.by_error[["error_code", "count", "explanation", "fix"]]
            .astype({"count": int}).to_dict("records"),
            "alerts": [a.as_dict() for a in alerts]})
        return code
    print(f"{conn.name}: {s.total:,} provisioning log records"
          + (f" from {s.first:%Y-%m-%d %H:%M} to {s.last:%Y-%m-%d %H:%M} UTC" if s.first else ""))
    print(f"job: {ov.status or 'never polled'}; last cycle ended "
          f"{ov.last_cycle_end:%Y-%m-%d %H:%M} UTC" if ov.last_cycle_end else f"job: {ov.status or 'never polled'}")
    if len(s.cycles):
        print(f"cycles: {len(s.cycles)}; the last 5:")
        for _, r in s.cycles.tail(5).iterrows():
            print(f"  {r['start']:%Y-%m-%d %H:%M} {r['cycle_id']}: {int(r['total'])} records, "
                  f"{int(r['failure'])} failed ({r['failure_rate']:.0%})")
    if len(s.by_action):
        print("by action and status: " + ", ".join(f"{action}/{status} {int(count):,}" for action, status, count
                                                   in s.by_action[["action", "status", "count"]].itertuples(
                                                       index=False)))
    if len(s.by_error):
        print("failures by error code:")
        for code, count, explanation, fix in s.by_error.head(10)[["error_code", "count", "explanation", "fix"]
                                                                   ].itertuples(index=False):
            print(f"  {int(count):>7,}  {code}: {explanation} Fix: {fix}")
    if alerts:
        print("alerts:")
        for a in alerts:
            print(f"  [{a.severity}] {a.title}: {a.detail} What to do: {a.remedy}")
    else:
        print("alerts: none")
    return code
