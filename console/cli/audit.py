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

from console.cli._common import pad
from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.i18n import _, fmt_number, pgettext
from console.operations import abandon, cli, resume, retry_failed, undo_plan, unfinished_batches
from console.operations.audit import find_reverted, get_action, list_actions, os_operator


def _code(code: str | None) -> str:
    """A journal code (an action's outcome, an item's state or result, an event, an unfinished action's state) in
    the operator's language. In English the code itself stays, as it is stored (``--outcome``/``--json`` use
    it)."""
    words = {
        # outcomes of an action (and unfinished states)
        "success": pgettext("audit code", "success"), "partial": pgettext("audit code", "partial"),
        "failed": pgettext("audit code", "failed"), "stopped": pgettext("audit code", "stopped"),
        "defect": pgettext("audit code", "defect"), "interrupted": pgettext("audit code", "interrupted"),
        "running": pgettext("audit code", "running"), "abandoned": pgettext("audit code", "abandoned"),
        "pending": pgettext("audit code", "pending"), "completed": pgettext("audit code", "completed"),
        "running-elsewhere": pgettext("audit code", "running-elsewhere"),
        # an item's state and result
        "done": pgettext("audit code", "done"), "skipped": pgettext("audit code", "skipped"),
        "changed": pgettext("audit code", "changed"), "already": pgettext("audit code", "already"),
        "not_found": pgettext("audit code", "not_found"), "forbidden": pgettext("audit code", "forbidden"),
        "conflict": pgettext("audit code", "conflict"), "busy": pgettext("audit code", "busy"),
        "error": pgettext("audit code", "error"), "unauthorized": pgettext("audit code", "unauthorized"),
        "not_applied": pgettext("audit code", "not_applied"), "unknown": pgettext("audit code", "unknown"),
        # events
        "journaled": pgettext("audit code", "journaled"), "started": pgettext("audit code", "started"),
        "resumed": pgettext("audit code", "resumed"), "retried": pgettext("audit code", "retried"),
        "verified": pgettext("audit code", "verified"), "server_defect": pgettext("audit code", "server_defect"),
        "restored": pgettext("audit code", "restored"), "restore_failed": pgettext("audit code", "restore_failed"),
        "finished": pgettext("audit code", "finished"),
        "directory_updated": pgettext("audit code", "directory_updated"),
        "directory_not_updated": pgettext("audit code", "directory_not_updated"),
    }
    if not code:
        return ""
    return words.get(code, code)


def register(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    description = _(
        "The audit log and the operations journal on the command line.\n\n"
        "  audit list [--since 7d] [--operator X] [--kind K] [--outcome O] [--connection NAME] [--limit N] [--json]\n"
        "  audit show ACTION_ID [--json]\n"
        "  undo ACTION_ID --reason TEXT [--dry-run] [--yes]     preview the exact inverse, confirm, run\n"
        "  ops list                                              unfinished actions (interrupted, stopped)\n"
        "  ops resume ACTION_ID | ops abandon ACTION_ID [--note TEXT] | ops retry ACTION_ID [--items 3,7]")
    parser = sub.add_parser("audit", help=_("the audit log of manual operations"), description=description,
                            formatter_class=fmt)
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = actions.add_parser("list", help=_("list actions, newest first (flags changes a later cycle reverted)"))
    p.add_argument("--since", help=_("7d, 12h, 30m or an ISO date"))
    p.add_argument("--operator", help=_("part of the operator's name or e-mail"))
    p.add_argument("--kind", choices=("deactivate", "reactivate", "add", "remove", "move"),
                   help=_("only actions of this kind"))
    p.add_argument("--outcome", choices=("success", "partial", "failed", "stopped", "defect", "interrupted",
                                         "running", "abandoned"), help=_("only actions with this outcome"))
    p.add_argument("--connection", metavar="NAME", help=_("only this connection's actions"))
    p.add_argument("--limit", type=int, default=100, help=_("at most this many actions (default 100)"))
    p.add_argument("--json", action="store_true", help=_("print JSON"))
    p.set_defaults(handler=_list)
    p = actions.add_parser("show", help=_("one action in full: items, events, undo recipe"))
    p.add_argument("action_id", help=_("the action's number (audit list shows it)"))
    p.add_argument("--json", action="store_true", help=_("print JSON"))
    p.set_defaults(handler=_show)

    p = sub.add_parser("undo", help=_("undo an action: preview its exact inverse, confirm, run"),
                       description=description, formatter_class=fmt)
    p.add_argument("action_id", metavar="ACTION_ID", help=_("the action's number (audit list shows it)"))
    cli.add_common(p, users=False)
    p.set_defaults(handler=_undo)

    ops = sub.add_parser("ops", help=_("unfinished operations: list, resume, abandon, retry failed items"),
                         description=description, formatter_class=fmt)
    o = ops.add_subparsers(dest="ops_command", metavar="ACTION", required=True)
    p = o.add_parser("list", help=_("actions with items not yet run"))
    p.add_argument("--connection", metavar="NAME", help=_("only this connection's actions"))
    p.add_argument("--json", action="store_true", help=_("print JSON"))
    p.set_defaults(handler=_ops_list)
    for name, text in (("resume", _("finish an interrupted or stopped action")),
                       ("abandon", _("give up an unfinished action (items not run are marked skipped)")),
                       ("retry", _("run the failed items of an action again"))):
        p = o.add_parser(name, help=text)
        p.add_argument("action_id", type=int, metavar="ACTION_ID", help=_("the action's number (audit list shows it)"))
        if name == "abandon":
            p.add_argument("--note", help=_("why it is abandoned (recorded)"))
        if name == "retry":
            p.add_argument("--items", help=_("only these item numbers, e.g. 3,7"))
        p.add_argument("--json", action="store_true", help=_("print the result as JSON"))
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
        print(_("No actions recorded (with these filters)."))
        return 0
    for a in actions:
        c = a.counts
        flags = []
        if a.reverted:
            flags.append(_("REVERTED for {n} (changed back later, e.g. by Entra)").format(
                n=fmt_number(len({r.user_id for r in a.reverted}))))
        if a.undone_by:
            flags.append(_("undone by {actions}").format(actions=", ".join(f"#{i}" for i in a.undone_by)))
        if a.outcome == "defect":
            flags.append(_("SERVER DEFECT: see python -m console audit show {id}").format(id=a.id))
        pending = c.get("pending", 0) + c.get("running", 0)
        tally = (_("changed {changed}, failed {failed}, skipped {skipped}, pending {pending}") if pending else
                 _("changed {changed}, failed {failed}, skipped {skipped}")).format(
            changed=fmt_number(a.changed_count), failed=fmt_number(c.get("failed", 0)),
            skipped=fmt_number(c.get("skipped", 0)), pending=fmt_number(pending))
        print(f"#{a.id:<5} {cli.local(a.created_at)}  {pad(a.operator, 20)} {a.connection}: {a.label}  "
              f"[{_code(a.outcome)}] {tally}  " + _("reason: {reason}").format(reason=a.reason)
              + ("  ({flags})".format(flags=pgettext("cli separator", "; ").join(flags)) if flags else ""))
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
    print(_("Action #{id}: {label} on “{connection}” — {outcome}").format(
        id=action.id, label=action.label, connection=action.connection, outcome=_code(action.outcome)))
    print("  " + _("by {operator} ({source}) at {time}; reason: {reason}").format(
        operator=action.operator, source=action.source, time=cli.local(action.created_at), reason=action.reason))
    if action.undo_of:
        print("  " + _("undoes action #{id}").format(id=action.undo_of))
    if action.undone_by:
        print("  " + _("undone by {actions}").format(actions=", ".join(f"#{i}" for i in action.undone_by)))
    if action.stop_reason:
        print("  " + _("stopped: {reason} {remedy}").format(reason=action.stop_reason,
                                                           remedy=action.stop_remedy or ""))
    for note in action.notes:
        print("  " + _("note: {note}").format(note=note))
    for e in action.events:
        print(f"  {cli.local(e.at)}  {pad(_code(e.event), 11)} {e.operator}  {e.detail or ''}")
    for i in action.items:
        user = (i.user_name or i.input or "?")[:36]
        remedy = ("→ " + i.remedy) if i.remedy else ""
        print(f"  {i.seq:>5} {pad(user, 36)} {pad((i.display_name or '')[:24], 24)} "
              f"{pad(_code(i.state), 8)} {pad(_code(i.outcome), 10)} "
              + _("attempts {n}").format(n=i.attempts) + f"  {i.note or ''} {i.error or ''} {remedy}".rstrip())
    if action.reverted:
        for r in action.reverted:
            print("  " + _("REVERTED: {user}: {change} no longer holds (now {now})").format(
                user=r.user_name, change=r.change, now=r.now))
    if action.changed_count:
        print("  " + _("undo: {command}").format(command=action.undo_recipe()["command"]))
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
        print(_("No unfinished actions."))
        return 0
    for u in rows:
        left = u.counts["pending"] + u.counts["running"]
        hint = (_("running now in another process") if u.live else
                _("resume: python -m console ops resume {id}   abandon: python -m console ops abandon {id}")
                .format(id=u.batch_id))
        print(_("#{id} {connection}: {label} by {operator} at {time} — {state}: {done} done, {failed} failed, "
                "{left} not run.").format(
            id=u.batch_id, connection=u.connection, label=u.label, operator=u.operator, time=cli.local(u.created_at),
            state=_code(u.state), done=fmt_number(u.counts["done"]), failed=fmt_number(u.counts["failed"]),
            left=fmt_number(left)) + f" {u.stop_reason or ''}\n    {hint}")
    return 0


def _ops_act(args: argparse.Namespace) -> int:

    ctx = cli.open_ctx()
    who = os_operator()
    if args.ops_action == "abandon":
        result = abandon(ctx, args.action_id, who, args.note)
        cli.print_result(result, args.json)
        return 0
    conn = _conn_for_action(ctx, args.action_id)
    progress = cli.StderrProgress(_("action #{id}").format(id=args.action_id))
    if args.ops_action == "resume":
        result = resume(ctx, conn, args.action_id, who, progress=progress)
    else:
        seqs = None
        if args.items:
            try:
                seqs = [int(s) for s in args.items.split(",") if s.strip()]
            except ValueError:
                print(_("error: --items takes item numbers separated by commas, e.g. 3,7"), file=sys.stderr)
                return 2
        result = retry_failed(ctx, conn, args.action_id, who, seqs=seqs, progress=progress)
    return cli.print_result(result, args.json)
