"""Sync history: what every Entra provisioning cycle did, what failed and why, how the directory changed.

Thin: every number comes from console.entra (logstore, health) / console.directory (store, events) / console.notify.alerts /
console.timeline. The default time range is the smallest that shows the recent trouble (the worst failing
cycle, the latest one and the latest quarantine of the last 30 days); a chosen range that hides failures says
so, with a one-click way to see them. Selecting a log record opens its details (steps, modified properties,
the error code's meaning and fix) and links to the person or group it concerns. Times are shown in the
operator's time zone (converted before plotting).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from console.connections import Connection
from console.context import Context
from console.directory.store import directory_size
from console.entra.catalogue import error_title, job_status_text
from console.entra.fetch import last_fetch
from console.entra.files import import_files
from console.entra.health import JobOverview, RecentTrouble, choose_range, range_showing, recent_trouble
from console.entra.logstore import LogSummary, log_count, range_start, summarise
from console.entra.sync import sync
from console.graph import permissions_for
from console.i18n import N_, _, count, fmt_number, language, ngettext
from console.notify.alerts import current_alerts
from pages import _history as hist
from pages._sync_history.charts import actions_chart, cycles_chart, failure_rate_chart, size_chart
from pages._sync_history.records import failures_panel, log_table, record_details
from pages._ui import banners, errors, session, shell
from pages._ui import format as fmt
from pages._ui.text import md_escape, plain_table

#: the time ranges (the keys are the session state's values, English; shown translated with ``_``)
RANGES = {N_("24 hours"): timedelta(hours=24), N_("7 days"): timedelta(days=7), N_("30 days"): timedelta(days=30),
          N_("All"): None}
DEFAULT_RANGE = "7 days"
KEY_RANGE = "sync_history.range"
KEY_RESULT = "sync_history.last_result"


# --- data (cached by a cheap version of the stored logs) ----------------------------------------------------

@st.cache_data(show_spinner=False, ttl=300, max_entries=32)
def _summary(data_dir: str, conn_name: str, since_iso: str | None, version: tuple, lang: str) -> LogSummary:
    """``lang``: the summary's explanations are in the language it was computed in (the page explains each
    error code again where it shows it; the key keeps a Japanese summary from reaching an English session)."""
    return summarise(session.context(), conn_name, since=datetime.fromisoformat(since_iso) if since_iso else None)


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def _trouble(data_dir: str, conn_name: str, version: tuple, _ov: JobOverview) -> RecentTrouble:
    return recent_trouble(session.context(), conn_name, overview=_ov)


# --- panels --------------------------------------------------------------------------------------------------

def _stored_line(ctx: Context, conn: Connection) -> str:
    """"120 log records stored; last fetched from Graph 5 min ago: 3 new records." in the operator's language."""
    stored = count(log_count(ctx, conn), "{n} log record stored", "{n} log records stored")
    fetched = last_fetch(ctx, conn)
    if not fetched:
        return _("{stored}.").format(stored=stored)
    ago = fmt.ago(datetime.fromisoformat(fetched["at"]))
    new = count(fetched["new"], "{n} new record", "{n} new records")
    if fetched["complete"]:
        return _("{stored}; last fetched from Graph {ago}: {new}.").format(stored=stored, ago=ago, new=new)
    return _("{stored}; last fetched from Graph {ago}: {new} (stopped early; the next fetch retries).").format(
        stored=stored, ago=ago, new=new)


def status_strip(ctx: Context, conn: Connection, ov: JobOverview) -> None:
    short, sentence = hist.next_cycle(ov)
    a, b, c = st.columns(3)
    status = job_status_text(ov.status) if ov.status else None
    a.metric(_("Job status"), md_escape(status, empty=_("not read yet") if conn.entra else "—"),
             help=_("The provisioning job's status in Entra (as last read from Microsoft Graph)."))
    b.metric(_("Last cycle"), fmt.ago(ov.last_cycle_end) if ov.last_cycle_end else _("none yet"),
             help=fmt.fmt_time(ov.last_cycle_end) if ov.last_cycle_end else None)
    c.metric(_("Next cycle"), short, help=sentence)
    next_words = sentence[:1].lower() + sentence[1:] if language() == "en" else sentence
    st.caption(_("Next cycle: {sentence}").format(sentence=next_words) + " " + _stored_line(ctx, conn))


def alerts_strip(ctx: Context, conn: Connection, ov: JobOverview) -> None:
    for alert in current_alerts(ctx, conn, include_token=False, overview=ov):
        text = (f"**{md_escape(alert.title)}** — {md_escape(alert.detail, limit=1000)}\n\n"
                f"{md_escape(alert.remedy, limit=1000)}")
        (st.error if alert.severity == "critical" else st.warning)(text, icon=":material/notification_important:")


def fetch_panel(ctx: Context, conn: Connection) -> None:
    if conn.entra is None:
        st.info(_("**Microsoft Graph is not configured for this connection**, so logs cannot be fetched "
                  "automatically. Add the tenant ID, client ID, client secret and service principal ID on "
                  "Connection & token > Microsoft Graph (the job ID is found for you; the app needs {logs} for "
                  "the logs and {job} for the job's status), or import a download from the Entra admin center "
                  "below (Provisioning logs > Download, JSON or CSV).").format(
                    logs=permissions_for("logs"), job=permissions_for("job")),
                icon=":material/cloud_off:")
        st.page_link("pages/connection.py", label=_("Configure Microsoft Graph"), icon=":material/settings:",
                     query_params={"tab": "Microsoft Graph"})
        return
    if st.button(_("Fetch new logs now"), key="sync_history.fetch", icon=":material/cloud_download:",
                 help=_("Reads the provisioning logs that are new since the last fetch and the job's status "
                        "from Microsoft Graph.")):
        with st.spinner(_("Fetching provisioning logs from Microsoft Graph…")):
            try:
                res = sync(ctx, conn)
            except Exception as exc:
                errors.log_exception(exc)
                errors.show_error(exc, what=_("fetching the provisioning logs"))
                return
        st.session_state[KEY_RESULT] = ("fetch", res.as_dict())
        st.rerun()  # redraw the status, alerts and charts with what was fetched


def import_panel(ctx: Context, conn: Connection) -> None:
    with st.expander(_("Import downloaded logs"), icon=":material/upload_file:",
                     expanded=st.session_state.get(KEY_RESULT, ("",))[0] == "import"):
        st.caption(_("From the Entra admin center: Enterprise applications > your 6clicks app > Provisioning "
                     "logs > Download. JSON, or the CSV bundle (select its three files together). Records "
                     "already stored are recognised and not stored twice."))
        files = st.file_uploader(_("Log files"), type=["json", "csv", "jsonl", "txt"], accept_multiple_files=True,
                                 key="sync_history.upload")
        if st.button(_("Import"), key="sync_history.import", disabled=not files, icon=":material/upload:"):
            res = import_files(ctx, conn, [(f.name, f.getvalue()) for f in files or []])
            st.session_state[KEY_RESULT] = ("import", res.as_dict())
            st.rerun()


def result_panel() -> None:
    got = st.session_state.get(KEY_RESULT)
    if not got:
        return
    what, res = got
    numbers = {"new": fmt_number(res["new"]), "known": fmt_number(res["already_known"]),
               "rejected": fmt_number(res["rejected"])}
    text = (_("Fetched: {new} new, {known} already known, {rejected} rejected.") if what == "fetch"
            else _("Imported: {new} new, {known} already known, {rejected} rejected.")).format(**numbers)
    (st.warning if res["rejected"] else st.success)(text, icon=":material/fact_check:")
    if res["rejected_examples"]:
        st.dataframe(plain_table(pd.DataFrame(res["rejected_examples"]).rename(
            columns={"where": _("Where"), "reason": _("Why")})),
                     hide_index=True, width="stretch")
    for w in res["warnings"]:  # they quote file names and record contents
        st.caption(md_escape(w, limit=1000))


# --- the time range ------------------------------------------------------------------------------------------

def _set_range(label: str) -> None:
    st.session_state[KEY_RANGE] = label


def range_picker(trouble: RecentTrouble | None) -> tuple[str, datetime | None]:
    """The time range: by default the smallest that shows the recent trouble (``job_health.choose_range``)."""
    default = choose_range(trouble, RANGES, DEFAULT_RANGE) if trouble is not None else DEFAULT_RANGE
    if KEY_RANGE not in st.session_state:
        st.session_state[KEY_RANGE] = default
    choice = st.segmented_control(_("Time range"), list(RANGES), key=KEY_RANGE, format_func=_) or default
    return choice, range_start(RANGES[choice])


def _hidden_lead(hidden: int, total: int) -> str:
    if hidden == total:
        return ngettext("The one failed record of the last 30 days is earlier than this range.",
                        "All {n} failed records of the last 30 days are earlier than this range.",
                        total).format(n=fmt_number(total))
    return ngettext("{hidden} of the {total} failed records of the last 30 days is earlier than this range.",
                    "{hidden} of the {total} failed records of the last 30 days are earlier than this range.",
                    hidden).format(hidden=fmt_number(hidden), total=fmt_number(total))


def hidden_trouble_notice(trouble: RecentTrouble | None, choice: str, since: datetime | None) -> None:
    """When the chosen range starts after failures of the last 30 days: how many, the worst cycle, and a button
    that widens the range to show it."""
    if trouble is None or since is None:
        return
    hidden = trouble.failures_before(since)
    worst = trouble.worst(before=since)
    if not hidden or worst is None:
        return
    wider = range_showing(worst["start"], trouble.now, RANGES, "All")
    if wider == choice:
        return
    lead = _hidden_lead(hidden, trouble.failures)
    detail = ngettext("The worst cycle, {time}, had {failures} of {total} record failed ({error}).",
                      "The worst cycle, {time}, had {failures} of {total} records failed ({error}).",
                      worst["total"]).format(time=fmt.fmt_time(worst["start"]),
                                             failures=fmt_number(worst["failures"]),
                                             total=fmt_number(worst["total"]),
                                             error=md_escape(error_title(worst["error_code"])))
    box = st.container(border=True)
    left, right = box.columns([4, 1], vertical_alignment="center")
    left.markdown(f":orange-badge[:material/history: {_('earlier failures')}] **{lead}** {detail}")
    right.button(_("Show everything") if wider == "All" else _("Show {range}").format(range=_(wider)),
                 key="sync_history.widen", on_click=_set_range, args=(wider,), icon=":material/zoom_out_map:",
                 width="stretch")


def _empty_state(conn: Connection, choice: str, since: datetime | None) -> None:
    if conn.entra is None:
        st.info(_("**No provisioning logs yet.** Import a download from the Entra admin center above."),
                icon=":material/hourglass_empty:")
    elif since is not None:
        st.info(_("**No provisioning logs in the last {range}.** Fetch them now (button above), or import a "
                  "download from the Entra admin center.").format(range=_(choice)),
                icon=":material/hourglass_empty:")
    else:
        st.info(_("**No provisioning logs yet.** Fetch them now (button above), or import a download from the "
                  "Entra admin center."), icon=":material/hourglass_empty:")


def _totals_line(summary: LogSummary) -> str:
    """"30 records in 3 cycles, 8 failures; <first> – <last>." in the operator's language."""
    failed = int(summary.cycles["failure"].sum())
    return _("{records} in {cycles}, {failures}; {first} – {last}.").format(
        records=count(summary.total, "{n} record", "{n} records"),
        cycles=count(len(summary.cycles), "{n} cycle", "{n} cycles"),
        failures=count(failed, "{n} failure", "{n} failures"),
        first=fmt.fmt_time(summary.first), last=fmt.fmt_time(summary.last))


def directory_size_section(ctx: Context, conn: Connection, since: datetime | None) -> None:
    st.subheader(_("Directory size"), divider="gray")
    size = directory_size(ctx, conn)
    if since is not None and len(size):
        in_range = size["taken_at"] >= pd.Timestamp(since)
        size = size[in_range] if in_range.any() else size.tail(1)
    if size.empty:
        st.caption(_("No directory snapshots yet: refresh the directory on the Users page (or run "
                     "`python -m console snapshot` from cron)."))
        return
    st.plotly_chart(size_chart(size, since), width="stretch", key="chart.size")
    if len(size) == 1:
        taken = fmt.fmt_time(size["taken_at"].iloc[0])
        st.caption((_("One snapshot in this range (taken {time}): the chart fills in as the directory is refreshed "
                      "(sidebar Refresh, or `python -m console snapshot` hourly from cron).") if since is not None
                    else _("One snapshot so far (taken {time}): the chart fills in as the directory is refreshed "
                           "(sidebar Refresh, or `python -m console snapshot` hourly from cron).")).format(time=taken))


def main() -> None:
    conn = session.connection()
    ctx = session.context()
    st.title(_("Sync history"))
    banners.demo_label(conn)
    stamp = hist.version(conn)
    ov = trouble = None
    with errors.guard(_("reading the provisioning job")):
        ov = hist.job_overview(conn)
        status_strip(ctx, conn, ov)
    if ov is not None:
        with errors.guard(_("computing alerts")):
            alerts_strip(ctx, conn, ov)
        with errors.guard(_("looking for recent failures")):
            trouble = _trouble(str(session.data_dir()), conn.name, stamp, ov)
    left, right = st.columns([1, 2])
    with left, errors.guard(_("fetching the logs")):
        fetch_panel(ctx, conn)
    with right, errors.guard(_("importing the logs")):
        import_panel(ctx, conn)
    result_panel()

    choice, since = range_picker(trouble)
    summary = _summary(str(session.data_dir()), conn.name, since.isoformat() if since else None, stamp, language())
    periods = ov.quarantine_periods if ov is not None else pd.DataFrame(columns=["start", "end", "reason"])
    with errors.guard(_("looking for earlier failures")):
        hidden_trouble_notice(trouble, choice, since)
    if summary.total == 0:
        _empty_state(conn, choice, since)
    else:
        st.caption(_totals_line(summary))
        cycles = summary.cycles
        if trouble is not None and len(trouble.cycles):
            cycles = cycles.merge(trouble.cycles[["cycle_id", "error_code"]].rename(
                columns={"error_code": "top_error"}), on="cycle_id", how="left")
        st.plotly_chart(cycles_chart(cycles, periods, since), width="stretch", key="chart.cycles")
        a, b = st.columns(2)
        with a:
            st.plotly_chart(actions_chart(summary.by_action), width="stretch", key="chart.actions")
        with b:
            st.plotly_chart(failure_rate_chart(summary.cycles, periods, since), width="stretch",
                            key="chart.failure_rate")
        failures_panel(summary)
    directory_size_section(ctx, conn, since)
    if summary.total:
        selected = None
        with errors.guard(_("reading the log records")):
            selected = log_table(ctx, conn, since, summary)
        if selected is not None:
            with errors.guard(_("reading the record")):
                record_details(ctx, conn, selected)


shell.run_page(main, _("showing the sync history"))
