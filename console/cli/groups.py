"""``python -m console groups add|remove|move``: group and role membership (previewed, journaled, audited).

  groups add    USER... --group NAME|ID --reason TEXT      add people to a group or role
  groups remove USER... --group NAME|ID --reason TEXT      remove people from a group or role
  groups move   USER... --from NAME|ID --to NAME|ID --reason TEXT
                 adds to --to first, then removes from --from, so nobody is left in neither

Users by userName, e-mail or id, and/or --from-csv PATH. Groups and roles by display name or id.
"""

from __future__ import annotations

import argparse
from typing import Any

from console.i18n import _
from console.operations import cli


def register(sub: Any) -> None:
    parser = sub.add_parser("groups", help=_("add to, remove from or move between groups and roles"),
                            description=_(
                                "Group and role membership (previewed, journaled, audited).\n\n"
                                "  groups add    USER... --group NAME|ID --reason TEXT      add people to a group or "
                                "role\n"
                                "  groups remove USER... --group NAME|ID --reason TEXT      remove people from a "
                                "group or role\n"
                                "  groups move   USER... --from NAME|ID --to NAME|ID --reason TEXT\n"
                                "                 adds to --to first, then removes from --from, so nobody is left in "
                                "neither\n\n"
                                "Users by userName, e-mail or id, and/or --from-csv PATH. Groups and roles by display "
                                "name or id."),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="groups_command", metavar="ACTION", required=True)
    # cli.HELP_TAIL is the operations area's text (translated there when it is marked)
    for name, text, description in (
            ("add", _("add people to a group or role"), _("Add people to a group or role.")),
            ("remove", _("remove people from a group or role"), _("Remove people from a group or role."))):
        p = actions.add_parser(name, help=text, description=f"{description} {_(cli.HELP_TAIL)}")
        p.add_argument("--group", required=True, metavar="NAME|ID", help=_("the group or role (display name or id)"))
        cli.add_common(p)
        p.set_defaults(handler=_handle, kind=name)
    p = actions.add_parser("move", help=_("move people from one group or role to another"),
                           description=_("Move people: add to --to first, then remove from --from.") + " "
                           + _(cli.HELP_TAIL))
    p.add_argument("--from", dest="from_group", required=True, metavar="NAME|ID",
                   help=_("the group or role to leave"))
    p.add_argument("--to", dest="to_group", required=True, metavar="NAME|ID", help=_("the group or role to join"))
    cli.add_common(p)
    p.set_defaults(handler=_handle, kind="move")


def _handle(args: argparse.Namespace) -> int:
    from console.operations import plan

    ctx = cli.open_ctx()
    conn = cli.get_connection(ctx, args.connection)
    targets = cli.targets_from_args(args)
    params = ({"group": args.group} if args.kind in ("add", "remove")
              else {"from_group": args.from_group, "to_group": args.to_group})
    return cli.run_plan(ctx, conn, plan(ctx, conn, args.kind, targets, **params), args)
