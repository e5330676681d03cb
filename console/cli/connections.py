"""``python -m console connections add|edit|list|show|remove|graph-secret|find-job|graph-check``.

``add`` with ``--stdin`` checks the API key with 6clicks (or the pasted static token) and the SCIM endpoint first
and saves only when both work: a wrong key or an unreachable URL leaves nothing behind. Without a key it checks
that the URL answers, and saves the connection as *incomplete* until its key is stored and its token generated
(``connections list`` says so, and the app never opens on it while a healthy connection exists)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from console.cli._common import (
    data_dir_parent,
    level_word,
    open_ctx,
    pad,
    print_json,
    progress,
    read_secret,
    warn_if_ephemeral,
    width,
)
from console.connections import (
    DEFAULT_GRAPH_BASE_URL,
    DEFAULT_LOGIN_BASE_URL,
    Connection,
    ConnectionRepo,
    EntraSettings,
    describe_role_rule,
)
from console.context import Context
from console.errors import InvalidInput
from console.graph import GraphClient, check_access, find_jobs
from console.i18n import _, count, pgettext
from console.setup import SetupError, add_connection_checked, check_reachable, connection_health
from console.tokens.service import TokenService
from console.tokens.status import cli_name
from scim_client import fingerprint


def _days(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(_("give whole days separated by commas, e.g. 60,30,14,7,3,1")) from None


def _show_labels() -> dict[str, str]:
    """The row labels of ``connections show`` in the current language."""
    return {
        "connection": pgettext("connection show", "Connection"), "api": pgettext("connection show", "API URL"),
        "scim": pgettext("connection show", "SCIM URL"), "tenant": pgettext("connection show", "Tenant URL"),
        "state": pgettext("connection show", "State"), "auth": pgettext("connection show", "Auth mode"),
        "roles": pgettext("connection show", "Roles"), "reminders": pgettext("connection show", "Reminders"),
        "entra": pgettext("connection show", "Entra"), "graph": pgettext("connection show", "Graph"),
        "token": pgettext("connection show", "Token"), "keyring": pgettext("connection show", "Keyring"),
    }


def _add_settings(p: argparse.ArgumentParser, *, editing: bool) -> None:
    p.add_argument("--api-url", required=not editing, metavar="URL",
                   help=_("6clicks API base URL, e.g. https://api-au.6clicks.io"))
    p.add_argument("--scim-url", metavar="URL", help=_("SCIM base URL (default: API URL + /scim)"))
    p.add_argument("--auth-mode", choices=("6clicks-api-key", "static-token"),
                   help=_("how the bearer token is obtained (default 6clicks-api-key)"))
    p.add_argument("--role-rule", metavar="RULE",
                   help=_("which groups are roles: 'prefix:Role - ' (default) or 'regex:...'"))
    p.add_argument("--reminder-days", type=_days, metavar="DAYS",
                   help=_("reminder thresholds, default 60,30,14,7,3,1"))
    p.add_argument("--allow-http", action=argparse.BooleanOptionalAction, default=None,
                   help=_("allow plain http:// to a non-loopback host (test servers only)"))
    p.add_argument("--verify-tls", action=argparse.BooleanOptionalAction, default=None,
                   help=_("verify TLS certificates (default yes; --no-verify-tls only for test servers)"))
    g = p.add_argument_group(_("Entra / Microsoft Graph (optional: provisioning logs, job status, token push)"))
    g.add_argument("--tenant-id", metavar="ID", help=_("the Entra tenant ID"))
    g.add_argument("--client-id", metavar="ID", help=_("the app registration's application (client) id"))
    g.add_argument("--service-principal-id", metavar="ID", help=_("the enterprise app's object id"))
    g.add_argument("--job-id", metavar="ID", help=_("the provisioning job id (starts with scim.)"))
    g.add_argument("--graph-url", metavar="URL", help=_("Graph base URL (default https://graph.microsoft.com/v1.0)"))
    g.add_argument("--login-url", metavar="URL", help=_("login base URL (default https://login.microsoftonline.com)"))
    if editing:
        g.add_argument("--no-entra", action="store_true", help=_("remove the Entra settings"))


def register(sub: argparse._SubParsersAction) -> None:
    parent = data_dir_parent()
    p = sub.add_parser("connections", help=_("add, list, show and remove connections"),
                       description=_("Connections: one 6clicks (or other SCIM) tenant each. No secrets are stored "
                                     "here."))
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = s.add_parser("add", parents=[parent], help=_("add a connection"),
                       description=_("Add a connection. With --stdin the API key (or, with --auth-mode "
                                     "static-token, the token) is read from standard input, checked with 6clicks "
                                     "and the SCIM endpoint, and everything is saved only when the check passes. "
                                     "Without it the connection is saved as incomplete; store its key with 'token "
                                     "set-key'."))
    add.add_argument("name", metavar="NAME", help=_("the connection's name"))
    _add_settings(add, editing=False)
    add.add_argument("--stdin", action="store_true",
                     help=_("read the API key (static-token mode: the token) from standard input and check it "
                            "first"))
    add.add_argument("--accept-estimated-expiry", action="store_true",
                     help=_("static-token mode: accept a token without a readable expiry (assumed 365 days)"))
    add.add_argument("--no-check", action="store_true",
                     help=_("without --stdin: save even when the URL does not answer (it stays incomplete)"))
    add.set_defaults(handler=cmd_add)

    edit = s.add_parser("edit", parents=[parent], help=_("change a connection's settings"))
    edit.add_argument("name", metavar="NAME", help=_("the connection's name"))
    _add_settings(edit, editing=True)
    edit.set_defaults(handler=cmd_edit)

    ls = s.add_parser("list", parents=[parent], help=_("list connections with their token status"))
    ls.add_argument("--json", action="store_true", help=_("print JSON"))
    ls.set_defaults(handler=cmd_list)

    show = s.add_parser("show", parents=[parent], help=_("show one connection"))
    show.add_argument("name", metavar="NAME", help=_("the connection's name"))
    show.add_argument("--json", action="store_true", help=_("print JSON"))
    show.set_defaults(handler=cmd_show)

    rm = s.add_parser("remove", parents=[parent], help=_("remove a connection and its secrets"))
    rm.add_argument("name", metavar="NAME", help=_("the connection's name"))
    rm.add_argument("--yes", action="store_true", help=_("do not ask for confirmation"))
    rm.set_defaults(handler=cmd_remove)

    gs = s.add_parser("graph-secret", parents=[parent], help=_("store the Entra app registration's client secret"),
                      description=_("Store the Graph client secret in the keyring (from --stdin or a hidden "
                                    "prompt)."))
    gs.add_argument("name", metavar="NAME", help=_("the connection's name"))
    gs.add_argument("--stdin", action="store_true", help=_("read the secret from standard input"))
    gs.add_argument("--clear", action="store_true", help=_("delete the stored secret instead"))
    gs.set_defaults(handler=cmd_graph_secret)

    fj = s.add_parser("find-job", parents=[parent], help=_("find the provisioning job id on the service principal"),
                      description=_("List the provisioning jobs of the connection's service principal through "
                                    "Graph (GET /servicePrincipals/{{id}}/synchronization/jobs; needs "
                                    "Synchronization.Read.All) and store the custom-SCIM one as the connection's "
                                    "job id.").format())
    fj.add_argument("name", metavar="NAME", help=_("the connection's name"))
    fj.add_argument("--job-id", metavar="ID", help=_("store this one of the listed jobs (when there are several)"))
    fj.add_argument("--dry-run", action="store_true", help=_("only list the jobs"))
    fj.set_defaults(handler=cmd_find_job)

    gc = s.add_parser("graph-check", parents=[parent], help=_("check what the app registration may do in Graph"),
                      description=_("Sign in and try each Graph feature the console uses (reads only); prints the "
                                    "permission each one needs."))
    gc.add_argument("name", metavar="NAME", help=_("the connection's name"))
    gc.set_defaults(handler=cmd_graph_check)


def _entra(args: argparse.Namespace, current: EntraSettings | None = None) -> EntraSettings | None:
    fields = {"tenant_id": args.tenant_id, "client_id": args.client_id,
              "service_principal_id": args.service_principal_id, "job_id": args.job_id,
              "graph_base_url": args.graph_url, "login_base_url": args.login_url}
    given = {k: v for k, v in fields.items() if v is not None}
    if current is None and not given:
        return None
    if current is None:
        base = EntraSettings(tenant_id="", client_id="", graph_base_url=DEFAULT_GRAPH_BASE_URL,
                             login_base_url=DEFAULT_LOGIN_BASE_URL)
        return replace(base, **given)
    return replace(current, **given)


def _next_without_key(conn: Connection) -> str:
    """The one next step of a connection saved without its key: the command, then the place in the app."""
    if conn.auth_mode == "6clicks-api-key":
        command = (f"printf '%s' \"$KEY\" | python -m console token set-key --connection {cli_name(conn.name)} "
                   "--stdin")
        place = _("Connection & token > Connection settings: type the API key and save")
    else:
        command = f"python -m console token import --connection {cli_name(conn.name)} --stdin"
        place = _("Connection & token > Token > Import a token")
    return _("Next: {command}   (in the app: {place})").format(command=command, place=place)


def cmd_add(args: argparse.Namespace) -> int:
    conn = Connection(
        name=args.name, api_url=args.api_url, scim_url=args.scim_url, auth_mode=args.auth_mode or "6clicks-api-key",
        entra=_entra(args), role_rule=args.role_rule or "prefix:Role - ",
        reminder_days=args.reminder_days or (60, 30, 14, 7, 3, 1), allow_http=bool(args.allow_http),
        verify_tls=args.verify_tls is not False)
    ctx = open_ctx(args)
    if args.stdin:
        secret = read_secret(args, _("API key") if conn.auth_mode == "6clicks-api-key" else _("access token"))
        progress(_("Checking {name!r} with {url}…").format(name=conn.name, url=conn.api_url))
        conn = add_connection_checked(
            ctx, conn, api_key=secret if conn.auth_mode == "6clicks-api-key" else None,
            token=secret if conn.auth_mode != "6clicks-api-key" else None,
            accept_estimated=args.accept_estimated_expiry)
        warn_if_ephemeral(ctx, conn.name)
        print(_("Added connection {name!r}: API {api_url}, SCIM {scim_url}; its key and token work.").format(
            name=conn.name, api_url=conn.api_url, scim_url=conn.scim_url))
        print(_("Next: put the token into Entra (Tenant URL {tenant_url}; python -m console token reveal "
                "--connection {cli_name}), or push it: python -m console token rotate --connection {cli_name} once "
                "Graph is set up.").format(tenant_url=conn.tenant_url, cli_name=cli_name(conn.name)))
        return 0
    if ConnectionRepo(ctx.store).find(conn.name) is not None:
        raise SetupError(_("A connection named {name!r} already exists. Nothing was saved.").format(name=conn.name),
                         _("Choose another name, or change it with: python -m console connections edit NAME ..."))
    if not args.no_check:
        progress(_("Checking that {url} answers…").format(url=conn.scim_url))
        problem = check_reachable(conn)
        if problem:
            raise SetupError(_("{url} could not be reached: {problem}. Nothing was saved.").format(
                url=conn.scim_url, problem=problem),
                _("Check the API base URL, the network and proxy; or add --no-check to save it anyway (it stays "
                  "incomplete until its key is checked)."))
    conn = ConnectionRepo(ctx.store).add(conn)
    if conn.auth_mode == "6clicks-api-key":
        print(_("Added connection {name!r} (API {api_url}, SCIM {scim_url}) as INCOMPLETE: it has no API key and no "
                "token yet.").format(name=conn.name, api_url=conn.api_url, scim_url=conn.scim_url))
    else:
        print(_("Added connection {name!r} (API {api_url}, SCIM {scim_url}) as INCOMPLETE: it has no token yet.")
              .format(name=conn.name, api_url=conn.api_url, scim_url=conn.scim_url))
    print(_next_without_key(conn))
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    repo = ConnectionRepo(ctx.store)
    conn = repo.get(args.name)
    if args.allow_http is not None:
        conn.allow_http = args.allow_http
    if args.verify_tls is not None:
        conn.verify_tls = args.verify_tls
    if args.api_url:
        conn.api_url = args.api_url
        if not args.scim_url and conn.scim_url_derived:
            conn.scim_url = None
    if args.scim_url is not None:
        conn.scim_url = args.scim_url or None
    if args.auth_mode:
        conn.auth_mode = args.auth_mode
    if args.role_rule:
        conn.role_rule = args.role_rule
    if args.reminder_days:
        conn.reminder_days = args.reminder_days
    conn.entra = None if args.no_entra else _entra(args, conn.entra)
    conn = repo.update(conn)
    print(_("Updated connection {name!r}.").format(name=conn.name))
    return 0


def _describe(ctx: Context, conn: Connection) -> dict[str, Any]:
    status = TokenService(ctx).status(conn)
    health = connection_health(ctx, conn)
    e = conn.entra
    return {
        "name": conn.name, "state": health.state, "next_step": health.next_step,
        "api_url": conn.api_url, "scim_url": conn.scim_url, "tenant_url": conn.tenant_url, "auth_mode": conn.auth_mode,
        "role_rule": conn.role_rule, "reminder_days": list(conn.reminder_days), "is_demo": conn.is_demo,
        "allow_http": conn.allow_http, "verify_tls": conn.verify_tls,
        "entra": None if e is None else {
            "tenant_id": e.tenant_id, "client_id": e.client_id, "service_principal_id": e.service_principal_id,
            "job_id": e.job_id, "graph_base_url": e.graph_base_url, "login_base_url": e.login_base_url},
        "token": status.to_dict(),
    }


def cmd_list(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conns = ConnectionRepo(ctx.store).list()
    if args.json:
        print_json([_describe(ctx, c) for c in conns])
        return 0
    if not conns:
        print(_("No connections. Add one: python -m console connections add NAME --api-url URL"))
        return 0
    demo = "  " + _("[demo]")
    for c in conns:
        d = _describe(ctx, c)
        t = d["token"]
        if d["state"] == "incomplete":
            no_token = pgettext("token", "no token")
            print(f"{pad(c.name, 20)} {pad(level_word('incomplete'), 10)} {pad(no_token, 16)} {c.scim_url}"
                  + (demo if c.is_demo else ""))
            print(pad("", 20) + " " + _("next: {step}").format(step=d["next_step"]))
            continue
        left = count(t["days_left"], "{n} day left", "{n} days left") if t["days_left"] is not None \
            else pgettext("token", "no token")
        print(f"{pad(c.name, 20)} {pad(level_word(t['level']), 10)} {pad(left, 16)} {c.scim_url}"
              + (demo if c.is_demo else ""))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.name)
    d = _describe(ctx, conn)
    if args.json:
        print_json(d)
        return 0
    t = d["token"]
    labels = _show_labels()
    column = max(width(label) for label in labels.values()) + 3

    def line(key: str, value: str) -> None:
        print(pad(labels[key], column) + value)

    line("connection", conn.name + ("  " + _("(demo: secrets in memory only)") if conn.is_demo else ""))
    line("api", conn.api_url)
    line("scim", (conn.scim_url or "") + ("" if conn.scim_url_derived else "  " + _("(overridden)")))
    line("tenant", f"{conn.tenant_url}  " + _("(Entra > Provisioning > Admin Credentials)"))
    if d["state"] != "ready":
        line("state", f"{level_word(d['state'])}: {d['next_step']}")
    line("auth", conn.auth_mode)
    line("roles", f"{describe_role_rule(conn.role_rule)}  ({conn.role_rule})")
    line("reminders", _("{days} days before expiry").format(days=", ".join(str(x) for x in conn.reminder_days)))
    if conn.entra:
        e = conn.entra
        line("entra", _("tenant {tenant}, client {client}, service principal {sp}, job {job}").format(
            tenant=e.tenant_id, client=e.client_id, sp=e.service_principal_id or "-", job=e.job_id or "-"))
        line("graph", _("{graph_url} (login {login_url})").format(graph_url=e.graph_base_url,
                                                                 login_url=e.login_base_url))
    else:
        line("entra", pgettext("entra settings", "not configured"))
    line("token", f"{level_word(t['level'])}: {t['message']}")
    if t["remedy"]:
        print(pad("", column) + t["remedy"])
    line("keyring", ctx.credentials.backend_info().label)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    repo = ConnectionRepo(ctx.store, ctx.credentials)
    conn = repo.get(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInput(_("Removing {name!r} needs confirmation.").format(name=conn.name),
                               _("Add --yes to confirm without a prompt."))
        answer = input(_("Remove connection {name!r}, its token metadata and its secrets in the keyring? [y/N] ")
                       .format(name=conn.name))
        # "y"/"yes" in every language (the prompt says which letter), and the language's own yes
        if answer.strip().lower() not in {"y", "yes", pgettext("answer", "yes").lower()}:
            print(_("Nothing removed."))
            return 0
    repo.remove(conn.name)
    print(_("Removed connection {name!r} and its secrets.").format(name=conn.name))
    return 0


def cmd_graph_secret(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.name)
    if args.clear:
        existed = ctx.credentials.delete(conn.name, "graph_client_secret")
        print(_("Graph client secret deleted.") if existed else _("No Graph client secret was stored."))
        return 0
    secret = read_secret(args, _("Graph client secret")).strip()
    if any(c.isspace() for c in secret):
        raise InvalidInput(_("The client secret contains spaces or line breaks."), _("Copy it again as one line."))
    ctx.credentials.set(conn.name, "graph_client_secret", secret)
    warn_if_ephemeral(ctx, conn.name)
    print(_("Stored the Graph client secret …{fingerprint} for {name!r} ({keyring}).").format(
        fingerprint=fingerprint(secret), name=conn.name, keyring=ctx.credentials.backend_info().label))
    return 0


def cmd_find_job(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    repo = ConnectionRepo(ctx.store)
    conn = repo.get(args.name)
    with GraphClient.for_connection(ctx, conn) as graph:
        jobs = find_jobs(graph)
    if not jobs:
        raise InvalidInput(_("The service principal has no provisioning job."),
                           _("In the Entra admin center set the app's Provisioning mode to Automatic and save, then "
                             "run this again."))
    for job in jobs:
        print(_("{id}  template {template}  status {status}  schedule {schedule}").format(
            id=job.id, template=job.template or "-", status=job.status or "-", schedule=job.schedule or "-"))
    scim = [j for j in jobs if j.is_scim]
    chosen = args.job_id or (scim[0].id if len(scim) == 1 else None)
    if args.dry_run:
        return 0
    if chosen is None:
        raise InvalidInput(_("There are several provisioning jobs."),
                           _("Run again with --job-id ID (one listed above)."))
    if chosen not in {j.id for j in jobs}:
        raise InvalidInput(_("{id!r} is not one of the jobs listed above.").format(id=chosen),
                           _("Give one of the listed ids."))
    if conn.entra is None:  # for_connection refuses a connection without Graph settings; kept for the type checker
        raise InvalidInput(_("{name!r} has no Microsoft Graph settings.").format(name=conn.name),
                           _("Add them first (connections edit)."))
    conn.entra = replace(conn.entra, job_id=chosen)
    repo.update(conn)
    print(_("Stored job id {id} for {name!r}.").format(id=chosen, name=conn.name))
    return 0


def cmd_graph_check(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.name)
    with GraphClient.for_connection(ctx, conn) as graph:
        checks = check_access(graph)
    words = {"ok": pgettext("graph check", "OK"), "missing": pgettext("graph check", "MISSING"),
             "error": pgettext("graph check", "ERROR"), "not-checked": pgettext("graph check", "not checked")}
    for c in checks:
        print(f"{pad(words.get(c.state, c.state), 12)} {_(c.feature)}: {c.permissions}"
              + (f"\n{pad('', 13)}{c.message}" if c.message else ""))
    return 0 if all(c.state in ("ok", "not-checked") for c in checks) else 1
