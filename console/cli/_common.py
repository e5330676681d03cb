"""Shared pieces of the console core's commands: ``--data-dir``, opening the context, reading secrets safely."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from console.errors import InvalidInput


def data_dir_parent() -> argparse.ArgumentParser:
    """A parent parser giving a command ``--data-dir`` (default: $SCIM_CONSOLE_HOME or the per-user folder)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                        help="the console's data folder (default: $SCIM_CONSOLE_HOME or the per-user data folder)")
    return parent


def open_ctx(args: argparse.Namespace) -> Any:
    from console.context import open_context

    return open_context(getattr(args, "data_dir", None))


def read_secret(args: argparse.Namespace, what: str, *, multiline: bool = False) -> str:
    """A secret from standard input (``--stdin``) or a hidden prompt; never from argv."""
    if getattr(args, "stdin", False):
        data = sys.stdin.read()
        if not multiline:
            data = data.strip()
        if not data.strip():
            raise InvalidInput(f"Standard input was empty, so no {what} was read.",
                               f"Pipe the {what} in, e.g. printf '%s' \"$VALUE\" | python -m console ... --stdin.")
        return data
    if not sys.stdin.isatty():
        raise InvalidInput(f"No terminal to ask for the {what}.",
                           "Pipe it in and add --stdin (printf '%s' \"$VALUE\" | ... --stdin); secrets are never taken "
                           "from the command line.")
    if multiline:
        print(f"Enter the {what}, one per line; finish with an empty line (input is hidden).", file=sys.stderr)
        lines = []
        while True:
            line = getpass.getpass("> ")
            if not line.strip():
                break
            lines.append(line)
        return "\n".join(lines)
    value = getpass.getpass(f"{what[0].upper()}{what[1:]} (input hidden): ")
    if not value.strip():
        raise InvalidInput(f"No {what} was entered.", "Run the command again and paste it at the prompt.")
    return value


def add_connection_option(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--connection", "-c", required=required, metavar="NAME",
                        help="the connection's name" + ("" if required else " (default: all connections)"))


def print_json(value: Any) -> None:
    print(json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def warn_if_ephemeral(ctx: Any, conn_name: str) -> None:
    """Tell the operator when a secret stored by this command will not outlive it (session/memory keyring)."""
    if ctx.credentials.is_memory_only(conn_name):
        return  # the demo: expected
    info = ctx.credentials.backend_info()
    if not info.persistent:
        print(f"note: {info.label}. This command's secrets are forgotten when it exits; set SCIM_CONSOLE_KEYRING "
              "to system or cryptfile to keep them.", file=sys.stderr)
