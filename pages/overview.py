"""Overview: is the token safe, is provisioning healthy, how big is the directory, what changed lately."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from pages import _ui as ui

SEVERITY_ICON = {"critical": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def token_panel(conn: Any) -> None:
    st.subheader("Token", divider="gray")
    status = ui.token_status(conn)
    if status is None:
        st.error("The token's state cannot be read from the credential store.", icon=":material/key_off:")
        st.page_link("pages/connection.py", label="Check the keyring on Connection & token", icon=":material/key:")
        return
    a, b, c, d = st.columns(4)
    if status.level in ("missing",):
        a.metric("Days left", "—")
        b.metric("Expires", "no token")
    else:
        a.metric("Days left", "expired" if status.level == "expired" else
                 ("—" if status.days_left is None else f"{status.days_left}"))
        b.metric("Expires", ui.fmt_time(status.expires_at, date_only=True),
                 help="Estimated: the token carries no readable expiry; 365 days from issue is assumed."
                 if getattr(status, "estimated", False) else None)
    c.metric("Last test", ui.md_escape(status.last_test_result) if status.last_test_at else "never",
             help=f"Tested {ui.fmt_time(status.last_test_at)}" if status.last_test_at else None)
    with d:
        ui.token_badge(status)
    if status.level != "ok":
        st.caption(ui.md_escape(f"{status.message} {status.remedy or ''}", limit=1000))


def health_panel(conn: Any) -> None:
    st.subheader("Provisioning health", divider="gray")
    if conn.entra is None:
        st.info("**Entra provisioning is not connected.** Add the tenant id, client id, client secret and "
                "service principal on Connection & token > Microsoft Graph (the job is found for you) to see "
                "cycles, quarantine and failures here.", icon=":material/cloud_off:")
        st.page_link("pages/connection.py", label="Configure Microsoft Graph", icon=":material/settings:",
                     query_params={"tab": "Microsoft Graph"})
        return
    from console.job_health import job_overview

    ov = job_overview(ui.context(), conn)
    if ov.status is None and ov.last_cycle is None and ov.failures_24h is None:
        st.info("**No provisioning data yet.** Use **Refresh** in the sidebar (or Sync history) to read the "
                "provisioning logs and the job's status from Microsoft Graph.", icon=":material/hourglass_empty:")
        return
    a, b, c, d = st.columns(4)
    # the job's status, schedule, states and quarantine reason are Graph's words: shown as text
    a.metric("Job status", ui.md_escape(ov.status, empty="not polled"),
             help=f"Schedule: {ui.md_escape(ov.schedule_state, empty='unknown')}; polled {ui.ago(ov.last_polled)}")
    last = ov.last_cycle
    b.metric("Last cycle", ui.ago(last["ended"]) if last else "none yet",
             help=(f"Ended {ui.fmt_time(last['ended'])}; state: {ui.md_escape(last.get('state'), empty='unknown')}")
             if last else None)
    c.metric("Failures (24 h)", "—" if ov.failures_24h is None else f"{ov.failures_24h:,}")
    d.metric("Quarantine", "yes" if ov.quarantine else "no")
    if last and last.get("state"):
        st.caption(f"Last cycle state: {ui.md_escape(last['state'])}. Next cycle expected "
                   f"{ui.fmt_time(ov.next_expected_cycle)}.")
    if ov.quarantine:
        q = ov.quarantine
        text = f"**The provisioning job is in quarantine: {ui.md_escape(q.get('reason_text') or q.get('reason'))}.**"
        if q.get("explanation"):
            text += " " + ui.md_escape(q["explanation"], limit=1000)
        if q.get("fix"):
            text += "\n\n" + ui.md_escape(q["fix"], limit=1000)
        if q.get("next_attempt"):
            text += f"\n\nEntra retries {ui.fmt_time(q['next_attempt'])}; after 4 weeks it disables the job."
        st.error(text, icon=":material/block:")
    elif ov.overdue:
        st.warning(f"**The next cycle is overdue** (expected {ui.fmt_time(ov.next_expected_cycle)}). Check the job "
                   "in Entra (paused? disabled?) and on Sync history.", icon=":material/schedule:")


def counts_panel(conn: Any) -> Any:
    """Counts from the latest snapshot's metadata (no need to load 100,000 rows to count them)."""
    st.subheader("Directory", divider="gray")
    snap = ui.latest_snapshot(conn)
    if snap is None:
        ui.no_snapshot_screen(conn)
        return None
    a, b, c, d = st.columns(4)
    a.metric("Active users", f"{snap.active_users:,}")
    b.metric("Inactive users", f"{snap.user_count - snap.active_users:,}")
    c.metric("Groups", f"{snap.group_count:,}")
    d.metric("Roles", f"{snap.role_count:,}")
    st.caption(f"Snapshot taken {ui.fmt_time(snap.taken_at)} ({ui.ago(snap.taken_at)}); "
               f"{snap.membership_count:,} memberships. Roles are recognised by the rule "
               f"“{ui.md_escape(conn.role_rule)}”.")
    if snap.user_count == 0 and snap.group_count + snap.role_count == 0:
        st.info("**The directory is empty.** Nothing has been provisioned into this tenant yet: check that the "
                "Entra provisioning job is running and has users and groups assigned.",
                icon=":material/inbox:")
    return snap


def alerts_panel(conn: Any) -> None:
    st.subheader("Alerts", divider="gray")
    from console.alerts import current_alerts

    try:
        # the token's expiry has its own banner; a missing token is an alert all the same (no "No alerts" beside it)
        alerts = list(current_alerts(ui.context(), conn, include_token=False, missing_token=True))
    except Exception as exc:
        ui.log_exception(exc)
        ui.show_error(exc, what="computing the alerts")
        return
    if not alerts:
        st.success("No alerts.", icon=":material/check_circle:")
        return
    for alert in alerts:
        severity = str(getattr(alert, "severity", "warning"))
        # alerts quote log and job data (error codes, cycle ids, quarantine reasons): escaped as text
        text = f"**{ui.md_escape(alert.title)}**"
        if getattr(alert, "detail", None):
            text += " — " + ui.md_escape(alert.detail, limit=1000)
        if getattr(alert, "remedy", None):
            text += "\n\n" + ui.md_escape(alert.remedy, limit=1000)
        since = getattr(alert, "since", None)
        if since is not None:
            text += f"\n\n_Since {ui.fmt_time(since)}_"
        icon = SEVERITY_ICON.get(severity, ":material/warning:")
        if severity == "critical":
            st.error(text, icon=icon)
        elif severity == "info":
            st.info(text, icon=icon)
        else:
            st.warning(text, icon=icon)


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def _recent_events(data_dir: str, conn_name: str, snapshot_id: Any, since_iso: str) -> pd.DataFrame:
    from console.connections import ConnectionRepo
    from console.snapshots import list_events

    ctx = ui.context()
    conn = ConnectionRepo(ctx.store).get(conn_name)
    return list_events(ctx, conn, since=datetime.fromisoformat(since_iso), limit=200)


def changes_panel(conn: Any, snap: Any) -> None:
    st.subheader("Recent changes (7 days)", divider="gray")
    if snap is None:
        st.caption("No snapshot yet.")
        return
    since = (datetime.now(UTC) - timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    events = _recent_events(str(ui.data_dir()), conn.name, snap.id, since.isoformat())
    if events is None or len(events) == 0:
        st.caption("No changes between the last snapshots.")
        return
    view = events.copy()
    if "at" in view.columns:
        view["at"] = pd.to_datetime(view["at"], utc=True).dt.tz_convert(ui.operator_zone())
    columns = [c for c in ("at", "kind", "subject_type", "subject_name", "attribute", "old_value", "new_value",
                           "related_name") if c in view.columns]
    st.dataframe(ui.plain_table(view[columns]), hide_index=True, width="stretch", height=320,
                 column_config={"at": st.column_config.DatetimeColumn("When", format="D MMM YYYY, HH:mm"),
                                "kind": "Change", "subject_type": "Type", "subject_name": "Name",
                                "attribute": "Attribute", "old_value": "Before", "new_value": "After",
                                "related_name": "Member"})


def main() -> None:
    conn = ui.connection()
    st.title("Overview")
    ui.demo_label(conn)
    with ui.guard("showing the next step"):
        from pages import _setup_ui

        _setup_ui.next_step_pointer(conn)
    with ui.guard("reading the token"):
        token_panel(conn)
    with ui.guard("reading provisioning health"):
        health_panel(conn)
    directory = None
    with ui.guard("reading the directory"):
        directory = counts_panel(conn)
    left, right = st.columns([2, 3], gap="large")
    with left, ui.guard("computing alerts"):
        alerts_panel(conn)
    with right, ui.guard("reading recent changes"):
        changes_panel(conn, directory)


ui.run_page(main, "showing the overview")
