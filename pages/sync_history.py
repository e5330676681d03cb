"""Sync history: what every Entra provisioning cycle did, what failed and why, how the directory changed.

Thin: every number comes from console.entra.logs / console.entra.health / console.directory (store, events) / console.notify.alerts /
console.timeline. The default time range is the smallest that shows the recent trouble (the worst failing
cycle, the latest one and the latest quarantine of the last 30 days); a chosen range that hides failures says
so, with a one-click way to see them. Selecting a log record opens its details (steps, modified properties,
the error code's meaning and fix) and links to the person or group it concerns. Times are shown in the
operator's time zone (converted before plotting).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from console.text import count
from pages import _history as hist
from pages import _ui as ui

RANGES = {"24 hours": timedelta(hours=24), "7 days": timedelta(days=7), "30 days": timedelta(days=30), "All": None}
DEFAULT_RANGE = "7 days"
STATUS_COLOURS = {"success": "#2e7d32", "failure": "#c62828", "skipped": "#9e9e9e", "warning": "#f9a825"}
KEY_RANGE = "sync_history.range"
KEY_RESULT = "sync_history.last_result"
KEY_TABLE = "sync_history.table_key"  # the log table's current widget key (tests set its selection through it)
F_IDENTITY, F_ACTION, F_STATUS = "sync_history.f_identity", "sync_history.f_action", "sync_history.f_status"
F_CODE, F_CYCLE = "sync_history.f_code", "sync_history.f_cycle"
STEP_WORDS = {"import": "Read from Entra", "scoping": "Scope check", "matching": "Looked up in 6clicks",
              "processing": "Decided", "referenceresolution": "Resolved references", "export": "Wrote to 6clicks"}
STATUS_BADGES = {"success": ":green-badge[:material/check: done]", "failure": ":red-badge[failed]",
                 "skipped": ":gray-badge[skipped]", "warning": ":orange-badge[warning]"}


# --- data (cached by a cheap version of the stored logs) ----------------------------------------------------

@st.cache_data(show_spinner=False, ttl=300, max_entries=32)
def _summary(data_dir: str, conn_name: str, since_iso: str | None, version: tuple) -> Any:
    from console.entra.logs import summarise

    return summarise(ui.context(), conn_name, since=datetime.fromisoformat(since_iso) if since_iso else None)


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def _trouble(data_dir: str, conn_name: str, version: tuple, _ov: Any) -> Any:
    from console.entra.health import recent_trouble

    return recent_trouble(ui.context(), conn_name, overview=_ov)


# --- charts --------------------------------------------------------------------------------------------------

def _shade_quarantine(fig: go.Figure, periods: pd.DataFrame, lo: datetime | None, now: datetime, *,
                      reason: bool = True) -> None:
    for row in periods.itertuples(index=False):
        start = pd.Timestamp(row.start)
        end = pd.Timestamp(row.end) if pd.notna(row.end) else pd.Timestamp(now)
        if lo is not None and end < pd.Timestamp(lo):
            continue
        if lo is not None and start < pd.Timestamp(lo):
            start = pd.Timestamp(lo)  # the shading starts where the chart does
        x0, x1 = hist.iso_list([start, end])
        fig.add_vrect(x0=x0, x1=x1, fillcolor="#c62828", opacity=0.12, line_width=0,
                      annotation_text=f"quarantine: {ui.plot_text(row.reason, empty='unknown')}" if reason
                      else "quarantine",
                      annotation_position="top left")


def cycles_chart(cycles: pd.DataFrame, periods: pd.DataFrame, lo: datetime | None) -> go.Figure:
    from console.entra.catalogue import error_title

    fig = go.Figure()
    x = hist.iso_list(cycles["start"])
    for status in ("success", "failure", "skipped", "warning"):
        if status in cycles and int(cycles[status].sum()):
            fig.add_bar(name=status, x=x, y=cycles[status].astype(int).tolist(),
                        marker_color=STATUS_COLOURS[status],
                        customdata=[ui.plot_text(c) for c in cycles["cycle_id"]],
                        hovertemplate="%{x|" + hist.HOVER_TIME + "}<br>cycle %{customdata}<br>%{y} " + status
                        + "<extra></extra>")
    failing = cycles[cycles["failure"] > 0] if "failure" in cycles else cycles.iloc[0:0]
    if len(failing):
        # thin bars hide a few failures among hundreds of cycles: mark every cycle that had any
        fig.add_scatter(name="cycles with failures", x=hist.iso_list(failing["start"]),
                        y=failing["total"].astype(int).tolist(), mode="markers",
                        marker={"symbol": "triangle-down", "size": 11, "color": STATUS_COLOURS["failure"]},
                        customdata=failing["failure"].astype(int).tolist(),
                        hovertemplate="%{x|" + hist.HOVER_TIME + "}<br>%{customdata} failed of %{y}<extra></extra>")
        worst = failing.sort_values(["failure", "start"], ascending=[False, False]).iloc[0]
        code = worst.get("top_error")
        fig.add_annotation(x=hist.iso_list([worst["start"]])[0], y=int(worst["total"]), ax=40, ay=-40,
                           text=f"worst: {int(worst['failure'])} of {int(worst['total'])} failed"
                                + (f" ({ui.plot_text(error_title(code))})" if isinstance(code, str) else ""),
                           showarrow=True, arrowhead=2, arrowcolor=STATUS_COLOURS["failure"],
                           font={"color": STATUS_COLOURS["failure"]}, bgcolor="rgba(255,255,255,0.85)")
    _shade_quarantine(fig, periods, lo, datetime.now(UTC))
    fig.update_layout(barmode="stack", title="Cycles over time by outcome", yaxis_title="records", height=380,
                      margin={"t": 50, "b": 40}, legend={"orientation": "h", "y": -0.3})
    fig.update_yaxes(rangemode="tozero")
    hist.time_axis(fig, cycles["start"], lo, title=f"cycle start ({ui.operator_zone()})")
    return fig


def failure_rate_chart(cycles: pd.DataFrame, periods: pd.DataFrame, lo: datetime | None) -> go.Figure:
    from console.entra.health import SPIKE_WINDOW

    c = cycles[cycles["total"] > 0]
    rate = (c["failure_rate"] * 100).round(2)
    median = rate.shift(1).rolling(SPIKE_WINDOW, min_periods=3).median()
    fig = go.Figure()
    x = hist.iso_list(c["start"])
    fig.add_scatter(name="failure rate %", x=x, y=rate.tolist(), mode="lines+markers", line_color="#c62828",
                    hovertemplate="%{x|" + hist.HOVER_TIME + "}<br>%{y}% failed<extra></extra>")
    fig.add_scatter(name="trailing median %", x=x, y=[None if pd.isna(v) else float(v) for v in median],
                    mode="lines", line={"dash": "dot", "color": "#616161"}, hoverinfo="skip")
    _shade_quarantine(fig, periods, lo, datetime.now(UTC), reason=False)
    top = float(rate.max()) if len(rate) else 0.0
    # the axis ends just above the highest rate (at most 100 %), not at an automatic margin past the data
    fig.update_yaxes(range=[0, round(min(100.0, max(5.0, top * 1.1)), 1)], ticksuffix=" %")
    fig.update_layout(title="Failure rate per cycle", yaxis_title="records failed", height=320,
                      margin={"t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    hist.time_axis(fig, c["start"], lo)
    return fig


def actions_chart(by_action: pd.DataFrame) -> go.Figure:
    from console.timeline import action_label

    fig = go.Figure()
    actions = by_action.groupby("action")["count"].sum().sort_values(ascending=False).index.tolist()
    # unknown actions and statuses are kept as the log says them: Plotly labels read HTML, so escape them
    for status in sorted(by_action["status"].unique(), key=lambda s: list(STATUS_COLOURS).index(s)
                         if s in STATUS_COLOURS else 9):
        part = by_action[by_action["status"] == status].set_index("action")["count"]
        fig.add_bar(name=ui.plot_text(status), x=[ui.plot_text(action_label(a)) for a in actions],
                    y=[int(part.get(a, 0)) for a in actions], marker_color=STATUS_COLOURS.get(status))
    fig.update_layout(barmode="stack", title="Actions by type", yaxis_title="records", height=320,
                      margin={"t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def size_chart(size: pd.DataFrame, since: datetime | None) -> go.Figure:
    fig = go.Figure()
    x = hist.iso_list(size["taken_at"])
    for col, label in (("user_count", "users"), ("active_users", "active users"), ("group_count", "groups"),
                       ("role_count", "roles")):
        fig.add_scatter(name=label, x=x, y=size[col].astype(int).tolist(), mode="lines+markers",
                        hovertemplate="%{x|" + hist.HOVER_TIME + "}<br>%{y:,} " + label + "<extra></extra>")
    fig.update_layout(title="Directory size over time (from snapshots)", yaxis_title="count", height=320,
                      margin={"t": 50, "b": 40})
    fig.update_yaxes(rangemode="tozero")
    hist.time_axis(fig, size["taken_at"], since, title=f"snapshot taken ({ui.operator_zone()})")
    return fig


# --- panels --------------------------------------------------------------------------------------------------

def status_strip(ctx: Any, conn: Any, ov: Any) -> None:
    from console.entra.logs import last_fetch, log_count

    short, sentence = hist.next_cycle(ov)
    a, b, c = st.columns(3)
    a.metric("Job status", ui.md_escape(ov.status, empty="not read yet" if conn.entra else "—"))
    b.metric("Last cycle", ui.ago(ov.last_cycle_end) if ov.last_cycle_end else "none yet",
             help=ui.fmt_time(ov.last_cycle_end) if ov.last_cycle_end else None)
    c.metric("Next cycle", short, help=sentence)
    fetched = last_fetch(ctx, conn)
    parts = [f"Next cycle: {sentence[:1].lower() + sentence[1:]}", f"{count(log_count(ctx, conn), 'log record')} "
             "stored" + (f"; last fetched from Graph {ui.ago(datetime.fromisoformat(fetched['at']))}: "
                         f"{count(fetched['new'], 'new record')}"
                         + ("" if fetched["complete"] else " (stopped early; the next fetch retries)")
                         if fetched else "") + "."]
    st.caption(" ".join(parts))


def alerts_strip(ctx: Any, conn: Any, ov: Any) -> None:
    from console.notify.alerts import current_alerts

    for alert in current_alerts(ctx, conn, include_token=False, overview=ov):
        text = (f"**{ui.md_escape(alert.title)}** — {ui.md_escape(alert.detail, limit=1000)}\n\n"
                f"{ui.md_escape(alert.remedy, limit=1000)}")
        (st.error if alert.severity == "critical" else st.warning)(text, icon=":material/notification_important:")


def fetch_panel(ctx: Any, conn: Any) -> None:
    from console.entra.sync import sync

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
                res = sync(ctx, conn)
            except Exception as exc:
                ui.log_exception(exc)
                ui.show_error(exc, what="fetching the provisioning logs")
                return
        st.session_state[KEY_RESULT] = ("fetch", res.as_dict())
        st.rerun()  # redraw the status, alerts and charts with what was fetched


def import_panel(ctx: Any, conn: Any) -> None:
    from console.entra.logs import import_files

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


# --- the time range ------------------------------------------------------------------------------------------

def _set_range(label: str) -> None:
    st.session_state[KEY_RANGE] = label


def range_picker(trouble: Any) -> tuple[str, datetime | None]:
    """The time range: by default the smallest that shows the recent trouble (``job_health.choose_range``)."""
    from console.entra.health import choose_range
    from console.entra.logs import range_start

    default = choose_range(trouble, RANGES, DEFAULT_RANGE) if trouble is not None else DEFAULT_RANGE
    if KEY_RANGE not in st.session_state:
        st.session_state[KEY_RANGE] = default
    choice = st.segmented_control("Time range", list(RANGES), key=KEY_RANGE) or default
    return choice, range_start(RANGES[choice])


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title(code: str | None) -> str:
    """An error code's short name, capitalised (an unknown code is shown exactly as the log says it)."""
    from console.entra.catalogue import error_title

    title = error_title(code)
    return title if title == code else _capital(title)


def hidden_trouble_notice(trouble: Any, choice: str, since: datetime | None) -> None:
    """When the chosen range starts after failures of the last 30 days: how many, the worst cycle, and a button
    that widens the range to show it."""
    from console.entra.catalogue import error_title
    from console.entra.health import range_showing

    if trouble is None or since is None:
        return
    hidden = trouble.failures_before(since)
    worst = trouble.worst(before=since)
    if not hidden or worst is None:
        return
    wider = range_showing(worst["start"], trouble.now, RANGES, "All")
    if wider == choice:
        return
    total = trouble.failures
    if hidden == total:
        lead = ("The one failed record" if total == 1 else f"All {count(total, 'failed record')}") + \
            f" of the last 30 days {'is' if total == 1 else 'are'} earlier than this range."
    else:
        lead = f"{hidden:,} of the {count(total, 'failed record')} of the last 30 days " \
               f"{'is' if hidden == 1 else 'are'} earlier than this range."
    box = st.container(border=True)
    left, right = box.columns([4, 1], vertical_alignment="center")
    left.markdown(f":orange-badge[:material/history: earlier failures] **{lead}** The worst cycle, {ui.fmt_time(worst['start'])}, had "
                  f"{worst['failures']:,} of {count(worst['total'], 'record')} failed "
                  f"({ui.md_escape(error_title(worst['error_code']))}).")
    right.button(f"Show {wider.lower() if wider != 'All' else 'everything'}", key="sync_history.widen",
                 on_click=_set_range, args=(wider,), icon=":material/zoom_out_map:", width="stretch")


# --- failures by error code ----------------------------------------------------------------------------------

def _show_code(code: str) -> None:
    st.session_state[F_CODE] = code
    st.session_state[F_STATUS] = "(any)"


def failures_panel(summary: Any) -> None:

    st.subheader("Failures by error code", divider="gray")
    if summary.by_error.empty:
        st.success("No failures in this period.", icon=":material/check_circle:")
        return
    for row in summary.by_error.head(15).itertuples(index=False):
        box = st.container(border=True)
        # the code comes from the logs (hostile until shown as text); the explanations are the console's
        box.markdown(f"**{ui.md_escape(_title(row.error_code))}** · {ui.md_escape(row.error_code)} · "
                     f"**{count(int(row.count), 'record')}**, the last {ui.fmt_time(row.last_seen)}\n\n"
                     f"**What it means:** {ui.md_escape(row.explanation, limit=1000)}\n\n"
                     f"**Suggested fix:** {ui.md_escape(row.fix, limit=1000)}")
        digest = hashlib.sha256(str(row.error_code).encode()).hexdigest()[:12]
        box.button(f"Show {'this record' if int(row.count) == 1 else 'these records'} in the log table",
                   key=f"sync_history.code.{digest}", on_click=_show_code, args=(row.error_code,),
                   type="tertiary", icon=":material/filter_list:")


# --- the log table and a record's details -----------------------------------------------------------------

def _filters(summary: Any) -> dict[str, Any]:
    from console.entra.catalogue import error_title
    from console.timeline import action_label

    # the choices are what occurs in the time range (from the cached summary, not another scan)
    actions = sorted(a for a in summary.by_action["action"].unique() if a != "unknown")
    statuses = sorted(s for s in summary.by_action["status"].unique() if s != "unknown")
    codes = sorted(c for c in summary.by_error["error_code"] if c != "(no error code)")
    for key, options in ((F_ACTION, actions), (F_STATUS, statuses), (F_CODE, codes)):
        if st.session_state.get(key) not in (None, "(any)", *options):
            st.session_state[key] = "(any)"  # a value from another range or connection
    a, b, c = st.columns([3, 2, 2])
    identity = a.text_input("Identity (name or id)", key=F_IDENTITY)
    # option texts are plain (Streamlit shows selectbox options verbatim); ui.plain bounds and neutralises them
    status = b.selectbox("Outcome", ["(any)", *statuses], key=F_STATUS, format_func=ui.plain)
    action = c.selectbox("Action", ["(any)", *actions], key=F_ACTION,
                         format_func=lambda v: ui.plain(action_label(v) if v != "(any)" else v))
    d, e = st.columns([4, 3])
    code = d.selectbox("Error", ["(any)", *codes], key=F_CODE,
                       format_func=lambda v: v if v == "(any)" else ui.plain(
                           v if error_title(v) == v else f"{error_title(v)} ({v})"))
    cycle = e.text_input("Cycle id (or its start)", key=F_CYCLE)
    return {"identity": identity.strip() or None, "action": None if action == "(any)" else action,
            "status": None if status == "(any)" else status, "error_code": None if code == "(any)" else code,
            "cycle_id": cycle.strip() or None}


def log_table(ctx: Any, conn: Any, since: datetime | None, summary: Any) -> pd.Series | None:
    """The filtered records (newest 500) with one sentence each; returns the selected record's row."""
    from console.entra.logs import query_logs
    from console.timeline import record_sentence, short_cycle

    st.subheader("Log records", divider="gray")
    chosen = _filters(summary)
    rows = query_logs(ctx, conn, since=since, limit=500, **chosen)
    if rows.empty:
        st.caption("No records match these filters.")
        return None
    names = rows["source_name"].where(rows["identity_type"].astype("string").str.lower() == "user",
                                      rows["target_name"].fillna(rows["source_name"]))
    names = names.fillna(rows["target_name"])
    view = pd.DataFrame({
        "time": hist.local_naive(rows["time"]).to_numpy(),
        "what": [record_sentence(r.action, r.status, r.identity_type, n, error_code=r.error_code, meaning=False)
                 for r, n in zip(rows.itertuples(index=False), names, strict=True)],
        "status": rows["status"].fillna("unknown").to_numpy(),
        "cycle": [short_cycle(c) for c in rows["cycle_id"]], "id": rows["id"].to_numpy()})
    # a new key per filter set, so a selection never points at a row of another view
    table_key = "sync_history.table." + hashlib.sha256(repr((sorted(chosen.items()), since)).encode()).hexdigest()[:12]
    st.session_state[KEY_TABLE] = table_key
    event = st.dataframe(
        ui.plain_table(view), key=table_key, hide_index=True, width="stretch", height=390, on_select="rerun",
        selection_mode="single-row", column_order=["time", "what", "status", "cycle"],
        column_config={"time": st.column_config.DatetimeColumn(f"Time ({ui.operator_zone()})",
                                                               format="DD MMM YYYY HH:mm", width=150),
                       "what": st.column_config.TextColumn("What happened", width="large"),
                       "status": st.column_config.TextColumn("Outcome", width=80),
                       "cycle": st.column_config.TextColumn("Cycle", width=90,
                                                            help="The start of the provisioning cycle's id")})
    st.caption(f"Showing the newest {count(len(rows), 'matching record')} (at most 500). Select a record to "
               "see its steps, what changed, and the person or group it concerns.")
    ui.csv_download(f"Download these {count(len(rows), 'record')} (CSV, times in UTC)", rows,
                    f"{conn.name}-provisioning-logs", key="sync_history.csv")
    picked = list(event.selection.rows) if event is not None else []
    if picked and 0 <= picked[0] < len(rows):
        return rows.iloc[picked[0]]
    return None


def _filter_cycle(cycle_id: str) -> None:
    for key in (F_IDENTITY, F_ACTION, F_STATUS, F_CODE):
        st.session_state.pop(key, None)
    st.session_state[F_CYCLE] = cycle_id


def _open_target(target: Any) -> None:
    """Open the person (Users page) or group (Groups & roles page) a record concerns, by the pages' documented
    session keys."""
    if target.kind == "user":
        st.session_state[ui.KEY_USER_DETAIL] = target.scim_id
        st.session_state[hist.KEY_OPEN_HISTORY] = target.scim_id  # the Users page opens on their History
        st.switch_page("pages/users.py")
    st.session_state[ui.KEY_GROUP_DETAIL] = target.scim_id
    st.switch_page("pages/groups.py")


def _details_text(details: Any) -> str | None:
    """A step's details (Entra sends a JSON object of name/value pairs) as "name: value · name: value"; any
    other text as it is."""
    from console.text import as_text

    text = as_text(details)
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if not isinstance(parsed, dict):
        return text
    pairs = []
    for key, value in parsed.items():
        shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else as_text(value)
        if shown:
            pairs.append(f"{key}: {shown}")
    return " · ".join(pairs) or None


def _steps(box: Any, steps: list[dict]) -> None:
    """The record's steps, one paragraph each (numbered in bold, not a Markdown list), their details below."""
    for i, s in enumerate(steps, 1):
        kind = str(s.get("type") or "").lower()
        badge = STATUS_BADGES.get(str(s.get("status") or "").lower(), ":gray-badge[no status]")
        box.markdown(f"**{i}.** {badge} **{ui.md_escape(STEP_WORDS.get(kind, s.get('type') or s.get('name') or 'step'))}**"
                     f" — {ui.md_escape(s.get('description'), limit=600)}")
        details = _details_text(s.get("details"))
        if details:
            box.caption(ui.md_escape(details, limit=400))


def record_details(ctx: Any, conn: Any, row: pd.Series) -> None:
    from console.entra.catalogue import error_category_text, explain_error
    from console.entra.logs import get_record, record_steps
    from console.text import as_text
    from console.timeline import property_words, record_sentence, resolve_target, short_cycle

    record = get_record(ctx, conn, str(row["id"]))
    steps, props = record_steps(record)
    is_user = (as_text(row["identity_type"]) or "").lower() != "group"
    name = row["source_name"] if is_user and as_text(row["source_name"]) else (row["target_name"] or
                                                                              row["source_name"])
    box = st.container(border=True)
    box.subheader(ui.md_escape(record_sentence(row["action"], row["status"], row["identity_type"], name,
                                               meaning=False)), divider="gray")
    cycle = as_text(row["cycle_id"])
    box.caption(" · ".join([ui.fmt_time(row["time"]),
                            f"provisioning cycle {ui.md_escape(short_cycle(cycle))}",
                            f"change {ui.md_escape(short_cycle(row['change_id']))}",
                            f"record {ui.md_escape(row['id'], limit=80)}"]))
    info = {str(k).lower(): v for k, v in (record.get("provisioningStatusInfo") or record.get("statusInfo") or
                                           {}).items()} if isinstance(record, dict) else {}
    error = {str(k).lower(): v for k, v in (info.get("errorinformation") or {}).items()} \
        if isinstance(info.get("errorinformation"), dict) else {}
    code = as_text(row["error_code"])
    if code or (as_text(row["status"]) or "") == "failure":
        why, fix = explain_error(code)
        text = (f"**{ui.md_escape(_title(code))}**" + (f" · {ui.md_escape(code)}" if code else "")
                + f"\n\n**What it means:** {ui.md_escape(why, limit=1000)}\n\n"
                f"**Suggested fix:** {ui.md_escape(fix, limit=1000)}")
        if as_text(error.get("reason")):
            text += f"\n\n**Entra's reason:** {ui.md_escape(error.get('reason'), limit=1000)}"
        if as_text(error.get("recommendedaction")):
            text += f"\n\n**Entra recommends:** {ui.md_escape(error.get('recommendedaction'), limit=1000)}"
        category = error_category_text(as_text(error.get("errorcategory")))
        if category:
            text += f"\n\n**Kind of failure:** {ui.md_escape(category)}"
        box.error(text, icon=":material/report:")
    d = ui.directory(conn)
    target = resolve_target(row, d.users if d is not None else None, d.groups if d is not None else None, record)
    left, right = box.columns([3, 2], vertical_alignment="center")
    if target.scim_id:
        what = "person" if target.kind == "user" else "group"
        left.markdown(f"**Concerns:** {ui.md_escape(target.label)} ({what} in 6clicks, found by "
                      f"{ui.md_escape(target.matched_by)})")
        if right.button(f"Open {ui.md_escape(target.label, limit=60)}" + (" — details and history"
                                                                          if target.kind == "user" else ""),
                        key="sync_history.open_target", type="primary", icon=":material/open_in_new:"):
            _open_target(target)
    else:
        left.markdown(f"**Concerns:** {ui.md_escape(target.label)} — not in the latest directory snapshot "
                      f"({'never created in 6clicks, or deleted since' if target.kind == 'user' else 'not created, or deleted since'}).")
    if cycle:
        right.button("Show this cycle's records", key="sync_history.this_cycle", on_click=_filter_cycle,
                     args=(cycle,), icon=":material/filter_list:")
    box.markdown("**Steps**")
    if steps:
        _steps(box, steps)
    else:
        box.markdown("_No steps recorded._")
    if props:
        box.markdown("**What changed**")
        box.dataframe(ui.plain_table(pd.DataFrame(
            [{"property": property_words(p["property"]), "before": p["old"], "after": p["new"]} for p in props])),
            hide_index=True, width="stretch",
            column_config={"property": "Property", "before": "Before", "after": "After"})
    with box.expander("The record as Entra sent it (JSON)", icon=":material/data_object:"):
        st.json(record, expanded=False)


def main() -> None:
    from console.directory.store import directory_size

    conn = ui.connection()
    ctx = ui.context()
    st.title("Sync history")
    ui.demo_label(conn)
    stamp = hist.version(conn)
    ov = trouble = None
    with ui.guard("reading the provisioning job"):
        ov = hist.job_overview(conn)
        status_strip(ctx, conn, ov)
    if ov is not None:
        with ui.guard("computing alerts"):
            alerts_strip(ctx, conn, ov)
        with ui.guard("looking for recent failures"):
            trouble = _trouble(str(ui.data_dir()), conn.name, stamp, ov)
    left, right = st.columns([1, 2])
    with left, ui.guard("fetching the logs"):
        fetch_panel(ctx, conn)
    with right, ui.guard("importing the logs"):
        import_panel(ctx, conn)
    result_panel()

    choice, since = range_picker(trouble)
    summary = _summary(str(ui.data_dir()), conn.name, since.isoformat() if since else None, stamp)
    periods = ov.quarantine_periods if ov is not None else pd.DataFrame(columns=["start", "end", "reason"])
    with ui.guard("looking for earlier failures"):
        hidden_trouble_notice(trouble, choice, since)
    if summary.total == 0:
        if conn.entra is not None:
            st.info(f"**No provisioning logs {'in the last ' + choice if since else 'yet'}.** Fetch them now "
                    "(button above), or import a download from the Entra admin center.",
                    icon=":material/hourglass_empty:")
        else:
            st.info("**No provisioning logs yet.** Import a download from the Entra admin center above.",
                    icon=":material/hourglass_empty:")
    else:
        failed = int(summary.cycles["failure"].sum())
        st.caption(f"{count(summary.total, 'record')} in {count(len(summary.cycles), 'cycle')}, "
                   f"{count(failed, 'failure')}; {ui.fmt_time(summary.first)} – {ui.fmt_time(summary.last)}.")
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
    st.subheader("Directory size", divider="gray")
    size = directory_size(ctx, conn)
    if since is not None and len(size):
        in_range = size["taken_at"] >= pd.Timestamp(since)
        size = size[in_range] if in_range.any() else size.tail(1)
    if size.empty:
        st.caption("No directory snapshots yet: refresh the directory on the Users page (or run "
                   "`python -m console snapshot` from cron).")
    else:
        st.plotly_chart(size_chart(size, since), width="stretch", key="chart.size")
        if len(size) == 1:
            st.caption(f"One snapshot {'in this range' if since is not None else 'so far'} (taken "
                       f"{ui.fmt_time(size['taken_at'].iloc[0])}): the chart fills in as the directory is "
                       "refreshed (sidebar Refresh, or `python -m console snapshot` hourly from cron).")
    if summary.total:
        selected = None
        with ui.guard("reading the log records"):
            selected = log_table(ctx, conn, since, summary)
        if selected is not None:
            with ui.guard("reading the record"):
                record_details(ctx, conn, selected)


ui.run_page(main, "showing the sync history")
