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
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from console.connections import Connection, ConnectionRepo
from console.context import Context, open_context
from console.errors import InvalidInput, NotFoundError
from console.i18n import N_, _, count
from console.operations.audit import os_operator
from console.operations.batches import validate_reason
from console.operations.executor import execute
from console.operations.model import DEFAULT_CONCURRENCY, BatchResult, Plan
from console.operations.targets import CsvTargets, read_csv_targets
from console.operations.wording import shown, shown_lines

PREVIEW_ROWS = 40
#: the end of every operation command's description (translate where used: ``_(HELP_TAIL)``)
HELP_TAIL = N_("A preview is printed first. Without --yes you are asked to type the number of people; with no "
               "terminal the command refuses (exit 2). Every change is read back from the server. Exit codes: 0 done "
               "or dry run, 1 done with failed items or stopped, 2 refused or error, 3 stopped on a server defect "
               "(members lost; restored where possible; the report is printed). Progress goes to stderr.")
EXIT_DEFECT = 3


def add_common(parser: argparse.ArgumentParser, *, users: bool = True) -> None:
    if users:
        parser.add_argument("users", nargs="*", metavar="USER",
                            help=_("userName, e-mail or SCIM id (as many as you like)"))
        parser.add_argument("--from-csv", metavar="PATH", type=Path,
                            help=_("a CSV with one userName or e-mail per row (header optional; UTF-8, UTF-16, "
                                   "Shift_JIS, Windows-1252 or Latin-1; , ; tab or | separated)"))
    parser.add_argument("--reason", metavar="TEXT", help=_("why (required to run; recorded in the audit log)"))
    parser.add_argument("--dry-run", action="store_true", help=_("show the preview only; change nothing"))
    parser.add_argument("--yes", action="store_true", help=_("do not ask for confirmation"))
    parser.add_argument("--connection", metavar="NAME",
                        help=_("the connection to act on (default: the only one, if there is only one)"))
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                        help=_("changes in flight at once (default {n})").format(n=DEFAULT_CONCURRENCY))
    parser.add_argument("--json", action="store_true", help=_("print the result as JSON"))


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
        raise NotFoundError(_("There is no connection yet."), _("Add one with `python -m console connections add`."))
    names = ", ".join(c.name for c in conns)
    raise InvalidInput(_("Several connections exist ({names}).").format(names=names),
                       _("Say which one with --connection NAME."))


def targets_from_args(args: argparse.Namespace) -> Any:

    values = [u for u in (args.users or []) if u.strip()]
    if args.from_csv:
        csv_targets = read_csv_targets(Path(args.from_csv))
        if values:
            return CsvTargets(values=values + csv_targets.values, notes=csv_targets.notes,
                              encoding=csv_targets.encoding)
        return csv_targets
    if not values:
        raise InvalidInput(_("No users given."), _("Name users (userName or e-mail) or give --from-csv PATH."))
    return values


def _cell(text: str, width: int) -> str:
    """``text`` cut and padded to ``width`` terminal columns (a Japanese character takes two)."""
    out, used = "", 0
    for char in text:
        w = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used + w > width:
            break
        out += char
        used += w
    return out + " " * (width - used)


def print_plan(plan: Plan, out: TextIO | None = None, rows: int = PREVIEW_ROWS) -> None:
    out = out or sys.stdout  # read when called: the CLI wraps stdout for terminals after this module is imported
    print(_("Preview: {label} on connection “{name}”").format(label=shown(plan.label), name=plan.connection), file=out)
    print("  " + _("{changing} will change, {skipped} skipped").format(changing=plan.count, skipped=len(plan.skipped)),
          file=out)
    if plan.resolved_from == "snapshot" and plan.resolved_at is not None:
        print("  " + _("note: directory snapshot of {when}").format(when=local(plan.resolved_at)), file=out)
    for note in plan.notes:
        print("  " + _("note: {note}").format(note=shown(note)), file=out)
    for warning in plan.warnings:
        print("  " + _("warning: {warning}").format(warning=shown(warning)), file=out)
    table = plan.rows()
    if table:
        print(file=out)
        print(f"  {_cell(_('user'), 36)} {_cell(_('name'), 24)} {_cell(_('change'), 6)} {_cell(_('from'), 24)} "
              f"{_cell(_('to'), 24)} {_('why skipped')}", file=out)
        changes = {"yes": _("yes"), "skip": _("skip")}
        for row in table[:rows]:
            print(f"  {_cell(row['user'], 36)} {_cell(row['name'], 24)} {_cell(changes[row['change']], 6)} "
                  f"{_cell(shown(row['from']), 24)} {_cell(shown(row['to']), 24)} {shown(row['why skipped'])}",
                  file=out)
        if len(table) > rows:
            print("  " + count(len(table) - rows, "… and {n} more row", "… and {n} more rows"), file=out)


def confirm(plan: Plan, yes: bool) -> None:
    """Return when the operator confirmed; raise InvalidInput (exit 2) otherwise."""
    if yes:
        return
    changing = plan.count
    if not sys.stdin.isatty():
        raise InvalidInput(_("Not confirmed: {people} would change, and there is no terminal to ask for "
                             "confirmation.").format(people=count(changing, "{n} person", "{n} people")),
                           _("Read the preview above, then run again with --yes."))
    answer = input(_("{confirmation} Type {n} to confirm: ").format(confirmation=plan.confirmation_text(),
                                                                   n=plan.count)).strip()
    if answer != str(plan.count):
        raise InvalidInput(_("Not confirmed; nothing was changed."),
                           _("Type exactly {n} to go ahead.").format(n=plan.count))


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


def print_result(result: BatchResult, as_json: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # read when called, as in print_plan
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
            print(_("The directory snapshot shows the new state ({detail}).").format(
                detail=shown(result.directory_detail)), file=out)
        for defect in result.defects:
            print(file=out)
            print(shown_lines(defect.report), file=out)
            print(file=out)
        states = {"failed": _("failed"), "pending": _("pending")}
        for item in result.items:
            if item.state == "failed" or (item.state == "pending" and result.stop_reason):
                what = shown(item.error or item.note or "")
                remedy = ("→ " + shown(item.remedy)) if item.remedy else ""
                print(f"  {states[item.state]}: {item.user_name or item.user_id}: {what} {remedy}".rstrip(), file=out)
            elif item.state == "done" and item.outcome in ("partial",):
                print("  " + _("partial: {user}: {note}").format(user=item.user_name, note=shown(item.note)),
                      file=out)
    if result.defects:
        print((_("Server defect: action {id} was stopped; every lost member was restored and verified. Full report: "
                 "python -m console audit show {id}") if all(d.restored for d in result.defects)
               else _("Server defect: action {id} was stopped; some lost members could NOT be restored: see the "
                      "report. Full report: python -m console audit show {id}")).format(id=result.batch_id),
              file=sys.stderr)
        return EXIT_DEFECT
    if result.stop_reason or result.counts.get("failed"):
        return 1
    return 0


def run_plan(ctx: Context, conn: Connection, plan: Plan, args: argparse.Namespace) -> int:

    print_plan(plan, out=sys.stdout if not args.json or args.dry_run else sys.stderr)
    if args.dry_run:
        print(_("Dry run: nothing was changed."), file=sys.stderr)
        return 0
    if plan.count == 0:
        print(_("Nothing to change: everyone listed is skipped (see above). Nothing was sent to 6clicks."),
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
                     progress=StderrProgress(_("action ({label})").format(label=shown(plan.label))))
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
        raise InvalidInput(_("“{text}” is not a time.").format(text=text),
                           _("Use 7d, 12h, 30m or an ISO date such as 2026-11-20.")) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def local(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M %Z") if dt else "-"
