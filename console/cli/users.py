"""``python -m console users deactivate|reactivate USER... [--from-csv PATH] --reason TEXT [--dry-run] [--yes]``."""

from __future__ import annotations

import argparse
from typing import Any

from console.i18n import _
from console.operations import cli


def register(sub: Any) -> None:
    parser = sub.add_parser("users", help=_("deactivate or reactivate 6clicks users (previewed, journaled, audited)"),
                            description=_("Deactivate or reactivate 6clicks users (previewed, journaled, "
                                          "audited).\n\n  python -m console users deactivate|reactivate USER... "
                                          "[--from-csv PATH] --reason TEXT [--dry-run] [--yes]"),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    # cli.HELP_TAIL is the operations area's text (translated there when it is marked)
    for name, text, description in (
            ("deactivate", _("set users inactive in 6clicks"), _("Set users inactive in 6clicks.")),
            ("reactivate", _("set users active again in 6clicks"), _("Set users active again in 6clicks."))):
        p = actions.add_parser(name, help=text, description=f"{description} {_(cli.HELP_TAIL)}")
        cli.add_common(p)
        p.set_defaults(handler=_handle, kind=name)


def _handle(args: argparse.Namespace) -> int:
    from console.operations import plan

    ctx = cli.open_ctx()
    conn = cli.get_connection(ctx, args.connection)
    targets = cli.targets_from_args(args)
    return cli.run_plan(ctx, conn, plan(ctx, conn, args.kind, targets), args)
