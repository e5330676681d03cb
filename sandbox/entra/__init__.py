"""Entra provisioning simulator and Microsoft Graph emulator, served by the sandbox process.

The sandbox server calls exactly these hooks: ``add_cli_arguments``, ``routes``, ``startup``, ``shutdown``,
``describe`` (and, when present, ``wait_until_ready`` before it prints ``ready``). See docs/entra-simulator.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from starlette.routing import BaseRoute

KEY = "entra"


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``python -m sandbox serve``."""
    parser.add_argument("--demo", action="store_true",
                        help="demo: fast-forward --demo-days of Entra history (once per data dir), then live cycles")
    parser.add_argument("--demo-days", type=float, default=14, help="simulated days of demo history (14)")
    parser.add_argument("--cycle-seconds", type=float, default=None,
                        help="real seconds between live cycles (60 with --demo; without --demo cycles run only "
                             "when asked, unless this is given)")
    parser.add_argument("--entra-style", choices=["default", "aadOptscim062020"], default="default",
                        help="Entra's PATCH style: default (\"Replace\", \"False\") or aadOptscim062020")
    parser.add_argument("--deletion-threshold", type=int, default=500,
                        help="QuarantineTooManyDeletesThreshold for a new data dir (500)")


def _sim(state: Any) -> Any:
    from .simulator import Simulator

    sim = state.extra.get(KEY)
    if sim is None:
        sim = Simulator(state)
        state.extra[KEY] = sim
    return sim


def routes(state: Any) -> list[BaseRoute]:
    """Graph under /graph/v1.0, the token endpoint under /login, admin routes under /sandbox-admin/entra."""
    from . import graph, graph_directory, graph_sync

    return graph.routes() + graph_sync.routes() + graph_directory.routes()


async def startup(state: Any) -> None:
    """Called once the SCIM store is ready (before requests are served): history runs in the background."""
    await _sim(state).startup()


async def wait_until_ready(state: Any) -> None:
    """Wait for the demo history (fast-forward over HTTP) to be written; the server prints ``ready`` after."""
    sim = state.extra.get(KEY)
    if sim is not None:
        await sim.ready.wait()


async def shutdown(state: Any) -> None:
    sim = state.extra.pop(KEY, None)
    if sim is not None:
        await sim.shutdown()


def describe(state: Any) -> list[tuple[str, str]]:
    """``name: value`` lines printed before ``ready``."""
    sim = _sim(state)
    lines = [
        ("Graph base URL", f"{state.base_url}/graph/v1.0"),
        ("Login base URL", f"{state.base_url}/login"),
        ("tenant id", sim.ids.tenant_id),
        ("client id", sim.ids.client_id),
        ("client secret", sim.client_secret_shown),
        ("service principal id", sim.ids.service_principal_id),
        ("application object id", sim.ids.app_id),
        ("job id", sim.ids.job_id),
    ]
    if sim.demo_seconds is not None:
        lines.append(("demo history", f"{float(getattr(state.config, 'demo_days', 14)):g} days in "
                                      f"{sim.demo_seconds:.1f} s"))
    planted = (sim.db.get_json("demo_done") or {}).get("planted")
    if planted:
        lines.append(("demo planted", "mapping drift (e-mail not matching), "
                      f"{len(planted['notManagedBySCIM'])} not managed by SCIM, {len(planted['orphans'])} orphans, "
                      f"{len(planted['missing'])} missing, {len(planted['attributeDrift'])} attribute drift, "
                      f"membership drift in {planted['membershipDrift']['group']!r} (GET /sandbox-admin/entra/status)"))
    if sim.ready_error:
        lines.append(("demo history error", sim.ready_error))
    return lines


def add_subcommands(sub: Any, data_dir_arg: Any) -> None:
    """Extra ``python -m sandbox`` sub-commands (``export-logs``); each sets ``handler(args, data_dir)``."""
    from .export import add_subcommand

    add_subcommand(sub, data_dir_arg)
