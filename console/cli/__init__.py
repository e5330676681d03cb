"""The command line. Each module in ``COMMANDS`` adds its commands through ``register(subparsers)``; the list
is the whole CLI, in the order ``--help`` shows it (a new command module is added here). Exit codes: 0 ok, 1 warning, 2 critical or error (each command documents its own), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from console.cli import (
    access,
    audit,
    connections,
    doctor,
    groups,
    logs,
    reconcile,
    remind,
    snapshot,
    token,
    users,
)
from console.errors import console_error
from console.i18n import LANGUAGES, from_environment, normalise, set_language
from console.redact import redact, redacting_handler

log = logging.getLogger("console.cli")

COMMANDS = (connections, token, remind, doctor, snapshot, users, groups, reconcile, audit, logs, access)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m console",
        description="SCIM operator console for 6clicks: tokens, reminders, directory, sync history, operations.",
        epilog="Human output follows --lang en|ja (anywhere on the line), else SCIM_CONSOLE_LANG, else LC_ALL/LANG; "
               "--json output and exit codes are the same in every language.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def _configure_logging() -> None:
    """Diagnostics on stderr at ``SCIM_CONSOLE_LOG_LEVEL`` (default WARNING). No module logs a secret, and the
    handler redacts anything shaped like one all the same (``console.redact``), tracebacks included."""
    name = os.environ.get("SCIM_CONSOLE_LOG_LEVEL", "WARNING").strip().upper() or "WARNING"
    level = logging.getLevelNamesMapping().get(name)
    if level is None:
        print(f"warning: SCIM_CONSOLE_LOG_LEVEL={name!r} is not a log level (DEBUG, INFO, WARNING, ERROR); "
              "using WARNING", file=sys.stderr)
        level = logging.WARNING
    handler = redacting_handler(logging.StreamHandler(sys.stderr), "%(levelname)s %(name)s: %(message)s")
    logging.basicConfig(level=level, handlers=[handler])


def _terminal_safe() -> list[tuple[str, object]]:
    """Printed data (names, log records, server messages) cannot drive a terminal: on a terminal, stdout and
    stderr show control and bidi characters as visible markers (console.text.TerminalSafe). Returns what to
    restore."""
    from console.text import TerminalSafe

    replaced: list[tuple[str, object]] = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            tty = stream is not None and not isinstance(stream, TerminalSafe) and stream.isatty()
        except (AttributeError, ValueError):  # closed or odd streams
            tty = False
        if tty:
            replaced.append((name, stream))
            setattr(sys, name, TerminalSafe(stream))
    return replaced


def _report(exc: Exception) -> int:
    """Exit code 2 with the error's message and remedy (one error family: ``console.errors.console_error``);
    anything else is a bug: its traceback goes to the log (stderr, redacted), and the message says so."""
    error = console_error(exc)
    if error is None:
        log.error("unexpected error", exc_info=exc)
        print(f"error: unexpected error ({type(exc).__name__}); the details are in the log above. Please report "
              "it.", file=sys.stderr)
    else:
        print(f"error: {redact(str(error))}", file=sys.stderr)
    return 2


def _language(argv: list[str]) -> tuple[str | None, list[str]]:
    """``--lang CODE`` (or ``--lang=CODE``) anywhere in ``argv`` (taken out before parsing), else
    ``SCIM_CONSOLE_LANG``, else the locale of ``LC_ALL``/``LC_MESSAGES``/``LANG``; returns (code, the rest)."""
    rest: list[str] = []
    wanted: str | None = None
    args = iter(argv)
    for arg in args:
        if arg == "--lang":
            wanted = next(args, "")
        elif arg.startswith("--lang="):
            wanted = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if wanted is not None:
        return wanted, rest
    env = [os.environ.get(name) for name in ("LC_ALL", "LC_MESSAGES", "LANG")]
    return from_environment() or next((normalise(v) for v in env if v), None), rest


def main(argv: list[str] | None = None) -> int:
    replaced = _terminal_safe()
    try:
        _configure_logging()
        wanted, argv = _language(list(sys.argv[1:] if argv is None else argv))
        if wanted is not None and normalise(wanted) is None:
            print(f"error: unknown language {wanted[:20]!r}; use --lang {' or --lang '.join(LANGUAGES)}",
                  file=sys.stderr)
            return 2
        set_language(wanted)
        parser = build_parser()
        args = parser.parse_args(argv)
        try:
            return int(args.handler(args) or 0)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            return _report(exc)
    finally:
        for name, stream in replaced:
            setattr(sys, name, stream)
