"""The command line. Each module in ``COMMANDS`` adds its commands through ``register(subparsers)``; the list
is the whole CLI, in the order ``--help`` shows it (a new command module is added here). Exit codes: 0 ok, 1 warning, 2 critical or error (each command documents its own), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
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
from console.i18n import LANGUAGES, _, from_environment, normalise, pgettext, use_language
from console.redact import redact, redacting_handler

log = logging.getLogger("console.cli")

COMMANDS = (connections, token, remind, doctor, snapshot, users, groups, reconcile, audit, logs, access)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, its help in the current language (``use_language`` decides)."""
    parser = argparse.ArgumentParser(
        prog="python -m console",
        description=_("SCIM operator console for 6clicks: tokens, reminders, directory, sync history, operations."),
        epilog=_("Human output follows --lang en|ja (anywhere on the line), else SCIM_CONSOLE_LANG, else "
                 "LC_ALL/LANG; --json output, CSV files and exit codes are the same in every language (a --json "
                 "run speaks English throughout)."),
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
        print(_("warning: SCIM_CONSOLE_LOG_LEVEL={name!r} is not a log level (DEBUG, INFO, WARNING, ERROR); "
                "using WARNING").format(name=name), file=sys.stderr)
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


def _report(exc: Exception, code: int = 2) -> int:
    """Exit ``code`` (2, unless the command keeps 2 for a verdict) with the error's message and remedy (one error family: ``console.errors.console_error``);
    anything else is a bug: its traceback goes to the log (stderr, redacted), and the message says so."""
    error = console_error(exc)
    if error is None:
        log.error("unexpected error", exc_info=exc)
        print(_("error: unexpected error ({kind}); the details are in the log above. Please report it.")
              .format(kind=type(exc).__name__), file=sys.stderr)
    else:
        print(_("error: {message}").format(message=redact(str(error))), file=sys.stderr)
    return code


def _language(argv: list[str]) -> tuple[str | None, str | None, list[str]]:
    """``--lang CODE`` (or ``--lang=CODE``) anywhere in ``argv`` (taken out before parsing); the environment's
    choice, ``SCIM_CONSOLE_LANG``, else the locale of ``LC_ALL``/``LC_MESSAGES``/``LANG``; returns (the code asked
    for with --lang or None, the environment's language or None, the rest of argv)."""
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
    env = [os.environ.get(name) for name in ("LC_ALL", "LC_MESSAGES", "LANG")]
    # the first locale variable that is set decides, as in POSIX (LC_ALL=C wins over LANG=ja_JP.UTF-8)
    first = next((v for v in env if v), None)
    return wanted, from_environment() or normalise(first), rest


def _machine_output(args: argparse.Namespace) -> bool:
    """Whether the command prints machine output: ``--json``, or a CSV on standard output (``--csv -``)."""
    return bool(getattr(args, "json", False)) or str(getattr(args, "csv", None) or "") == "-"


def _reader_gone() -> int:
    """The reader of our output went away (``| head``): stop quietly, as a pipeline expects, and point stdout at
    the null device so the interpreter's last flush does not fail again. 141 is the shell's code for SIGPIPE."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141


def main(argv: list[str] | None = None) -> int:
    replaced = _terminal_safe()
    try:
        wanted, env_language, argv = _language(list(sys.argv[1:] if argv is None else argv))
        if wanted is not None and normalise(wanted) is None:
            with use_language(env_language):
                choices = pgettext("cli separator", " or ").join(f"--lang {c}" for c in LANGUAGES)
                print(_("error: unknown language {code!r}; use {choices}").format(code=wanted[:20], choices=choices),
                      file=sys.stderr)
            return 2
        with use_language(wanted or env_language):  # for this run only (a caller's thread keeps its language)
            _configure_logging()
            parser = build_parser()
            args = parser.parse_args(argv)
            # Machine output is language-neutral: a --json run (the messages and remedies inside the JSON, its
            # errors on stderr) speaks English whatever the locale, so its bytes are the same in every language.
            with use_language("en" if _machine_output(args) else wanted or env_language):
                try:
                    code = int(args.handler(args) or 0)
                    sys.stdout.flush()
                    return code
                except BrokenPipeError:
                    return _reader_gone()
                except KeyboardInterrupt:
                    print(_("interrupted"), file=sys.stderr)
                    return 130
                except Exception as exc:
                    return _report(exc, int(getattr(args, "error_exit", 2)))
    finally:
        for name, stream in replaced:
            setattr(sys, name, stream)
