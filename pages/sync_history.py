"""Sync history: what every Entra provisioning cycle did, what failed and why, how the directory changed.

Thin: every number comes from console.entra_logs / console.job_health / console.snapshots / console.alerts.
Times are shown in the operator's time zone (converted before plotting).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import _ui as ui

RANGES = {"24 hours": timedelta(hours=24), "7 days": timedelta(days=7), "30 days": timedelta(days=30), "All": None}
STATUS_COLOURS = {"success": "#2e7d32", "failure": "#c62828", "skipped": "#9e9e9e", "warning": "#f9a825"}
KEY_RANGE = "sync_history.range"
KEY_RESULT = "sync_history.last_result"
KEY_RECORD = "sync_history.record"


# --- data (cached by a cheap version of the stored logs) ----------------------------------------------------

def _version(ctx: Any, conn_name: str) -> tuple:
    from console.entra_logs import history_version

    return history_version(ctx, conn_name)


@st.cache_data(show_spinner=False, ttl=300, max_entries=32)
def _summary(data_dir: str, conn_name: str, since_iso: str | None, version: tuple) -> Any:
    from console.entra_logs import summarise

    return summarise(ui.context(), conn_name, since=datetime.fromisoformat(since_iso) if since_iso else None)


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def _overview(data_dir: str, conn_name: str, has_graph: bool, version: tuple) -> Any:
    from console.job_health import job_overview

    ov = job_overview(ui.context(), conn_name)
    ov.has_graph = has_graph
    return ov


def _local_naive(series: pd.Series) -> pd.Series:
    """UTC timestamps -> the operator's wall-clock time (plotly draws tz-aware values as UTC)."""
    s = pd.to_datetime(series, utc=True)
    return s.dt.tz_convert(ui.operator_zone()).dt.tz_localize(None)


def _iso_list(series: pd.Series) -> list[str]:
    return [t.isoformat() for t in _local_naive(series)]


# --- charts --------------------------------------------------------------------------------------------------

def _shade_quarantine(fig: go.Figure, periods: pd.DataFrame, lo: datetime | None, now: datetime) -> None:
    for row in periods.itertuples(index=False):
        start = pd.Timestamp(row.start)
        end = pd.Timestamp(row.end) if pd.notna(row.end) else pd.Timestamp(now)
        if lo is not None and end < pd.Timestamp(lo):
            continue
        x0, x1 = _iso_list(pd.Series([start, end]))
        fig.add_vrect(x0=x0, x1=x1, fillcolor="#c62828", opacity=0.12, line_width=0,
                      annotation_text=f"quarantine: {ui.plot_text(row.reason, empty='unknown')}",
                      annotation_position="top left")


def cycles_chart(cycles: pd.DataFrame, periods: pd.DataFrame, lo: datetime | None) -> go.Figure:
    fig = go.Figure()
    x = _iso_list(cycles["start"])
    for status in ("success", "failure", "skipped", "warning"):
        if status in cycles and int(cycles[status].sum()):
            fig.add_bar(name=status, x=x, y=cycles[status].astype(int).tolist(),
                        marker_color=STATUS_COLOURS[status],
                        customdata=[ui.plot_text(c) for c in cycles["cycle_id"]],
                        hovertemplate="%{customdata}<br>%{y} " + status)
    _shade_quarantine(fig, periods, lo, datetime.now(UTC))
    fig.update_layout(barmode="stack", title="Cycles over time by outcome", xaxis_title=f"cycle start "
                      f"({ui.operator_zone()})", yaxis_title="records", legend_title="outcome", height=360,
                      margin={"t": 50, "b": 40})
    return fig


def failure_rate_chart(cycles: pd.DataFrame, periods: pd.DataFrame, lo: datetime | None) -> go.Figure:
    from console.job_health import SPIKE_WINDOW

    c = cycles[cycles["total"] > 0]
    rate = (c["failure_rate"] * 100).round(2)
    median = rate.shift(1).rolling(SPIKE_WINDOW, min_periods=3).median()
    fig = go.Figure()
    x = _iso_list(c["start"])
    fig.add_scatter(name="failure rate %", x=x, y=rate.tolist(), mode="lines+markers", line_color="#c62828")
    fig.add_scatter(name="trailing median %", x=x, y=[None if pd.isna(v) else float(v) for v in median],
                    mode="lines", line={"dash": "dot", "color": "#616161"})
    _shade_quarantine(fig, periods, lo, datetime.now(UTC))
    fig.update_layout(title="Failure rate per cycle", yaxis_title="% of records failed", height=320,
                      margin={"t": 50, "b": 40})
    return fig


def actions_chart(by_action: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    actions = by_action.groupby("action")["count"].sum().sort_values(ascending=False).index.tolist()
    # unknown actions and statuses are kept as the log says them: Plotly labels read HTML, so escape them
    for status in sorted(by_action["status"].unique(), key=lambda s: list(STATUS_COLOURS).index(s)
                         if s in STATUS_COLOURS else 9):
        part = by_action[by_action["status"] == status].set_index("action")["count"]
        fig.add_bar(name=ui.plot_text(status), x=[ui.plot_text(a) for a in actions],
                    y=[int(part.get(a, 0)) for a in actions], marker_color=STATUS_COLOURS.get(status))
    fig.update_layout(barmode="stack", title="Actions by type", yaxis_title="records", height=320,
                      margin={"t": 50, "b": 40})
    return fig


def errors_chart(by_error: pd.DataFrame) -> go.Figure:
    top = by_error.head(15).iloc[::-1]
    fig = go.Figure(go.Bar(x=top["count"].astype(int).tolist(), y=[ui.plot_text(c) for c in top["error_code"]],
                           orientation="h", marker_color="#c62828",
                           customdata=[ui.plot_text(e, limit=300) for e in top["explanation"]],
                           hovertemplate="%{y}: %{x}<br>%{customdata}<extra></extra>"))
    fig.update_layout(title="Failures by error code", xaxis_title="records", height=max(260, 40 + 28 * len(top)),
                      margin={"t": 50, "b": 40, "l": 10})
    return fig


def size_chart(size: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    x = _iso_list(size["taken_at"])
    for col, label in (("user_count", "users"), ("active_users", "active users"), ("group_count", "groups"),
                       ("role_count", "roles")):
        fig.add_scatter(name=label, x=x, y=size[col].astype(int).tolist(), mode="lines+markers")
    fig.update_layout(title="Directory size over time (from snapshots)", yaxis_title="count", height=320,
                      margin={"t": 50, "b": 40})
    return fig


# --- panels --------------------------------------------------------------------------------------------------

def _until(when: datetime | None) -> str:
    """A short "in 25 min" / "45 min ago" for the metric (the full local time is in its help)."""
    if when is None:
        return "—"
    minutes = int((when - datetime.now(UTC)).total_seconds() // 60)
    if minutes >= 0:
        return f"in {minutes} min" if minutes < 120 else f"in {minutes // 60} h"
    return f"{-minutes} min ago" if -minutes < 120 else f"{-minutes // 60} h ago"


def status_strip(ctx: Any, conn: Any, ov: Any) -> None:
    from console.entra_logs import last_fetch, log_count

    a, b, c, d = st.columns(4)
    a.metric("Job status", ui.md_escape(ov.status, empty="not read yet" if conn.entra else "—"))
    b.metric("Last cycle", ui.ago(ov.last_cycle_end) if ov.last_cycle_end else "none yet",
             help=ui.fmt_time(ov.last_cycle_end) if ov.last_cycle_end else None)
    c.metric("Next cycle expected", _until(ov.next_expected), help=ui.fmt_time(ov.next_expected)
             if ov.next_expected else None, delta="overdue" if ov.overdue else None,
             delta_color="inverse" if ov.overdue else "normal")
    d.metric("Log records stored", f"{log_count(ctx, conn):,}")
    fetched = last_fetch(ctx, conn)
    if fetched:
        st.caption(f"Last fetched from Graph {ui.ago(datetime.fromisoformat(fetched['at']))}: {fetched['new']:,} new"
                   + ("" if fetched["complete"] else " (stopped early; the next fetch retries)"))


def alerts_strip(ctx: Any, conn: Any, ov: Any) -> None:
    from console.alerts import current_alerts

    for alert in current_alerts(ctx, conn, include_token=False, overview=ov):
        text = (f"**{ui.md_escape(alert.title)}** — {ui.md_escape(alert.detail, limit=1000)}\n\n"
                f"{ui.md_escape(alert.remedy, limit=1000)}")
        (st.error if alert.severity == "critical" else st.warning)(text, icon=":material/notification_important:")


def fetch_panel(ctx: Any, conn: Any) -> None:
    from console.entra_logs import sync_logs

    if conn.entra is None:
        from console.graph import permissions_for

        st.info("**Microsoft Graph is not configured for this connection**, so logs cannot be fetched "
                "automatically. Add the tenant id, client id, client secret and service-principal id on "
                "Connection & token > Microsoft Graph (the job id is found for you; the app needs "
                f"{permissions_for('logs')} for the logs and {permissions_for('job')} for the job's status), or "
                "import a download from the Entra admin center below (Provisioning logs > Download, JSON or CSV).",
                icon=":material/cloud_off:")
        st.page_link("pages/connection.py", label="Configure Microsoft Graph", icon=":material/settings:",
                     query_params={"tab": "Microsoft Graph"})
        return
    if st.button("Fetch new logs now", key="sync_history.fetch", icon=":material/cloud_download:"):
        with st.spinner("Fetching provisioning logs from Microsoft Graph…"):
            try:
                res = sync_logs(ctx, conn)
            except Exception as exc:
                ui.log_exception(exc)
                ui.show_error(exc, what="fetching the provisioning logs")
                return
        st.session_state[KEY_RESULT] = ("fetch", res.as_dict())
        st.rerun()  # redraw the status, alerts and charts with what was fetched


def import_panel(ctx: Any, conn: Any) -> None:
    from console.entra_logs import import_files

    with st.expander("Import downloaded logs", icon=":material/upload_file:",
                     expanded=st.session_state.get(KEY_RESULT, ("",))[0] == "import"):
        st.caption("From the Entra admin center: Enterprise applications > your 6clicks app > Provisioning logs > "
                   "Download. JSON, or the CSV bundle (select its three files together). Records already stored "
                   "are recognised and not stored twice.")
        files = st.file_uploader("Log files", type=["json", "csv", "jsonl", "txt"], accept_multiple_files=True,
                                 key="sync_history.upload")
        if st.button("Import", key="sync_history.import", disabled=not files, icon=":material/upload:"):
            res = import_files(ctx, conn, [(f.name, f.getvalue()) for f in files or []])
            st.session_state[KEY_RESULT] = ("import", res.as_dict())
            st.rerun()


def result_panel() -> None:
    got = st.session_state.get(KEY_RESULT)
    if not got:
        return
    what, res = got
    text = (f"{'Fetched' if what == 'fetch' else 'Imported'}: {res['new']:,} new, {res['already_known']:,} already "
            f"known, {res['rejected']:,} rejected.")
    (st.warning if res["rejected"] else st.success)(text, icon=":material/fact_check:")
    if res["rejected_examples"]:
        st.dataframe(ui.plain_table(pd.DataFrame(res["rejected_examples"]).rename(
            columns={"where": "Where", "reason": "Why"})),
                     hide_index=True, width="stretch")
    for w in res["warnings"]:  # they quote file names and record contents
        st.caption(ui.md_escape(w, limit=1000))


def log_table(ctx: Any, conn: Any, since: datetime | None, summary: Any) -> None:
    from console.entra_logs import get_record, query_logs, record_steps

    st.subheader("Log records", divider="gray")
    f1, f2, f3, f4, f5 = st.columns([3, 2, 2, 3, 3])
    identity = f1.text_input("Identity (name or id)", key="sync_history.f_identity")
    # the choices are what occurs in the time range (from the cached summary, not another scan)
    actions = sorted(a for a in summary.by_action["action"].unique() if a != "unknown")
    statuses = sorted(s for s in summary.by_action["status"].unique() if s != "unknown")
    codes = sorted(c for c in summary.by_error["error_code"] if c != "(no error code)")
    # option texts are plain (Streamlit shows selectbox options verbatim); ui.plain bounds and neutralises them
    action = f2.selectbox("Action", ["(any)", *actions], key="sync_history.f_action", format_func=ui.plain)
    status = f3.selectbox("Status", ["(any)", *statuses], key="sync_history.f_status", format_func=ui.plain)
    code = f4.selectbox("Error code", ["(any)", *codes], key="sync_history.f_code", format_func=ui.plain)
    cycle = f5.text_input("Cycle id", key="sync_history.f_cycle")
    rows = query_logs(ctx, conn, identity=identity or None, action=None if action == "(any)" else action,
                      status=None if status == "(any)" else status, error_code=None if code == "(any)" else code,
                      cycle_id=cycle.strip() or None, since=since, limit=500)
    if rows.empty:
        st.caption("No records match these filters.")
        return
    view = rows.copy()
    view["time"] = _local_naive(view["time"])
    st.dataframe(ui.plain_table(view[["time", "action", "status", "error_code", "identity_type", "source_name",
                                      "target_name", "cycle_id", "id"]]), hide_index=True, width="stretch", height=360,
                 column_config={"time": st.column_config.DatetimeColumn(f"Time ({ui.operator_zone()})",
                                                                        format="D MMM YYYY, HH:mm:ss"),
                                "action": "Action", "status": "Status", "error_code": "Error code",
                                "identity_type": "Type", "source_name": "Source (Entra)",
                                "target_name": "Target (6clicks)", "cycle_id": "Cycle", "id": "Record id"})
    st.caption(f"Showing the newest {len(rows):,} matching records (at most 500).")
    ui.csv_download(f"Download these {len(rows):,} records (CSV, times in UTC)", rows,
                    f"{conn.name}-provisioning-logs", key="sync_history.csv")
    labels = {r.id: f"{_local_naive(pd.Series([r.time])).iloc[0]:%d %b %H:%M:%S} · {r.action} · {r.status} · "
                    f"{r.source_name or r.target_name or r.id}" for r in rows.itertuples()}
    chosen = st.selectbox("Record details", ["(choose a record)", *labels],
                          format_func=lambda k: ui.plain(labels.get(k, k)), key=KEY_RECORD)
    if chosen and chosen != "(choose a record)":
        record = get_record(ctx, conn, chosen)
        steps, props = record_steps(record)
        from console.text import as_text

        match = rows.loc[rows["id"] == chosen, "error_code"]
        error_code = as_text(match.iloc[0]) if len(match) else None
        if error_code:
            from console.job_health import explain_error

            why, fix = explain_error(error_code)
            st.error(f"**{ui.md_escape(error_code)}** — {ui.md_escape(why, limit=1000)}\n\n"
                     f"Suggested fix: {ui.md_escape(fix, limit=1000)}", icon=":material/report:")
        left, right = st.columns(2)
        left.markdown("**Steps**")
        left.dataframe(ui.plain_table(pd.DataFrame(steps, columns=["name", "type", "status", "description",
                                                                   "details"])),
                       hide_index=True, width="stretch")
        right.markdown("**Modified properties**")
        right.dataframe(ui.plain_table(pd.DataFrame(props, columns=["property", "old", "new"])), hide_index=True,
                        width="stretch")


def main() -> None:
    from console.job_health import explain_error  # noqa: F401  (fails early if the module is missing)
    from console.snapshots import directory_size

    conn = ui.connection()
    ctx = ui.context()
    st.title("Sync history")
    ui.demo_label(conn)
    version = _version(ctx, conn.name)
    ov = None
    with ui.guard("reading the provisioning job"):
        ov = _overview(str(ui.data_dir()), conn.name, conn.entra is not None, version)
        status_strip(ctx, conn, ov)
    if ov is not None:
        with ui.guard("computing alerts"):
            alerts_strip(ctx, conn, ov)
    left, right = st.columns([1, 2])
    with left, ui.guard("fetching the logs"):
        fetch_panel(ctx, conn)
    with right, ui.guard("importing the logs"):
        import_panel(ctx, conn)
    result_panel()

    choice = st.segmented_control("Time range", list(RANGES), default="7 days", key=KEY_RANGE) or "7 days"
    span = RANGES[choice]
    since = datetime.now(UTC) - span if span else None
    summary = _summary(str(ui.data_dir()), conn.name, since.replace(second=0, microsecond=0).isoformat()
                       if since else None, version)
    periods = ov.quarantine_periods if ov is not None else pd.DataFrame(columns=["start", "end", "reason"])
    if summary.total == 0:
        if conn.entra is not None:
            st.info(f"**No provisioning logs {'in the last ' + choice if span else 'yet'}.** Fetch them now "
                    "(button above), or import a download from the Entra admin center.",
                    icon=":material/hourglass_empty:")
        else:
            st.info("**No provisioning logs yet.** Import a download from the Entra admin center above.",
                    icon=":material/hourglass_empty:")
    else:
        st.caption(f"{summary.total:,} records in {len(summary.cycles):,} cycles, "
                   f"{ui.fmt_time(summary.first)} – {ui.fmt_time(summary.last)}.")
        st.plotly_chart(cycles_chart(summary.cycles, periods, since), width="stretch", key="chart.cycles")
        a, b = st.columns(2)
        with a:
            st.plotly_chart(actions_chart(summary.by_action), width="stretch", key="chart.actions")
        with b:
            st.plotly_chart(failure_rate_chart(summary.cycles, periods, since), width="stretch",
                            key="chart.failure_rate")
        st.subheader("Failures by error code", divider="gray")
        if summary.by_error.empty:
            st.success("No failures in this period.", icon=":material/check_circle:")
        else:
            st.plotly_chart(errors_chart(summary.by_error), width="stretch", key="chart.errors")
            table = summary.by_error.copy()
            table["last_seen"] = _local_naive(table["last_seen"])
            st.dataframe(ui.plain_table(table[["error_code", "count", "last_seen", "explanation", "fix"]]),
                         hide_index=True,
                         width="stretch", column_config={
                             "error_code": "Error code", "count": "Records",
                             "last_seen": st.column_config.DatetimeColumn("Last seen", format="D MMM, HH:mm"),
                             "explanation": st.column_config.TextColumn("What it means", width="large"),
                             "fix": st.column_config.TextColumn("Suggested fix", width="large")})
    st.subheader("Directory size", divider="gray")
    size = directory_size(ctx, conn)
    if since is not None and len(size):
        size = size[size["taken_at"] >= pd.Timestamp(since)] if (size["taken_at"] >= pd.Timestamp(since)).any() \
            else size.tail(1)
    if size.empty:
        st.caption("No directory snapshots yet: refresh the directory on the Users page (or run "
                   "`python -m console snapshot` from cron).")
    else:
        st.plotly_chart(size_chart(size), width="stretch", key="chart.size")
    if summary.total:
        with ui.guard("reading the log records"):
            log_table(ctx, conn, since, summary)


ui.run_page(main, "showing the sync history")
