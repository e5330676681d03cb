"""``python -m console remind [--connection NAME] [--dry-run]``: send due token reminders (cron-friendly).

Each threshold (60, 30, 14, 7, 3, 1 days, expired, rejected) is sent once per token and channel, recorded in the
store. The running app sends due reminders itself through the same code and records
(``console.notify.reminders.remind_all``), so cron and the app never both send one. Exit 0 when nothing failed, 1 when a
due reminder could not be delivered (no channel, or a channel failed; it is retried next run), 2 on an error
(e.g. a locked keyring: the other connections are still handled).
"""

from __future__ import annotations

import argparse
import sys

from console.cli._common import add_connection_option, data_dir_parent, open_ctx, print_json
from console.notify.reminders import remind_all


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remind", parents=[data_dir_parent()], help="send due token-expiry reminders (for cron)",
                       description=__doc__)
    add_connection_option(p, required=False)
    p.add_argument("--dry-run", action="store_true", help="show what would be sent; send and record nothing")
    p.add_argument("--test", action="store_true", help="test each token against SCIM first (detects revocation)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_remind)


def cmd_remind(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    run = remind_all(ctx, args.connection, dry_run=args.dry_run, test=args.test, source="cli")
    code = 1 if run.undelivered and not args.dry_run else 0
    if args.json:
        print_json([{"connection": o.connection, "level": o.status.level, "key": o.key, "title": o.title,
                     "message": o.message,
                     "sent": len(o.notification.sent) if o.notification else 0,
                     "failed": len(o.notification.failed) if o.notification else 0} for o in run.outcomes]
                   + [{"connection": name, "level": a.severity, "key": f"entra:{a.key}", "title": a.title,
                       "message": a.detail, "sent": len(n.sent), "failed": len(n.failed)} for name, a, n in run.alerts])
    else:
        if not run.outcomes and not run.problems:
            print("No connections.")
        for o in run.outcomes:
            print(f"{o.connection}: {o.status.level.upper()}: {o.message}")
        for name, a, n in run.alerts:
            sent = len(n.sent)
            print(f"{name}: ALERT {a.severity.upper()}: {a.title}: {a.detail}"
                  + (f" (sent to {sent} channel(s))" if sent else ""))
    for problem in run.problems:
        print(problem, file=sys.stderr)
    return 2 if run.reminder_errors else code
