"""Fetching provisioning logs from Microsoft Graph (``/auditLogs/provisioning`` through
``console.graph.GraphClient``: client credentials, paging, the retry policy), incremental from the newest record
of the last complete fetch minus an overlap. Each fetch is journalled in ``log_fetches``; what was fetched before
an error is kept. ``console.entra.sync`` runs it with the job's poll for the pages, the CLI and the demo.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from console.connections import Connection
from console.context import Context
from console.entra.logstore import ImportResult, Ingester, conn_name, record_fetch
from console.errors import ConsoleError, InvalidInput
from console.graph import GraphClient, GraphError
from console.i18n import _, fmt_number, ngettext

#: how far back an incremental fetch reaches before the newest stored record (late-arriving log entries)
FETCH_OVERLAP = timedelta(minutes=15)


class FetchError(ConsoleError):
    """Fetching from Graph stopped; what was fetched before the error is kept. ``status`` and ``permission`` are
    those of the Graph error that stopped it (``GraphError``), when it was one."""

    def __init__(self, message: str, remedy: str = "", *, status: int | None = None,
                 permission: str | None = None) -> None:
        super().__init__(message, remedy)
        self.status = status
        self.permission = permission


def fetch_since(ctx: Context, conn: Connection | str) -> datetime | None:
    """Where the next incremental fetch starts: newest record of the last complete fetch minus the overlap."""
    row = ctx.store.query_one("SELECT MAX(watermark) AS w FROM log_fetches WHERE connection = ? AND origin = 'graph'"
                              " AND complete = 1", (conn_name(conn),))
    if row is None or row["w"] is None:
        return None
    return datetime.fromtimestamp(row["w"] / 1000, UTC) - FETCH_OVERLAP


def last_fetch(ctx: Context, conn: Connection | str) -> dict[str, Any] | None:
    row = ctx.store.query_one("SELECT * FROM log_fetches WHERE connection = ? AND origin = 'graph'"
                              " ORDER BY id DESC LIMIT 1", (conn_name(conn),))
    return dict(row) if row else None


def fetch_logs(ctx: Context, conn: Connection, *, full: bool = False,
               progress: Callable[[int], None] | None = None) -> ImportResult:
    """Fetch new provisioning logs from Graph. Incremental unless ``full``. Raises ``ConsoleError`` when the
    connection has no Entra settings, ``FetchError`` (what was fetched is kept) when Graph fails midway."""
    if conn.entra is None:
        raise InvalidInput(_("Connection {name} has no Microsoft Graph settings, so its provisioning logs cannot be "
                             "fetched.").format(name=repr(conn.name)),
                           _("Add the tenant ID, client ID, service principal ID and client secret on the Connection "
                             "& token page, or import a download from the Entra admin center."))
    since = None if full else fetch_since(ctx, conn)
    ing = Ingester(ctx, conn.name, "graph")
    with GraphClient.for_connection(ctx, conn) as graph:
        try:
            ing.add_all(graph.iter_provisioning_logs(since=since), _("Graph record"), progress)
        except Exception as exc:  # whatever stopped it, keep what was read and journal the incomplete fetch
            partial = ing.finish()
            record_fetch(ctx, conn.name, "graph", since, partial, complete=False, watermark=None,
                         detail=str(exc)[:500])
            stopped = ngettext("Fetching provisioning logs stopped after {n} record ({new} new, kept): ",
                               "Fetching provisioning logs stopped after {n} records ({new} new, kept): ",
                               ing.count).format(n=fmt_number(ing.count), new=fmt_number(partial.new))
            if isinstance(exc, GraphError):
                raise FetchError(stopped + exc.message, exc.remedy, status=exc.status,
                                 permission=exc.permission) from None
            if isinstance(exc, ConsoleError):
                raise FetchError(stopped + exc.message, exc.remedy) from None
            raise FetchError(stopped + str(exc),
                             _("Try again; the next fetch starts where the last complete one ended.")) from None
    result = ing.finish()
    now_ms = int(ctx.now().timestamp() * 1000)
    prior = fetch_since(ctx, conn)
    watermark = min(ing.max_ms, now_ms) if ing.max_ms is not None else (
        int((prior + FETCH_OVERLAP).timestamp() * 1000) if prior else None)
    record_fetch(ctx, conn.name, "graph", since, result, complete=True, watermark=watermark)
    return result
