"""One way to bring Entra's side up to date, used by the Sync history page, ``logs fetch`` and the demo: fetch
the provisioning logs that are new since the last fetch (``console.entra.fetch.fetch_logs``), then read the
provisioning job's status (``console.entra.health.poll_job``) when the job is configured. A job that cannot be
read does not undo the fetch: it is reported in the result (``job_error``, also among ``warnings``)."""

from __future__ import annotations

from collections.abc import Callable

from console.connections import Connection
from console.context import Context
from console.entra.fetch import fetch_logs
from console.entra.health import poll_job
from console.entra.logstore import ImportResult
from console.errors import ConsoleError
from console.i18n import _


def sync(ctx: Context, conn: Connection, *, full: bool = False,
         progress: Callable[[int], None] | None = None) -> ImportResult:
    result = fetch_logs(ctx, conn, full=full, progress=progress)
    entra = conn.entra
    if entra is not None and entra.service_principal_id and entra.job_id:
        try:
            poll_job(ctx, conn)
        except ConsoleError as exc:
            result.job_error = str(exc)
            result.warnings.append(_("The provisioning job could not be read: {error}").format(error=exc))
    return result
