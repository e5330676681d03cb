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

from babel.numbers import format_percent

from console.cli._common import (
    add_connection_option,
    data_dir_parent,
    fmt_time,
    open_ctx,
    print_json,
    progress,
)
from console.connections import ConnectionRepo
from console.entra.fetch import fetch_since
from console.entra.files import import_files
from console.entra.health import job_overview
from console.entra.logstore import ImportResult, summarise
from console.entra.sync import sync
from console.i18n import _, count, fmt_number, locale, pgettext
from console.notify.alerts import current_alerts


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logs", help=_("Entra provisioning logs: import, fetch, summary"),
                       description=_(
                           "Entra provisioning logs.\n\n"
                           "  logs import PATH... --connection NAME   import admin-center downloads (JSON, or the CSV "
                           "bundle's files\n"
                           "                                          together); prints new / already known / rejected "
                           "with reasons.\n"
                           "                                          Exit 0, or 1 when some records or files were "
                           "rejected.\n"
                           "  logs fetch --connection NAME [--full]   fetch new records from Microsoft Graph "
                           "(incremental) and poll the\n"
                           "                                          provisioning job. Exit 0, 2 on a Graph error "
                           "(what was fetched is kept).\n"
                           "  logs summary --connection NAME [--json] cycles, counts by action and status, failures by "
                           "error code, alerts.\n"
                           "                                          Exit 0 without alerts, 1 with warnings, 2 with "
                           "critical alerts."),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    logs = p.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    imp = logs.add_parser("import", parents=[data_dir_parent()], help=_("import downloaded log files"))
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                     help=_("files downloaded from the admin center (JSON, or the CSV bundle's files)"))
    add_connection_option(imp)
    imp.add_argument("--json", action="store_true", help=_("print JSON"))
    imp.set_defaults(handler=cmd_import)
    fetch = logs.add_parser("fetch", parents=[data_dir_parent()], help=_("fetch new logs from Microsoft Graph"))
    add_connection_option(fetch)
    fetch.add_argument("--full", action="store_true", help=_("fetch everything Graph keeps, not only what is new"))
    fetch.add_argument("--json", action="store_true", help=_("print JSON"))
    fetch.set_defaults(handler=cmd_fetch)
    summ = logs.add_parser("summary", parents=[data_dir_parent()], help=_("cycles, failures and alerts"))
    add_connection_option(summ)
    summ.add_argument("--days", type=float, default=None, help=_("only the last N days (default: everything)"))
    summ.add_argument("--json", action="store_true", help=_("print JSON"))
    summ.set_defaults(handler=cmd_summary)


def _print_result(res: ImportResult, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        print_json({**res.as_dict(), **(extra or {})})
        return
    known = fmt_number(res.known + res.duplicates)
    if res.duplicates:
        line = _("{new} new, {known} already known ({duplicates} repeated within the input), {rejected} rejected")
    else:
        line = _("{new} new, {known} already known, {rejected} rejected")
    print(line.format(new=fmt_number(res.new), known=known, duplicates=fmt_number(res.duplicates),
                      rejected=fmt_number(res.rejected_count)))
    for where, reason in res.rejected[:20]:
        print("  " + _("rejected: {where}: {reason}").format(where=where, reason=reason))
    if res.rejected_count > 20:
        print("  " + count(res.rejected_count - 20, "... and {n} more rejected", "... and {n} more rejected"))
    for w in res.warnings:
        print("  " + _("note: {warning}").format(warning=w))


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
        progress(_("fetching provisioning logs since {time}").format(time=fmt_time(since)) if since else
                 _("fetching provisioning logs (everything Graph keeps)"))
    res = sync(ctx, conn, full=args.full,
               progress=lambda n: progress("  " + count(n, "{n} record read", "{n} records read")))
    _print_result(res, args.json, None)
    return 0


def _action_status(action: str, status: str) -> str:
    """A provisioning action and its status (``console.entra.records``) in the admin center's words."""
    actions = {"create": pgettext("provisioning action", "create"),
               "update": pgettext("provisioning action", "update"),
               "delete": pgettext("provisioning action", "delete"),
               "disable": pgettext("provisioning action", "disable"),
               "stagedDelete": pgettext("provisioning action", "stagedDelete"),
               "other": pgettext("provisioning action", "other")}
    statuses = {"success": pgettext("provisioning status", "success"),
                "failure": pgettext("provisioning status", "failure"),
                "skipped": pgettext("provisioning status", "skipped"),
                "warning": pgettext("provisioning status", "warning")}
    return f"{actions.get(str(action), str(action))}/{statuses.get(str(status), str(status))}"


def _alert_severity(severity: str) -> str:
    words = {"critical": pgettext("alert", "critical"), "warning": pgettext("alert", "warning"),
             "info": pgettext("alert", "info")}
    return words.get(severity, severity)


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
                        "failure_rate": round(float(r["failure_rate"]), 4)} for _i, r in cycles.iterrows()],
            "by_action": s.by_action[["action", "status", "count"]].astype({"count": int}).to_dict("records"),
            "failures_by_error": s.by_error[["error_code", "count", "explanation", "fix"]]
            .astype({"count": int}).to_dict("records"),
            "alerts": [a.as_dict() for a in alerts]})
        return code
    records = count(s.total, "{n} provisioning log record", "{n} provisioning log records")
    if s.first:
        print(_("{name}: {records} from {first} to {last}").format(
            name=conn.name, records=records, first=fmt_time(s.first), last=fmt_time(s.last)))
    else:
        print(f"{conn.name}: {records}")
    status = ov.status or pgettext("job", "never polled")
    if ov.last_cycle_end:
        print(_("job: {status}; last cycle ended {time}").format(status=status, time=fmt_time(ov.last_cycle_end)))
    else:
        print(_("job: {status}").format(status=status))
    if len(s.cycles):
        print(_("cycles: {n}; the last 5:").format(n=fmt_number(len(s.cycles))))
        for _i, r in s.cycles.tail(5).iterrows():
            print(f"  {fmt_time(r['start'])} {r['cycle_id']}: " + _("{records}, {failed} failed ({rate})").format(
                records=count(int(r["total"]), "{n} record", "{n} records"), failed=fmt_number(int(r["failure"])),
                rate=format_percent(float(r["failure_rate"]), locale=locale())))
    if len(s.by_action):
        print(_("by action and status: {counts}").format(counts=pgettext("cli separator", ", ").join(
            f"{_action_status(action, status)} {fmt_number(int(n))}" for action, status, n
            in s.by_action[["action", "status", "count"]].itertuples(index=False))))
    if len(s.by_error):
        print(_("failures by error code:"))
        for error_code, n, explanation, fix in s.by_error.head(10)[["error_code", "count", "explanation", "fix"]
                                                                     ].itertuples(index=False):
            print(f"  {fmt_number(int(n)):>7}  {error_code}: {explanation} " + _("Fix: {fix}").format(fix=fix))
    if alerts:
        print(_("alerts:"))
        for a in alerts:
            print(f"  [{_alert_severity(a.severity)}] {a.title}: {a.detail} "
                  + _("What to do: {remedy}").format(remedy=a.remedy))
    else:
        print(_("alerts: none"))
    return code
