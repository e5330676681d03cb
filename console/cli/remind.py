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

from console.cli._common import add_connection_option, data_dir_parent, level_word, open_ctx, print_json
from console.i18n import _, ngettext
from console.notify.reminders import remind_all


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remind", parents=[data_dir_parent()], help=_("send due token-expiry reminders (for cron)"),
                       description=_(
                           "Send due token reminders (cron-friendly). Each threshold (60, 30, 14, 7, 3, 1 days, "
                           "expired, rejected) is sent once per token and channel, recorded in the store. The running "
                           "app sends due reminders itself through the same code and records, so cron and the app "
                           "never both send one. Exit 0 when nothing failed, 1 when a due reminder could not be "
                           "delivered (no channel, or a channel failed; it is retried next run), 2 on an error (e.g. "
                           "a locked keyring: the other connections are still handled)."))
    add_connection_option(p, required=False)
    p.add_argument("--dry-run", action="store_true", help=_("show what would be sent; send and record nothing"))
    p.add_argument("--test", action="store_true", help=_("test each token against SCIM first (detects revocation)"))
    p.add_argument("--json", action="store_true", help=_("print JSON"))
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
            print(_("No connections."))
        for o in run.outcomes:
            print(f"{o.connection}: {level_word(o.status.level)}: {o.message}")
        for name, a, n in run.alerts:
            sent = len(n.sent)
            line = _("{name}: ALERT {severity}: {title}: {detail}").format(
                name=name, severity=level_word(a.severity), title=a.title, detail=a.detail)
            if sent:
                line += ngettext(" (sent to {n} channel)", " (sent to {n} channels)", sent).format(n=sent)
            print(line)
    for problem in run.problems:
        print(problem, file=sys.stderr)
    return 2 if run.reminder_errors else code
