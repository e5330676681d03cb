"""``python -m console remind [--connection NAME] [--dry-run]``: send due token reminders (cron-friendly).

Each threshold (60, 30, 14, 7, 3, 1 days, expired, rejected) is sent once per token and channel, recorded in the
store. Exit 0 when nothing failed, 1 when a due reminder could not be delivered (no channel, or a channel failed;
it is retried next run), 2 on an error.
"""

from __future__ import annotations

import argparse
import sys

from console.cli._common import add_connection_option, data_dir_parent, open_ctx, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remind", parents=[data_dir_parent()], help="send due token-expiry reminders (for cron)",
                       description=__doc__)
    add_connection_option(p, required=False)
    p.add_argument("--dry-run", action="store_true", help="show what would be sent; send and record nothing")
    p.add_argument("--test", action="store_true", help="test each token against SCIM first (detects revocation)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_remind)


def cmd_remind(args: argparse.Namespace) -> int:
    from console.reminders import run_reminders

    ctx = open_ctx(args)
    outcomes = run_reminders(ctx, args.connection, dry_run=args.dry_run, test=args.test)
    alerts = _entra_alerts(ctx, args)
    code = 0
    for o in outcomes:
        n = o.notification
        if o.key and n is not None and not args.dry_run and (n.no_channels or n.failed):
            code = 1
    if any(n is not None and not args.dry_run and n.failed for _, _, n in alerts):
        code = 1
    if args.json:
        print_json([{"connection": o.connection, "level": o.status.level, "key": o.key, "title": o.title,
                     "message": o.message,
                     "sent": len(o.notification.sent) if o.notification else 0,
                     "failed": len(o.notification.failed) if o.notification else 0} for o in outcomes]
                   + [{"connection": name, "level": a.severity, "key": f"entra:{a.key}", "title": a.title,
                       "message": a.detail, "sent": len(getattr(n, "sent", []) or []),
                       "failed": len(getattr(n, "failed", []) or [])} for name, a, n in alerts])
        return code
    if not outcomes:
        print("No connections.")
    for o in outcomes:
        print(f"{o.connection}: {o.status.level.upper()}: {o.message}")
    for name, a, n in alerts:
        sent = len(getattr(n, "sent", []) or [])
        print(f"{name}: ALERT {a.severity.upper()}: {a.title}: {a.detail}" + (f" (sent to {sent} channel(s))"
                                                                               if sent else ""))
    return code


def _entra_alerts(ctx: object, args: argparse.Namespace) -> list[tuple[str, object, object]]:
    """Entra provisioning alerts (quarantine, overdue, failure spike, credential failures, staged deletes) sent
    through the same channels, deduplicated by alert key (console.alerts; added by the history area)."""
    try:
        from console.alerts import notify_alerts
    except ImportError:
        return []
    from console.connections import ConnectionRepo

    repo = ConnectionRepo(ctx.store)  # type: ignore[attr-defined]
    conns = [repo.get(args.connection)] if args.connection else repo.list()
    out: list[tuple[str, object, object]] = []
    for conn in conns:
        try:
            out.extend((conn.name, a, n) for a, n in notify_alerts(ctx, conn, dry_run=args.dry_run))
        except Exception as exc:  # alerts must never stop the token reminders
            print(f"{conn.name}: provisioning alerts could not be computed: {exc}", file=sys.stderr)
    return out
