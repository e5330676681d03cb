"""Shared pieces of the operations commands (``users``, ``groups``, ``audit``, ``undo``, ``ops``).

Previews go to stdout, progress to stderr. Without ``--yes`` the command asks on a terminal for the number of
people as confirmation; with no terminal it prints the preview and refuses (exit 2), so a script never changes
6clicks by accident. Exit codes: 0 done (or a dry run), 1 done with failed items or stopped, 2 refused/error,
3 stopped because the server mishandled a change (a server defect: see the report printed with the result).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from console.connections import Connection, ConnectionRepo
from console.context import Context, open_context
from console.errors import InvalidInput, NotFoundError
from console.operations.audit import os_operator
from console.operations.batches import validate_reason
from console.operations.executor import execute
from console.operations.model import DEFAULT_CONCURRENCY, BatchResult, Plan
from console.operations.targets import CsvTargets, read_csv_targets

PREVIEW_ROWS = 40
HELP_TAIL = ("A preview is printed first. Without --yes you are asked to type the number of people; with no "
             "terminal the command refuses (exit 2). Every change is read back from the server. Exit codes: 0 done "
             "or dry run, 1 done with failed items or stopped, 2 refused or error, 3 stopped on a server defect "
             "(members lost; restored where possible; the report is printed). Progress goes to stderr.")
EXIT_DEFECT = 3


def add_common(parser: argparse.ArgumentParser, *, users: bool = True) -> None:
    if users:
        parser.add_argument("users", nargs="*", metavar="USER",
                            help="userName, e-mail or SCIM id (as many as you like)")
        parser.add_argument("--from-csv", metavar="PATH", type=Path,
                            help="a CSV with one userName or e-mail per row (header optional; UTF-8, UTF-16, Shift_JIS, "
                                 "Windows-1252 or Latin-1; , ; tab or | separated)")
    parser.add_argument("--reason", metavar="TEXT", help="why (required to run; recorded in the audit log)")
    parser.add_argument("--dry-run", action="store_true", help="show the preview only; change nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--connection", metavar="NAME",
                        help="the connection to act on (default: the only one, if there is only one)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                        help=f"changes in flight at once (default {DEFAULT_CONCURRENCY})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def open_ctx() -> Context:

    return open_context()


def get_connection(ctx: Context, name: str | None) -> Connection:

    repo = ConnectionRepo(ctx)
    if name:
        return repo.get(name)
    conns = repo.list()
    if len(conns) == 1:
        return conns[0]
    if not conns:
        raise NotFoundError("There is no connection yet.", "Add one with `python -m console connections add`.")
    names = ", ".join(c.name for c in conns)
    raise InvalidInput(f"Several connections exist ({names}).", "Say which one with --connection NAME.")


def targets_from_args(args: argparse.Namespace) -> Any:

    values = [u for u in (args.users or []) if u.strip()]
    if args.from_csv:
        csv_targets = read_csv_targets(Path(args.from_csv))
        if values:
            return CsvTargets(values=values + csv_targets.values, notes=csv_targets.notes,
                              encoding=csv_targets.encoding)
        return csv_targets
    if not values:
        raise InvalidInput("No users given.", "Name users (userName or e-mail) or give --from-csv PATH.")
    return values


def print_plan(plan: Plan, out: TextIO = sys.stdout, rows: int = PREVIEW_ROWS) -> None:
    print(f"Preview: {plan.label} on connection “{plan.connection}”", file=out)
    print(f"  {plan.count} will change, {len(plan.skipped)} skipped", file=out)
    if plan.resolved_from == "snapshot" and plan.resolved_at is not None:
        print(f"  note: directory snapshot of {local(plan.resolved_at)}", file=out)
    for note in plan.notes:
        print(f"  note: {note}", file=out)
    for warning in plan.warnings:
        print(f"  warning: {warning}", file=out)
    table = plan.rows()
    if table:
        print(file=out)
        print(f"  {'user':<36} {'name':<24} {'change':<6} {'from':<24} {'to':<24} why skipped", file=out)
        for row in table[:rows]:
            print(f"  {row['user'][:36]:<36} {row['name'][:24]:<24} {row['change']:<6} {row['from'][:24]:<24} "
                  f"{row['to'][:24]:<24} {row['why skipped']}", file=out)
        if len(table) > rows:
            print(f"  … and {len(table) - rows} more rows", file=out)


def confirm(plan: Plan, yes: bool) -> None:
    """Return when the operator confirmed; raise InvalidInput (exit 2) otherwise."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(f"Not confirmed: {plan.count} {'person' if plan.count == 1 else 'people'} would change, and there is no terminal to ask "
                           "for confirmation.", "Read the preview above, then run again with --yes.")
    answer = input(f"{plan.confirmation_text()} Type {plan.count} to confirm: ").strip()
    if answer != str(plan.count):
        raise InvalidInput("Not confirmed; nothing was changed.", f"Type exactly {plan.count} to go ahead.")


class StderrProgress:
    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            print(f"\r{self.label}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr,
                  flush=True)
            return
        step = max(1, total // 10)
        if done == total or done // step != self.last // step or done == 0:
            print(f"{self.label}: {done}/{total}", file=sys.stderr, flush=True)
        self.last = done


def print_result(result: BatchResult, as_json: bool, out: TextIO = sys.stdout) -> int:
    if as_json:
        print(json.dumps({"action_id": result.batch_id, "state": result.state, "counts": result.counts,
                          "stop_reason": result.stop_reason, "stop_remedy": result.stop_remedy,
                          "directory_updated": result.directory_updated,
                          "directory_detail": result.directory_detail,
                          "defects": [vars(d) for d in result.defects],
                          "items": [vars(i) for i in result.items]}, indent=2, default=str), file=out)
    else:
        print(result.summary(), file=out)
        if result.directory_updated:
            print(f"The directory snapshot shows the new state ({result.directory_detail}).", file=out)
        for defect in result.defects:
            print(file=out)
            print(defect.report, file=out)
            print(file=out)
        for item in result.items:
            if item.state == "failed" or (item.state == "pending" and result.stop_reason):
                print(f"  {item.state}: {item.user_name or item.user_id}: {item.error or item.note or ''} "
                      f"{('→ ' + item.remedy) if item.remedy else ''}".rstrip(), file=out)
            elif item.state == "done" and item.outcome in ("partial",):
                print(f"  partial: {item.user_name}: {item.note}", file=out)
    if result.defects:
        print(f"Server defect: action {result.batch_id} was stopped"
              + ("; every lost member was restored and verified." if all(d.restored for d in result.defects)
                 else "; some lost members could NOT be restored: see the report.")
              + f" Full report: python -m console audit show {result.batch_id}", file=sys.stderr)
        return EXIT_DEFECT
    if result.stop_reason or result.counts.get("failed"):
        return 1
    return 0


def run_plan(ctx: Context, conn: Connection, plan: Plan, args: argparse.Namespace) -> int:

    print_plan(plan, out=sys.stdout if not args.json or args.dry_run else sys.stderr)
    if args.dry_run:
        print("Dry run: nothing was changed.", file=sys.stderr)
        return 0
    if plan.count == 0:
        print("Nothing to change: everyone listed is skipped (see above). Nothing was sent to 6clicks.",
              file=sys.stderr)
        if args.json:
            print(json.dumps({"action_id": None, "state": "nothing to change",
                              "counts": {"skipped": len(plan.skipped)}, "items": [
                                  {"user_name": i.user_name or i.input, "state": "skipped", "note": i.skip}
                                  for i in plan.items]}, indent=2))
        return 0
    validate_reason(args.reason)
    confirm(plan, args.yes)
    result = execute(ctx, conn, plan, args.reason, os_operator(), source="cli", concurrency=args.concurrency,
                     progress=StderrProgress(f"action ({plan.label})"))
    return print_result(result, args.json)


def parse_since(text: str | None) -> datetime | None:
    """``7d``, ``12h``, ``30m`` or an ISO date/time (UTC unless it says otherwise)."""
    if not text:
        return None
    text = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"“{text}” is not a time.", "Use 7d, 12h, 30m or an ISO date such as 2026-11-20.") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def local(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M %Z") if dt else "-"
