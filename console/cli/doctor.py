"""``python -m console doctor``: check a connection's setup against every step of the 6clicks guide.

Exit 0 all good, 1 warnings, 2 failures (like ``token check``; items to confirm by hand do not count), so cron
and monitoring can run it. ``--json`` prints the whole report on one line. ``--full-probe --yes`` also creates,
edits and deletes a probe user and group to prove the six permissions by doing; ``--confirm ITEM`` records that
you checked an item by hand; ``--provision-on-demand ID`` asks Entra to provision one user (or group) now.
"""

from __future__ import annotations

import argparse

from console.cli._common import add_connection_option, data_dir_parent, open_ctx, print_json
from console.connections import ConnectionRepo
from console.doctor.checks import run_checks
from console.doctor.confirmations import confirm, withdraw
from console.doctor.manual import MANUAL
from console.doctor.model import SECTIONS, Check, Report
from console.entra.ondemand import provision_on_demand
from console.errors import InvalidInput
from console.operations.audit import os_operator
from console.tokens.service import TokenService
from scim_client.errors import PERMISSIONS
from scim_client.permissions import full_probe

LABEL = {"ok": "ok  ", "warning": "WARN", "failure": "FAIL", "manual": "----"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", parents=[data_dir_parent()], help="check the setup against the 6clicks guide; exit 0/1/2",
        description="Check every step of the 6clicks guide on a live connection: the SCIM endpoint, the API key "
                    "and token, the six permissions (probed without changing anything), the provisioning job, the "
                    "credentials Entra holds, the attribute mappings, and what can only be confirmed by hand. "
                    "Exit 0 all good, 1 warnings, 2 failures.")
    add_connection_option(p)
    p.add_argument("--json", action="store_true", help="print the report as one line of JSON")
    p.add_argument("--full-probe", action="store_true",
                   help="also create, edit and delete a probe user and group (needs --yes)")
    p.add_argument("--yes", action="store_true", help="confirm --full-probe")
    items = [m[0] for m in MANUAL]
    p.add_argument("--confirm", choices=items, metavar="ITEM",
                   help=f"record that you checked ITEM by hand ({', '.join(items)})")
    p.add_argument("--withdraw", choices=items, metavar="ITEM", help="withdraw a confirmation")
    p.add_argument("--provision-on-demand", metavar="OBJECT_ID",
                   help="ask Entra to provision this user (its Entra object id) now and print the steps")
    p.add_argument("--group", action="store_true", help="--provision-on-demand: the id is a group's")
    p.add_argument("--member", action="append", default=[], metavar="USER_ID",
                   help="--provision-on-demand --group: a member to provision with it (up to five)")
    p.set_defaults(handler=cmd_doctor)


def _print_report(report: Report) -> None:
    print(f"Setup check of {report.connection!r} at {report.at:%Y-%m-%d %H:%M} UTC: {report.summary()}")
    for section in SECTIONS:
        checks = [c for c in report.checks if c.section == section]
        if checks:
            print(f"\n{section}")
        for c in checks:
            _print_check(c)
    label = {0: "OK", 1: "WARNING", 2: "CRITICAL"}[report.exit_code]
    print(f"\n{label}: {report.summary()}.")


def _print_check(c: Check) -> None:
    print(f"  [{LABEL[c.status]}] {c.title}: {c.seen}")
    if c.status in ("warning", "failure") and c.fix:
        print(f"         Fix: {c.fix}")
    if c.status == "manual":
        print(f"         Check by hand: {c.fix}")
    for r in c.rows:
        if r.verdict != "ok":
            print(f"         {r.target}: expected {r.expected or '(nothing)'}, found {r.found or '(nothing)'}"
                  + (f" ({r.note})" if r.note else ""))
        elif r.info and c.status != "ok":
            print(f"         {r.target}: {r.info}")


def cmd_doctor(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx).get(args.connection)
    if args.confirm or args.withdraw:
        if args.confirm:
            confirm(ctx, conn, args.confirm, os_operator())
        if args.withdraw:
            withdraw(ctx, conn, args.withdraw)
        if args.json:
            print_json({"confirmed": args.confirm, "withdrawn": args.withdraw, "operator": os_operator()})
        else:
            print(f"Recorded: {args.confirm} checked by hand by {os_operator()}." if args.confirm else
                  f"Withdrawn: {args.withdraw}.")
        return 0
    if args.provision_on_demand:
        result = provision_on_demand(ctx, conn, args.provision_on_demand,
                                     object_type="Group" if args.group else "User", members=args.member)
        if args.json:
            print_json(result.__dict__ | {"steps": [s.__dict__ for s in result.steps]})
        else:
            print(result.summary())
            for s in result.steps:
                print(f"  {s.name}: {s.status}" + (f" - {s.description}" if s.description else ""))
            for line in result.changed:
                print(f"  changed {line}")
            if result.error_code:
                print(f"  {result.error_code}: {result.explanation}\n  Fix: {result.fix}")
        return {"success": 0, "skipped": 0}.get(result.outcome, 2)
    if args.full_probe:
        if not args.yes:
            raise InvalidInput("--full-probe creates, edits and deletes a probe user and group in 6clicks.",
                               "Add --yes to confirm, or leave --full-probe out for the check that changes nothing.")
        with TokenService(ctx).scim_client(conn.name) as client:
            probe = full_probe(client)
        code = 0 if all(c.granted for c in probe.checks) and not probe.leftovers else 2
        if args.json:
            print_json({"exit_code": code, "probe_user": probe.probe_user, "probe_group": probe.probe_group,
                        "leftovers": probe.leftovers, "checks": [c.__dict__ for c in probe.checks]})
            return code
        print(f"Full probe with {probe.probe_user} and {probe.probe_group!r}:")
        for check in probe.checks:
            print(f"  [{'ok  ' if check.granted else 'FAIL'}] {PERMISSIONS.get(check.key, check.key)}: "
                  f"{check.request}: {check.message}")
        if probe.leftovers:
            print(f"  Not cleaned up, delete by hand in 6clicks: {', '.join(probe.leftovers)}")
        return code
    report = run_checks(ctx, conn)
    if args.json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    return report.exit_code

