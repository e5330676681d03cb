"""``python -m console doctor``: check a connection's setup against every step of the 6clicks guide.

Exit 0 all good, 1 warnings, 2 failures (like ``token check``; items to confirm by hand do not count), so cron
and monitoring can run it. ``--json`` prints the whole report on one line. ``--full-probe --yes`` also creates,
edits and deletes a probe user and group to prove the six permissions by doing; ``--confirm ITEM`` records that
you checked an item by hand; ``--provision-on-demand ID`` asks Entra to provision one user (or group) now.
"""

from __future__ import annotations

import argparse

from console.cli._common import (
    add_connection_option,
    data_dir_parent,
    exit_word,
    fmt_time,
    open_ctx,
    pad,
    print_json,
)
from console.connections import ConnectionRepo
from console.doctor.checks import run_checks
from console.doctor.confirmations import confirm, withdraw
from console.doctor.manual import MANUAL
from console.doctor.model import SECTIONS, Check, Report
from console.entra.ondemand import provision_on_demand
from console.errors import InvalidInput
from console.i18n import N_, _, pgettext
from console.operations.audit import os_operator
from console.tokens.service import TokenService
from scim_client.errors import PERMISSIONS
from scim_client.permissions import full_probe

#: the six permissions of the 6clicks API key's user, as 6clicks names them (``scim_client.errors.PERMISSIONS``,
#: which cannot use the console's catalogs), marked here so the full probe names them in the operator's language
PERMISSION_NAMES = (N_("Integrations"), N_("Create new users"), N_("Edit users"), N_("Delete users"),
                    N_("Create, edit and delete groups"), N_("Manage group members"))
#: the report's sections (``console.doctor.model.SECTIONS``)
SECTION_NAMES = (N_("Permissions"),)


def _tag(status: str) -> str:
    """A check's verdict as a four-column tag: ``[ok  ]`` ``[WARN]`` ``[FAIL]`` ``[----]``."""
    words = {"ok": pgettext("check tag", "ok"), "warning": pgettext("check tag", "WARN"),
             "failure": pgettext("check tag", "FAIL"), "manual": pgettext("check tag", "----")}
    return pad(words.get(status, status), 4)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", parents=[data_dir_parent()], help=_("check the setup against the 6clicks guide; exit 0/1/2"),
        description=_("Check every step of the 6clicks guide on a live connection: the SCIM endpoint, the API key "
                      "and token, the six permissions (probed without changing anything), the provisioning job, "
                      "the credentials Entra holds, the attribute mappings, and what can only be confirmed by hand. "
                      "Exit 0 all good, 1 warnings, 2 failures."))
    add_connection_option(p)
    p.add_argument("--json", action="store_true", help=_("print the report as one line of JSON"))
    p.add_argument("--full-probe", action="store_true",
                   help=_("also create, edit and delete a probe user and group (needs --yes)"))
    p.add_argument("--yes", action="store_true", help=_("confirm --full-probe"))
    items = [m[0] for m in MANUAL]
    p.add_argument("--confirm", choices=items, metavar="ITEM",
                   help=_("record that you checked ITEM by hand ({items})").format(items=", ".join(items)))
    p.add_argument("--withdraw", choices=items, metavar="ITEM", help=_("withdraw a confirmation"))
    p.add_argument("--provision-on-demand", metavar="OBJECT_ID",
                   help=_("ask Entra to provision this user (its Entra object id) now and print the steps"))
    p.add_argument("--group", action="store_true", help=_("--provision-on-demand: the id is a group's"))
    p.add_argument("--member", action="append", default=[], metavar="USER_ID",
                   help=_("--provision-on-demand --group: a member to provision with it (up to five)"))
    p.set_defaults(handler=cmd_doctor)


def _print_report(report: Report) -> None:
    print(_("Setup check of {name!r} at {time}: {summary}").format(
        name=report.connection, time=fmt_time(report.at), summary=report.summary()))
    for section in SECTIONS:
        checks = [c for c in report.checks if c.section == section]
        if checks:
            print(f"\n{_(section)}")
        for c in checks:
            _print_check(c)
    print("\n" + _("{level}: {summary}.").format(level=exit_word(report.exit_code), summary=report.summary()))


def _print_check(c: Check) -> None:
    print(f"  [{_tag(c.status)}] {c.title}: {c.seen}")
    indent = " " * 9
    if c.status in ("warning", "failure") and c.fix:
        print(indent + _("Fix: {fix}").format(fix=c.fix))
    if c.status == "manual":
        print(indent + _("Check by hand: {fix}").format(fix=c.fix))
    nothing = pgettext("mapping", "(nothing)")
    for r in c.rows:
        if r.verdict != "ok":
            line = _("{target}: expected {expected}, found {found}").format(
                target=r.target, expected=r.expected or nothing, found=r.found or nothing)
            print(indent + line + (f" ({r.note})" if r.note else ""))
        elif r.info and c.status != "ok":
            print(f"{indent}{r.target}: {r.info}")


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
        elif args.confirm:
            print(_("Recorded: {item} checked by hand by {operator}.").format(item=args.confirm,
                                                                              operator=os_operator()))
        else:
            print(_("Withdrawn: {item}.").format(item=args.withdraw))
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
                print("  " + _("changed {what}").format(what=line))
            if result.error_code:
                print(f"  {result.error_code}: {result.explanation}\n  " + _("Fix: {fix}").format(fix=result.fix))
        return {"success": 0, "skipped": 0}.get(result.outcome, 2)
    if args.full_probe:
        if not args.yes:
            raise InvalidInput(_("--full-probe creates, edits and deletes a probe user and group in 6clicks."),
                               _("Add --yes to confirm, or leave --full-probe out for the check that changes "
                                 "nothing."))
        with TokenService(ctx).scim_client(conn.name) as client:
            probe = full_probe(client)
        code = 0 if all(c.granted for c in probe.checks) and not probe.leftovers else 2
        if args.json:
            print_json({"exit_code": code, "probe_user": probe.probe_user, "probe_group": probe.probe_group,
                        "leftovers": probe.leftovers, "checks": [c.__dict__ for c in probe.checks]})
            return code
        print(_("Full probe with {user} and {group!r}:").format(user=probe.probe_user, group=probe.probe_group))
        for check in probe.checks:
            name = _(PERMISSIONS.get(check.key, check.key))
            print(f"  [{_tag('ok' if check.granted else 'failure')}] {name}: {check.request}: {check.message}")
        if probe.leftovers:
            print("  " + _("Not cleaned up, delete by hand in 6clicks: {items}").format(
                items=", ".join(probe.leftovers)))
        return code
    report = run_checks(ctx, conn)
    if args.json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    return report.exit_code
