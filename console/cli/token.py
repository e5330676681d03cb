"""``python -m console token set-key|generate|import|status|check|rotate|ics|reveal|notify-urls``.

``token check`` is for cron and monitoring: one line, exit 0 ok, 1 warning (≤ 30 days, or the token could not be
tested), 2 critical (≤ 7 days, expired, rejected, missing, or an error); with no --connection every connection is
checked and the worst wins.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.cli._common import (
    add_connection_option,
    data_dir_parent,
    exit_word,
    fmt_time,
    level_word,
    open_ctx,
    print_json,
    progress,
    read_secret,
    warn_if_ephemeral,
)
from console.connections import ConnectionRepo
from console.context import Context
from console.errors import ConsoleError, InvalidInput, TokenError
from console.i18n import _, count, fmt_number, ngettext, pgettext
from console.notify.calendar import token_ics
from console.notify.channels import describe_channels, send_test, set_notify_urls
from console.tokens.rotation import rotate
from console.tokens.service import TokenService
from console.tokens.status import TokenStatus, cli_name

UNCONFIRMED = ("unreachable", "tls", "protocol", "error")


def register(sub: argparse._SubParsersAction) -> None:
    parent = data_dir_parent()
    p = sub.add_parser("token", help=_("API key, token generation, status, checks, rotation, reminders"),
                       description=_("The 6clicks token lifecycle. Secrets are read from --stdin or a hidden prompt, "
                                     "never from the command line, and are never printed (except by 'reveal')."))
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    sk = s.add_parser("set-key", parents=[parent], help=_("store the connection's 6clicks API key"),
                      description=_("Store the 6clicks API key in the keyring. The key is first exchanged once to "
                                    "prove it works (unless --no-verify); a refused key never replaces the stored "
                                    "one."))
    add_connection_option(sk)
    sk.add_argument("--stdin", action="store_true", help=_("read the key from standard input"))
    sk.add_argument("--no-verify", action="store_true", help=_("store without checking the key against 6clicks"))
    sk.set_defaults(handler=cmd_set_key)

    gen = s.add_parser("generate", parents=[parent], help=_("generate a long-lived token from the stored API key"),
                       description=_("Exchange the API key for a long-lived (one year) token, test it, and store "
                                     "it. A failure keeps the previous token."))
    add_connection_option(gen)
    gen.add_argument("--no-verify", action="store_true", help=_("do not test the new token against SCIM first"))
    gen.set_defaults(handler=cmd_generate)

    imp = s.add_parser("import", parents=[parent], help=_("store a token generated elsewhere (pasted)"),
                       description=_("Store a pasted token. Its expiry is read from the JWT; a token without a "
                                     "readable expiry needs --accept-estimated-expiry (assumed 365 days from "
                                     "today)."))
    add_connection_option(imp)
    imp.add_argument("--stdin", action="store_true", help=_("read the token from standard input"))
    imp.add_argument("--accept-estimated-expiry", action="store_true",
                     help=_("accept a token whose expiry cannot be read; assume today + 365 days, marked "
                            "estimated"))
    imp.add_argument("--no-verify", action="store_true", help=_("do not test the token against SCIM first"))
    imp.set_defaults(handler=cmd_import)

    st = s.add_parser("status", parents=[parent], help=_("show token status from stored data (no network)"))
    add_connection_option(st, required=False)
    st.add_argument("--json", action="store_true", help=_("print JSON"))
    st.set_defaults(handler=cmd_status)

    ck = s.add_parser("check", parents=[parent], help=_("test the token(s) and print one line; exit 0/1/2 for cron"),
                      description=_("Test each token against SCIM and print a one-line summary. Exit 0 ok, 1 "
                                    "warning (≤ 30 days left, or the test could not reach the service), 2 critical "
                                    "(≤ 7 days, expired, rejected, missing, or an error). Without --connection: all, "
                                    "worst wins."))
    add_connection_option(ck, required=False)
    ck.add_argument("--json", action="store_true", help=_("print one line of JSON"))
    ck.add_argument("--offline", action="store_true", help=_("do not test; use the stored expiry and last test"))
    ck.set_defaults(handler=cmd_check)

    rot = s.add_parser("rotate", parents=[parent],
                       help=_("generate, verify and store a new token, then update Entra"),
                       description=_("Generate a new token, verify it against SCIM, store it, then push it to Entra "
                                     "through Graph (when Entra settings and the client secret are stored) or "
                                     "print the exact manual steps. The old token stays if anything before "
                                     "storing fails."))
    add_connection_option(rot)
    rot.add_argument("--no-push", action="store_true", help=_("do not push to Entra; print the manual steps"))
    rot.add_argument("--json", action="store_true", help=_("print the result as JSON"))
    rot.set_defaults(handler=cmd_rotate)

    ics = s.add_parser("ics", parents=[parent], help=_("write a calendar file with the renewal date and alarms"))
    add_connection_option(ics)
    ics.add_argument("--out", required=True, metavar="PATH", help=_("where to write the .ics file ('-' for stdout)"))
    ics.set_defaults(handler=cmd_ics)

    rv = s.add_parser("reveal", parents=[parent], help=_("print the stored token (to paste into Entra by hand)"),
                      description=_("Print the stored access token so it can be pasted into Entra's Secret Token. "
                                    "Only to a terminal unless --to-pipe is given."))
    add_connection_option(rv)
    rv.add_argument("--to-pipe", action="store_true", help=_("also print when standard output is not a terminal"))
    rv.set_defaults(handler=cmd_reveal)

    nu = s.add_parser("notify-urls", help=_("where reminders are sent (apprise URLs, kept in the keyring)"),
                      description=_("Notification channels as apprise URLs (msteams://, slack://, mailtos://, "
                                    "json://host/path, ...). They contain credentials, so they live in the "
                                    "keyring."))
    ns = nu.add_subparsers(dest="notify_action", metavar="ACTION", required=True)
    nset = ns.add_parser("set", parents=[parent],
                         help=_("replace the URLs (one per line from --stdin or the prompt)"))
    add_connection_option(nset)
    nset.add_argument("--stdin", action="store_true", help=_("read the URLs from standard input, one per line"))
    nset.set_defaults(handler=cmd_notify_set)
    nlist = ns.add_parser("list", parents=[parent], help=_("list the channels (scheme and fingerprint only)"))
    add_connection_option(nlist)
    nlist.set_defaults(handler=cmd_notify_list)
    nclear = ns.add_parser("clear", parents=[parent], help=_("delete all URLs"))
    add_connection_option(nclear)
    nclear.set_defaults(handler=cmd_notify_clear)
    ntest = ns.add_parser("test", parents=[parent], help=_("send a test notification to every channel"))
    add_connection_option(ntest)
    ntest.set_defaults(handler=cmd_notify_test)


def _service(args: argparse.Namespace) -> tuple[Context, TokenService]:
    ctx = open_ctx(args)
    return ctx, TokenService(ctx)


def _print_status(status: TokenStatus) -> None:
    print(_("{level}: {message}").format(level=level_word(status.level), message=status.message))
    if status.remedy:
        print(f"  {status.remedy}")


def _valid_until(status: TokenStatus) -> str:
    return (_("{time} (estimated)") if status.estimated else "{time}").format(time=fmt_time(status.expires_at))


def cmd_set_key(args: argparse.Namespace) -> int:
    ctx, svc = _service(args)
    conn = svc.repo.get(args.connection)
    key = read_secret(args, _("6clicks API key"))
    if not args.no_verify:
        progress(_("Checking the API key with {url}…").format(url=conn.api_url))
    has_token = svc.status(conn).level != "missing"
    try:
        fp = svc.set_api_key(conn.name, key, verify=not args.no_verify)
    except TokenError as exc:
        if has_token:
            raise
        stays = _("{name!r} stays incomplete (no API key, no token) until a key is accepted.").format(name=conn.name)
        raise TokenError(exc.message, f"{exc.remedy} {stays}".strip(), result=exc.result) from None
    warn_if_ephemeral(ctx, conn.name)
    keyring = ctx.credentials.backend_info().label
    if args.no_verify:
        print(_("Stored the API key …{fingerprint} for {name!r} ({keyring}).").format(
            fingerprint=fp, name=conn.name, keyring=keyring))
    else:
        print(_("Stored the API key …{fingerprint} for {name!r} ({keyring}); 6clicks accepted it.").format(
            fingerprint=fp, name=conn.name, keyring=keyring))
    if not has_token:
        print(_("Next: python -m console token generate --connection {cli_name} ({name!r} stays incomplete until it "
                "has a token; in the app: Connection & token > Generate token)").format(
            cli_name=cli_name(conn.name), name=conn.name))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    ctx, svc = _service(args)
    conn = svc.repo.get(args.connection)
    progress(_("Generating a long-lived token from {url}…").format(url=conn.api_url))
    status = svc.generate(conn.name, verify=not args.no_verify)
    warn_if_ephemeral(ctx, conn.name)
    print(_("Stored a new token …{fingerprint} for {name!r}, valid until {until}.").format(
        fingerprint=status.fingerprint, name=conn.name, until=_valid_until(status)))
    _print_status(status)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    ctx, svc = _service(args)
    conn = svc.repo.get(args.connection)
    token = read_secret(args, _("access token"))
    status = svc.import_token(conn.name, token, accept_estimated=args.accept_estimated_expiry,
                              verify=not args.no_verify)
    warn_if_ephemeral(ctx, conn.name)
    print(_("Stored the token …{fingerprint} for {name!r}, valid until {until}.").format(
        fingerprint=status.fingerprint, name=conn.name, until=_valid_until(status)))
    _print_status(status)
    return 0


def _statuses(args: argparse.Namespace, svc: TokenService, *, test: bool,
              include_demo: bool = True) -> list[TokenStatus]:
    conns = [svc.repo.get(args.connection)] if args.connection else \
        [c for c in svc.repo.list() if include_demo or not c.is_demo]
    out = []
    for conn in conns:
        out.append(svc.test(conn.name) if test else svc.status(conn))
    return out


def _test_result(result: str | None) -> str:
    """The last test's outcome (``TokenStatus.last_test_result``) in words."""
    words = {
        None: pgettext("token test", "never"),
        "ok": pgettext("token test", "works"),
        "rejected": pgettext("token test", "rejected (401)"),
        "forbidden": pgettext("token test", "lacks a permission (403)"),
        "unreachable": pgettext("token test", "6clicks could not be reached"),
        "tls": pgettext("token test", "TLS failed"),
        "protocol": pgettext("token test", "not a SCIM endpoint"),
        "error": pgettext("token test", "the service failed"),
    }
    return words.get(result, result or "-")


def _expiry_source(source: str | None) -> str:
    """Where the expiry date came from (``TokenStatus.expiry_source``) in words."""
    words = {
        None: "-",
        "jwt-exp": pgettext("expiry source", "read from the token"),
        "response": pgettext("expiry source", "given by 6clicks with the token"),
        "assumed-365d": pgettext("expiry source", "assumed: 365 days from issue"),
        "confirmed-estimate": pgettext("expiry source", "estimated, confirmed at import"),
    }
    return words.get(source, source or "-")


def cmd_status(args: argparse.Namespace) -> int:
    _ctx, svc = _service(args)
    statuses = _statuses(args, svc, test=False)
    if args.json:
        print_json([s.to_dict() for s in statuses])
        return 0
    if not statuses:
        print(_("No connections. Add one: python -m console connections add NAME --api-url URL"))
    for s in statuses:
        print(f"{s.connection}: {level_word(s.level)}")
        print(f"  {s.message}")
        if s.remedy:
            print(f"  {s.remedy}")
        print("  " + _("issued {issued}, expires {expires}, source {source}, last test {tested} ({result})").format(
            issued=fmt_time(s.issued_at), expires=_valid_until(s), source=_expiry_source(s.expiry_source),
            tested=fmt_time(s.last_test_at), result=_test_result(s.last_test_result)))
    return 0


def check_exit_code(status: TokenStatus) -> int:
    code = status.exit_code
    if code == 0 and status.last_test_result in UNCONFIRMED:
        code = 1
    return code


def cmd_check(args: argparse.Namespace) -> int:
    _ctx, svc = _service(args)
    # The demo's secrets live in the app's memory only, so checking "all connections" means the real ones.
    try:
        statuses = _statuses(args, svc, test=not args.offline, include_demo=False)
    except ConsoleError as exc:  # e.g. a locked keyring: monitoring still gets its one line on stdout
        if args.json:
            print_json({"level": "error", "exit_code": 2, "message": exc.message, "remedy": exc.remedy,
                        "connections": []})
        else:
            print(_("{level}: {message}").format(level=exit_word(2), message=exc))
        return 2
    if not statuses:
        if args.json:
            print_json({"level": "missing", "exit_code": 2, "connections": []})
        else:
            print(_("{level}: no connections are configured.").format(level=exit_word(2)))
        return 2
    codes = [check_exit_code(s) for s in statuses]
    worst_code = max(codes)
    worst = max(statuses, key=lambda s: (check_exit_code(s), s.severity))
    if args.json:
        print_json({"level": worst.level, "exit_code": worst_code,
                    "connections": [s.to_dict() | {"exit_code": c} for s, c in zip(statuses, codes, strict=True)]})
        return worst_code
    label = exit_word(worst_code)
    if len(statuses) == 1:
        s = statuses[0]
        message = f"{s.message} {s.remedy}" if s.remedy and worst_code else s.message
        print(_("{level}: {message}").format(level=label, message=message))
    else:
        parts = []
        for s, _c in sorted(zip(statuses, codes, strict=True), key=lambda sc: -sc[1]):
            word = level_word(s.level).lower()  # "rejected" / "拒否"
            if s.level == "missing":
                parts.append(f"{s.connection} {word}")
            else:
                left = count(s.days_left, "{n} d", "{n} d") if s.days_left is not None else pgettext("token", "no token")
                parts.append(f"{s.connection} {word} ({left})")
        print(_("{level}: {connections}. Worst: {message}").format(
            level=label, connections=pgettext("cli separator", "; ").join(parts), message=worst.message))
    return worst_code


def cmd_rotate(args: argparse.Namespace) -> int:
    _ctx, svc = _service(args)
    conn = svc.repo.get(args.connection)
    result = rotate(svc, conn.name, push_to_entra=not args.no_push, progress=progress)
    if args.json:
        print_json({"outcome": result.outcome, "pushed": result.pushed, "message": result.message,
                    "push_error": result.push_error, "manual_steps": result.manual_steps,
                    "status": result.status.to_dict()})
        return 0
    print(result.message)
    print(_("New token …{fingerprint}, valid until {until}.").format(
        fingerprint=result.status.fingerprint, until=fmt_time(result.status.expires_at)))
    if result.manual_steps:
        print(_("Update Entra by hand:"))
        for number, step in enumerate(result.manual_steps, 1):
            print(f"  {number}. {step}")
    return 0


def cmd_ics(args: argparse.Namespace) -> int:
    ctx, svc = _service(args)
    conn = svc.repo.get(args.connection)
    data = token_ics(ctx, conn)
    if args.out == "-":
        sys.stdout.write(data.decode("utf-8"))
        return 0
    path = Path(args.out).expanduser()
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(_("Cannot write {path} ({reason}).").format(path=path, reason=exc.strerror),
                           _("Choose a writable path.")) from None
    print(_("Wrote {path}: renewal reminder and expiry alarms for {name!r}. Import it into your calendar.").format(
        path=path, name=conn.name))
    return 0


def cmd_reveal(args: argparse.Namespace) -> int:
    _ctx, svc = _service(args)
    conn = svc.repo.get(args.connection)
    if not sys.stdout.isatty() and not args.to_pipe:
        raise InvalidInput(_("Refusing to print the token: standard output is not a terminal."),
                           _("Run it in a terminal, or add --to-pipe if you really mean to pipe the token "
                             "somewhere."))
    token = svc.get_token(conn.name)
    if not token:
        raise InvalidInput(_("No token is stored for {name!r}.").format(name=conn.name), svc.status(conn).remedy)
    print(token)
    return 0


def cmd_notify_set(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.connection)
    text = read_secret(args, _("notification URLs"), multiline=True)
    stored = set_notify_urls(ctx, conn, text.splitlines())
    print(ngettext("Stored {n} notification URL for {name!r} in the keyring.",
                   "Stored {n} notification URLs for {name!r} in the keyring.", stored).format(
        n=fmt_number(stored), name=conn.name))
    return 0


def cmd_notify_list(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.connection)
    channels = describe_channels(ctx, conn)
    if not channels:
        print(_("No notification URLs for {name!r}. Add: python -m console token notify-urls set --connection "
                "{cli_name} --stdin").format(name=conn.name, cli_name=cli_name(conn.name)))
    for c in channels:
        print(f"{c['channel']}  {c['description']}")
    return 0


def cmd_notify_clear(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.connection)
    set_notify_urls(ctx, conn, [])
    print(_("Deleted the notification URLs of {name!r}.").format(name=conn.name))
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    ctx = open_ctx(args)
    conn = ConnectionRepo(ctx.store).get(args.connection)
    result = send_test(ctx, conn)
    if result.no_channels:
        print(_("No notification URLs are configured."))
        return 2
    print(ngettext("Sent to {n} channel; failed on {failed}.", "Sent to {n} channels; failed on {failed}.",
                   len(result.sent)).format(n=fmt_number(len(result.sent)), failed=fmt_number(len(result.failed))))
    return 0 if not result.failed else 2
