"""Entra provisioning simulator and Microsoft Graph emulator (work in progress).

Interface used by the sandbox server: ``add_cli_arguments``, ``routes``, ``startup``, ``shutdown``,
``describe``.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to the ``serve`` sub-command."""
    parser.add_argument("--demo", action="store_true", help="seed a demo org and fast-forward its history")
    parser.add_argument("--demo-days", type=int, default=14, help="simulated days of demo history (14)")
    parser.add_argument("--cycle-seconds", type=float, default=60.0, help="real seconds between live cycles")
    parser.add_argument(
        "--entra-style", choices=["default", "aadOptscim062020"], default="default", help="PATCH style"
    )
    parser.add_argument(
        "--deletion-threshold", type=int, default=500, help="QuarantineTooManyDeletesThreshold (500)"
    )


def routes(state: Any) -> list:
    return []


async def startup(state: Any) -> None:
    return None


async def shutdown(state: Any) -> None:
    return None


def describe(state: Any) -> list[tuple[str, str]]:
    return []
