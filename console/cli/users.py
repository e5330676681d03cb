"""``python -m console users deactivate|reactivate USER... [--from-csv PATH] --reason TEXT [--dry-run] [--yes]``."""

from __future__ import annotations

import argparse
from typing import Any

from console.operations import cli


def register(sub: Any) -> None:
    parser = sub.add_parser("users", help="deactivate or reactivate 6clicks users (previewed, journaled, audited)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    for name, text in (("deactivate", "set users inactive in 6clicks"),
                       ("reactivate", "set users active again in 6clicks")):
        p = actions.add_parser(name, help=text, description=f"{text.capitalize()}. {cli.HELP_TAIL}")
        cli.add_common(p)
        p.set_defaults(handler=_handle, kind=name)


def _handle(args: argparse.Namespace) -> int:
    from console.operations import plan

    ctx = cli.open_ctx()
    conn = cli.get_connection(ctx, args.connection)
    targets = cli.targets_from_args(args)
    return cli.run_plan(ctx, conn, plan(ctx, conn, args.kind, targets), args)
