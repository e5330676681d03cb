"""Shared pieces of the console core's commands: ``--data-dir``, opening the context, reading secrets safely."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.errors import InvalidInput
from console.i18n import _, fmt_datetime, language, pgettext


def data_dir_parent() -> argparse.ArgumentParser:
    """A parent parser giving a command ``--data-dir`` (default: $SCIM_CONSOLE_HOME or the per-user folder)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                        help=_("the console's data folder (default: $SCIM_CONSOLE_HOME or the per-user data "
                               "folder)"))
    return parent


def open_ctx(args: argparse.Namespace) -> Any:
    from console.context import open_context

    return open_context(getattr(args, "data_dir", None))


def read_secret(args: argparse.Namespace, what: str, *, multiline: bool = False) -> str:
    """A secret from standard input (``--stdin``) or a hidden prompt; never from argv. ``what`` names the secret
    in the operator's language (translated by the caller: ``_("access token")``)."""
    if getattr(args, "stdin", False):
        data = sys.stdin.read()
        if not multiline:
            data = data.strip()
        if not data.strip():
            raise InvalidInput(_("Standard input was empty, so no {what} was read.").format(what=what),
                               _("Pipe the {what} in, e.g. printf '%s' \"$VALUE\" | python -m console ... --stdin.")
                               .format(what=what))
        return data
    if not sys.stdin.isatty():
        raise InvalidInput(_("No terminal to ask for the {what}.").format(what=what),
                           _("Pipe it in and add --stdin (printf '%s' \"$VALUE\" | ... --stdin); secrets are never "
                             "taken from the command line."))
    if multiline:
        print(_("Enter the {what}, one per line; finish with an empty line (input is hidden).").format(what=what),
              file=sys.stderr)
        lines = []
        while True:
            line = getpass.getpass("> ")
            if not line.strip():
                break
            lines.append(line)
        return "\n".join(lines)
    value = getpass.getpass(_("{What} (input hidden): ").format(What=what[:1].upper() + what[1:]))
    if not value.strip():
        raise InvalidInput(_("No {what} was entered.").format(what=what),
                           _("Run the command again and paste it at the prompt."))
    return value


def add_connection_option(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--connection", "-c", required=required, metavar="NAME",
                        help=_("the connection's name") if required else
                        _("the connection's name (default: all connections)"))


def print_json(value: Any) -> None:
    print(json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt_time(value: Any) -> str:
    """A UTC time for people: "2026-12-01 18:05 UTC" (English, as the command line always printed it) or
    "2026年12月1日 18:05 UTC" (Babel's format of the language); "-" when there is none."""
    if value is None or value != value or not isinstance(value, datetime):  # None, NaN/NaT, not a time
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    if language() == "en":
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return fmt_datetime(value, zone="UTC")


def width(text: str) -> int:
    """How many terminal columns ``text`` takes (East Asian wide and full-width characters take two)."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns (``str.ljust`` counts characters, so Japanese
    labels would push the next column out of line)."""
    return text + " " * max(0, columns - width(text))


def level_word(level: str) -> str:
    """A token level (``TokenStatus.level``) or a check verdict as the status word of the human output
    ("CRITICAL" / "重大"); ``--json`` keeps the level itself."""
    words = {
        "ok": pgettext("level", "OK"),
        "notice": pgettext("level", "NOTICE"),
        "warning": pgettext("level", "WARNING"),
        "critical": pgettext("level", "CRITICAL"),
        "expired": pgettext("level", "EXPIRED"),
        "rejected": pgettext("level", "REJECTED"),
        "missing": pgettext("level", "MISSING"),
        "error": pgettext("level", "ERROR"),
        "incomplete": pgettext("level", "INCOMPLETE"),
        "info": pgettext("level", "INFO"),
    }
    return words.get(level, level.upper())


def exit_word(code: int) -> str:
    """The verdict of an exit code (0 ok, 1 warning, 2 critical) as the first word of a summary line."""
    return level_word({0: "ok", 1: "warning"}.get(code, "critical"))


def warn_if_ephemeral(ctx: Any, conn_name: str) -> None:
    """Tell the operator when a secret stored by this command will not outlive it (session/memory keyring)."""
    if ctx.credentials.is_memory_only(conn_name):
        return  # the demo: expected
    info = ctx.credentials.backend_info()
    if not info.persistent:
        print(_("note: {keyring}. This command's secrets are forgotten when it exits; set SCIM_CONSOLE_KEYRING "
                "to system or cryptfile to keep them.").format(keyring=info.label), file=sys.stderr)
