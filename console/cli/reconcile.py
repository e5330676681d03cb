"""``python -m console reconcile``: Entra and 6clicks side by side, in five categories.

Exit 0 clean, 1 drift only, 2 access that should not exist (orphans). ``--json`` prints the counts, warnings and
every row on one line; ``--csv FILE`` writes the run's rows (formula-safe) for evidence. The reconciliation
changes nothing; act on its result from the Reconcile page or the users/groups commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.cli._common import (
    add_connection_option,
    data_dir_parent,
    exit_word,
    fmt_time,
    open_ctx,
    print_json,
    progress,
)
from console.connections import ConnectionRepo
from console.errors import InvalidInput
from console.i18n import N_, _, count, pgettext, use_language
from console.reconcile.compare import CATEGORIES, TITLES, column_label, mode_label
from console.reconcile.runs import export_csv, reconcile
from console.text import plain

SHOWN = 10  # rows printed per category (all of them with --json or --csv)

#: the categories' titles (``console.reconcile.compare.TITLES``), marked here too so the report names them in the
#: operator's language whichever area's catalog holds them
CATEGORY_TITLES = (N_("Not managed by SCIM"), N_("Orphans"), N_("Missing"), N_("Attribute drift"),
                   N_("Membership drift"), N_("Conflicts"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconcile", parents=[data_dir_parent()],
        help=_("compare Entra and 6clicks; exit 0 clean, 1 drift, 2 orphans, 3 the run could not complete"),
        description=_("Read 6clicks (a fresh snapshot) and Entra (through Graph: the app's assignments, the members "
                      "of assigned groups, users by delta query) and list who is not managed by SCIM, orphans, "
                      "missing people, attribute drift and membership drift. Exit 0 clean, 1 drift only, 2 orphans, 3 the run "
                      "could not complete (an error, said on stderr: a script can tell it from orphans). "
                      "The CSV keeps English column names and category names in every language, for scripts."))
    add_connection_option(p)
    p.add_argument("--json", action="store_true", help=_("print the result as one line of JSON"))
    p.add_argument("--csv", type=Path, metavar="FILE",
                   help=_("also write every row to FILE (CSV, formula-safe; - for standard output instead of the "
                          "report)"))
    p.add_argument("--no-refresh", action="store_true", help=_("use the latest snapshot instead of reading 6clicks"))
    p.add_argument("--full", action="store_true", help=_("read every Entra user again instead of the changes"))
    p.set_defaults(handler=cmd_reconcile, error_exit=3)


def _check_csv_path(path: Path | None) -> None:
    """Say before a long run that the CSV cannot be written, rather than after it."""
    if path is None or str(path) == "-":
        return
    if path.is_dir():
        raise InvalidInput(_("--csv {path} is a folder.").format(path=path),
                           _("Give a file name, e.g. --csv reconciliation.csv (or - for standard output)."))
    if not path.parent.is_dir():
        raise InvalidInput(_("The folder of --csv {path} does not exist.").format(path=path),
                           _("Create it first, or write elsewhere."))


def cmd_reconcile(args: argparse.Namespace) -> int:
    _check_csv_path(args.csv)
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx).get(args.connection)
    run = reconcile(ctx, conn, refresh=not args.no_refresh, full=args.full,
                    progress=None if args.json else progress)
    result = run.result
    if args.csv and run.id is not None:
        with use_language("en"):  # a file for scripts: the same header and category names in every language
            data = export_csv(ctx, conn, run.id)
        if str(args.csv) == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return run.exit_code
        args.csv.write_bytes(data)
        print(_("Wrote {path}").format(path=args.csv), file=sys.stderr)
    if args.json:
        print_json({"connection": conn.name, "at": run.at.isoformat(), "mode": run.mode, "run": run.id,
                    "exit_code": run.exit_code, "counts": result.counts(), "warnings": result.warnings,
                    "rows": {k: v.astype(object).where(v.notna(), None).to_dict("records")
                             for k, v in result.tables.items()}})
        return run.exit_code
    counts = result.counts()
    print(_("Reconciliation of {name!r} ({mode}; 6clicks as of {time})").format(
        name=conn.name, mode=mode_label(run.mode), time=fmt_time(run.snapshot.taken_at)))
    for category in CATEGORIES:
        if category not in result.tables:
            continue
        frame = result.tables[category]
        print(f"\n{_(TITLES[category])}: {counts[category]}")
        head = frame.drop(columns=[c for c in ("id", "user_id", "group_id") if c in frame.columns]).head(SHOWN)
        if len(head):
            print("  " + " | ".join(column_label(str(c)) for c in head.columns))
        for record in head.astype(object).where(head.notna(), "").to_dict("records"):
            # one line per row whatever the directory holds (a name with a line break cannot fake a line)
            print("  " + " | ".join(plain(v, limit=80, empty="-") for v in record.values()))
        if len(frame) > SHOWN:
            print("  " + count(len(frame) - SHOWN, "… and {n} more (--json or --csv for all)",
                               "… and {n} more (--json or --csv for all)"))
    for warning in result.warnings:
        print("\n" + _("note: {warning}").format(warning=warning))
    verdict = {0: pgettext("reconcile verdict", "clean"), 1: pgettext("reconcile verdict", "drift"),
               2: pgettext("reconcile verdict", "orphans have access")}[run.exit_code]
    print("\n" + _("{level}: {verdict}.").format(level=exit_word(run.exit_code), verdict=verdict))
    return run.exit_code
