"""The directory on the pages: the latest snapshot as a cached ``console.directory.view.Directory`` (shared by
all sessions), the Refresh with its progress bar (a new snapshot, then Entra's logs and job status), the screen
when no snapshot exists yet, and the CSV download button every table leaves the app by."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from console.connections import Connection
from console.context import Context
from console.csvsafe import to_csv_bytes
from console.demo import SnapshotProgress
from console.directory.store import Snapshot
from console.directory.store import latest_snapshot as latest
from console.directory.take import take_snapshot
from console.directory.view import Directory, build_directory
from console.entra.logstore import ImportResult
from console.entra.sync import sync
from console.i18n import N_, _, fmt_number, language, use_language
from pages._ui.errors import log_exception, show_error
from pages._ui.progress import run_with_progress
from pages._ui.session import context, data_dir
from pages._ui.text import md_escape


@st.cache_resource(show_spinner=False, max_entries=3)  # the spinner is directory()'s, in the run's language
def _directory(path: str, conn_name: str, snapshot_id: int, role_rule: str, _snapshot: Snapshot,
               _conn: Connection) -> Directory:
    return build_directory(_snapshot, _conn)


def latest_snapshot(conn: Connection) -> Snapshot | None:
    return latest(context(), conn)


def directory(conn: Connection) -> Directory | None:
    """The latest snapshot of ``conn`` as a cached ``Directory``, or None when no snapshot was taken yet."""
    snap = latest_snapshot(conn)
    if snap is None:
        return None
    with st.spinner(_("Loading the directory…")):  # shown only when loading takes more than half a second
        return _directory(str(data_dir()), conn.name, snap.id, str(getattr(conn, "role_rule", "")), snap, conn)


def take_snapshot_with_progress(conn: Connection, bar: DeltaGenerator) -> Snapshot:
    ctx = context()

    def work(report: Callable[[str, float], None]) -> Snapshot:
        tracker = SnapshotProgress()

        def on_progress(phase: str, done: int, total: int | None) -> None:
            tracker.update(phase, done, total)
            report(_("Fetched {progress}").format(progress=tracker.text()), tracker.fraction())

        report(_("Listing users and groups…"), 0.0)
        return take_snapshot(ctx, conn, progress=on_progress)

    return run_with_progress(work, bar)


def refresh_directory(conn: Connection, *, where: DeltaGenerator | None = None) -> Snapshot | None:
    """Take a snapshot with a progress bar; returns the snapshot or None (the error is shown)."""
    target = where or st
    with target.status(_("Fetching the directory of {name}…").format(name=md_escape(conn.name)),
                       expanded=True) as status:
        bar = st.progress(0.0, text=_("Listing users and groups…"))
        try:
            snap = take_snapshot_with_progress(conn, bar)
        except Exception as exc:
            log_exception(exc)
            status.update(label=_("The directory could not be fetched"), state="error")
            show_error(exc, what=N_("fetching the directory"))
            return None
        bar.progress(1.0, text=_("Done"))
        counts = {"users": fmt_number(snap.user_count), "groups": fmt_number(snap.group_count + snap.role_count)}
        problems, warnings = refresh_entra(conn, bar) if conn.entra is not None else ([], [])
        for problem in problems:
            show_error(problem, what=N_("reading Entra provisioning data"))
        for warning in warnings:
            st.warning(md_escape(warning, limit=600), icon=":material/warning:")
        label = (_("Directory fetched: {users} users, {groups} groups and roles; Entra data could not be read")
                 if problems else _("Directory fetched: {users} users, {groups} groups and roles")).format(**counts)
        status.update(label=label, state="error" if problems else "complete", expanded=bool(problems))
    return snap


def refresh_entra(conn: Connection, bar: DeltaGenerator) -> tuple[list[BaseException], list[str]]:
    """New provisioning logs and the job's status from Graph through the one ``console.entra.sync.sync`` (as
    Sync history, ``logs fetch`` and the demo); returns (errors, warnings such as a job that could not be read)."""
    bar.progress(1.0, text=_("Reading new provisioning logs and the job's status from Microsoft Graph…"))
    try:
        result = run_with_progress(partial(_step, sync, context(), conn), bar)
    except Exception as exc:
        log_exception(exc)
        return [exc], []
    return [], list(result.warnings) if isinstance(result, ImportResult) else []


def no_snapshot_screen(conn: Connection) -> None:
    st.info(_("**No directory snapshot of {name} yet.** Fetch it now to see its users, groups and roles.").format(
            name=md_escape(conn.name)), icon=":material/cloud_download:")
    if st.button(_("Fetch the directory now"), key="empty.fetch", type="primary", icon=":material/refresh:"):
        if refresh_directory(conn) is not None:
            st.rerun()


def english_headers(key: str) -> bool:
    """The "English column names (for scripts)" choice beside a CSV download: by default a CSV's header is in the
    operator's language; scripts that read the file want the same English names whatever the language."""
    if language() == "en":
        return True
    return bool(st.checkbox(_("English column names (for scripts)"), key=key,
                            help=_("The header row stays the same in every language, so scripts can read it.")))


def localized(frame: pd.DataFrame, english: bool) -> pd.DataFrame:
    """``frame`` with its column names translated (each column name is a message, marked with ``N_`` where the
    table is built), unless ``english``."""
    return frame if english else frame.rename(columns=lambda c: _(str(c)))


def csv_download(label: str, frame: pd.DataFrame | Callable[[], pd.DataFrame], file_name: str, key: str) -> None:
    """A "Download CSV" button for a table, written by ``console.csvsafe`` (no cell can start a formula), with
    the header in the operator's language unless "English column names" is ticked (``english_headers``). Tables
    leave the app only this way: ``client.disableDataExport`` hides the grid's own CSV export, which writes cells
    verbatim."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in file_name.removesuffix(".csv")) or "export"
    english = english_headers(f"{key}.english")
    lang = language()  # the file is made when clicked, outside this run: in the language of the page shown

    def data() -> bytes:
        with use_language(lang):
            return to_csv_bytes(localized(frame() if callable(frame) else frame, english))

    st.download_button(label, data=data, file_name=f"{stem}.csv", mime="text/csv", icon=":material/download:",
                       key=key)


def _step(call: Callable[[Context, Connection], object], ctx: Context, conn: Connection,
          _report: Callable[[str, float], None]) -> object:
    return call(ctx, conn)
