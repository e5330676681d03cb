"""The audit log and the operations journal on the command line.

  audit list [--since 7d] [--operator X] [--kind K] [--outcome O] [--connection NAME] [--limit N] [--json]
  audit show ACTION_ID [--json]
  undo ACTION_ID --reason TEXT [--dry-run] [--yes]     preview the exact inverse, confirm, run
  ops list                                              unfinished actions (interrupted, stopped)
  ops resume ACTION_ID | ops abandon ACTION_ID [--note TEXT] | ops retry ACTION_ID [--items 3,7]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.operations import abandon, cli, resume, retry_failed, undo_plan, unfinished_batches
from console.operations.audit import find_reverted, get_action, list_actions, os_operator


def register(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = sub.add_parser("audit", help="the audit log of manual operations", description=__doc__,
                            formatter_class=fmt)
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = actions.add_parser("list", help="list actions, newest first (flags changes a later cycle reverted)")
    p.add_argument("--since", help="7d, 12h, 30m or an ISO date")
    p.add_argument("--operator", help="part of the operator's name or e-mail")
    p.add_argument("--kind", choices=("deactivate", "reactivate", "add", "remove", "move"))
    p.add_argument("--outcome", choices=("success", "partial", "failed", "stopped", "defect", "interrupted",
                                         "running", "abandoned"))
    p.add_argument("--connection", metavar="NAME")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)
    p = actions.add_parser("show", help="one action in full: items, events, undo recipe")
    p.add_argument("action_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_show)

    p = sub.add_parser("undo", help="undo an action: preview its exact inverse, confirm, run", description=__doc__,
                       formatter_class=fmt)
    p.add_argument("action_id", metavar="ACTION_ID")
    cli.add_common(p, users=False)
    p.set_defaults(handler=_undo)

    ops = sub.add_parser("ops", help="unfinished operations: list, resume, abandon, retry failed items",
                         description=__doc__, formatter_class=fmt)
    o = ops.add_subparsers(dest="ops_command", metavar="ACTION", required=True)
    p = o.add_parser("list", help="actions with items not yet run")
    p.add_argument("--connection", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_ops_list)
    for name, text in (("resume", "finish an interrupted or stopped action"),
                       ("abandon", "give up an unfinished action (items not run are marked skipped)"),
                       ("retry", "run the failed items of an action again")):
        p = o.add_parser(name, help=text)
        p.add_argument("action_id", type=int, metavar="ACTION_ID")
        if name == "abandon":
            p.add_argument("--note", help="why it is abandoned (recorded)")
        if name == "retry":
            p.add_argument("--items", help="only these item numbers, e.g. 3,7")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=_ops_act, ops_action=name)


def _conn_for_action(ctx: Context, action_id: int, name: str | None = None) -> Connection:

    action = get_action(ctx, action_id)
    return cli.get_connection(ctx, name or action.connection)


def _list(args: argparse.Namespace) -> int:

    ctx = cli.open_ctx()
    actions = list_actions(ctx, connection=args.connection, since=cli.parse_since(args.since),
                           operator=args.operator, kind=args.kind, outcome=args.outcome, limit=args.limit)

    repo = ConnectionRepo(ctx)
    for name in {a.connection for a in actions}:
        conn = repo.find(name)
        if conn is not None:
            find_reverted(ctx, conn, [a for a in actions if a.connection == name])
    if args.json:
        print(json.dumps([a.to_dict(items=False) for a in actions], indent=2, default=str))
        return 0
    if not actions:
        print("No actions recorded (with these filters).")
        return 0
    for a in actions:
        c = a.counts
        flags = []
        if a.reverted:
            flags.append(f"REVERTED for {len({r.user_id for r in a.reverted})} (changed back later, e.g. by Entra)")
        if a.undone_by:
            flags.append("undone by " + ", ".join(f"#{i}" for i in a.undone_by))
        if a.outcome == "defect":
            flags.append(f"SERVER DEFECT: see python -m console audit show {a.id}")
        print(f"#{a.id:<5} {cli.local(a.created_at)}  {a.operator:<20} {a.connection}: {a.label}  [{a.outcome}] "
              f"changed {a.changed_count}, failed {c.get('failed', 0)}, skipped {c.get('skipped', 0)}"
              f"{', pending ' + str(c['pending'] + c['running']) if c.get('pending') or c.get('running') else ''}"
              f"  reason: {a.reason}" + (f"  ({'; '.join(flags)})" if flags else ""))
    return 0


def _show(args: argparse.Namespace) -> int:

    ctx = cli.open_ctx()
    action = get_action(ctx, args.action_id)
    conn = ConnectionRepo(ctx).find(action.connection)
    if conn is not None:
        find_reverted(ctx, conn, [action])
    if args.json:
        print(json.dumps(action.to_dict(), indent=2, default=str))
        return 0
    print(f"Action #{action.id}: {action.label} on “{action.connection}” — {action.outcome}")
    print(f"  by {action.operator} ({action.source}) at {cli.local(action.created_at)}; reason: {action.reason}")
    if action.undo_of:
        print(f"  undoes action #{action.undo_of}")
    if action.undone_by:
        print("  undone by " + ", ".join(f"#{i}" for i in action.undone_by))
    if action.stop_reason:
        print(f"  stopped: {action.stop_reason} {action.stop_remedy or ''}")
    for note in action.notes:
        print(f"  note: {note}")
    for e in action.events:
        print(f"  {cli.local(e.at)}  {e.event:<11} {e.operator}  {e.detail or ''}")
    for i in action.items:
        print(f"  {i.seq:>5} {(i.user_name or i.input or '?')[:36]:<36} {(i.display_name or '')[:24]:<24} "
              f"{i.state:<8} {i.outcome or '':<10} "
              f"attempts {i.attempts}  {i.note or ''} {i.error or ''} {('→ ' + i.remedy) if i.remedy else ''}"
              .rstrip())
    if action.reverted:
        for r in action.reverted:
            print(f"  REVERTED: {r.user_name}: {r.change} no longer holds (now {r.now})")
    if action.changed_count:
        print(f"  undo: {action.undo_recipe()['command']}")
    for defect in action.defects:
        print()
        print(defect.report)
    return 0


def _undo(args: argparse.Namespace) -> int:

    ctx = cli.open_ctx()
    conn = _conn_for_action(ctx, int(str(args.action_id).lstrip("#")), args.connection)
    plan = undo_plan(ctx, conn, int(str(args.action_id).lstrip("#")))
    return cli.run_plan(ctx, conn, plan, args)


def _ops_list(args: argparse.Namespace) -> int:

    ctx = cli.open_ctx()
    conn = cli.get_connection(ctx, args.connection) if args.connection else None
    rows = unfinished_batches(ctx, conn)
    if args.json:
        print(json.dumps([{**vars(u), "created_at": u.created_at.isoformat() if u.created_at else None}
                          for u in rows], indent=2, default=str))
        return 0
    if not rows:
        print("No unfinished actions.")
        return 0
    for u in rows:
        left = u.counts["pending"] + u.counts["running"]
        hint = ("running now in another process" if u.live else
                f"resume: python -m console ops resume {u.batch_id}   abandon: python -m console ops abandon "
                f"{u.batch_id}")
        print(f"#{u.batch_id} {u.connection}: {u.label} by {u.operator} at {cli.local(u.created_at)} — {u.state}: "
              f"{u.counts['done']} done, {u.counts['failed']} failed, {left} not run. {u.stop_reason or ''}\n"
              f"    {hint}")
    return 0


def _ops_act(args: argparse.Namespace) -> int:

    ctx = cli.open_ctx()
    who = os_operator()
    if args.ops_action == "abandon":
        result = abandon(ctx, args.action_id, who, args.note)
        cli.print_result(result, args.json)
        return 0
    conn = _conn_for_action(ctx, args.action_id)
    progress = cli.StderrProgress(f"action #{args.action_id}")
    if args.ops_action == "resume":
        result = resume(ctx, conn, args.action_id, who, progress=progress)
    else:
        seqs = None
        if args.items:
            try:
                seqs = [int(s) for s in args.items.split(",") if s.strip()]
            except ValueError:
                print("error: --items takes item numbers separated by commas, e.g. 3,7", file=sys.stderr)
                return 2
        result = retry_failed(ctx, conn, args.action_id, who, seqs=seqs, progress=progress)
    return cli.print_result(result, args.json)
