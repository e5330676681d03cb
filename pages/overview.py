"""Overview: is the token safe, is provisioning healthy, how big is the directory, what changed lately."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from console.text import count
from pages import _history as hist
from pages import _ui as ui

RECENT_LIMIT = 200
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
    ov = hist.job_overview(conn)  # the same figures as Sync history (one cached overview per data version)
    if ov.status is None and ov.last_cycle is None and ov.failures_24h is None:
        st.info("**No provisioning data yet.** Use **Refresh** in the sidebar (or Sync history) to read the "
                "provisioning logs and the job's status from Microsoft Graph.", icon=":material/hourglass_empty:")
        return
    short, sentence = hist.next_cycle(ov)
    a, b, c, d = st.columns(4)
    # the job's status, schedule, states and quarantine reason are Graph's words: shown as text
    a.metric("Job status", ui.md_escape(ov.status, empty="not polled"),
             help=f"Schedule: {ui.md_escape(ov.schedule_state, empty='unknown')}; polled {ui.ago(ov.last_polled)}")
    last = ov.last_cycle
    b.metric("Last cycle", ui.ago(last["ended"]) if last else "none yet",
             help=(f"Ended {ui.fmt_time(last['ended'])}; state: {ui.md_escape(last.get('state'), empty='unknown')}")
             if last else None)
    c.metric("Next cycle", short, help=sentence)
    d.metric("Failures (24 h)", "—" if ov.failures_24h is None else f"{ov.failures_24h:,}",
             help="Failed provisioning records in the last 24 hours.")
    state = f"Last cycle state: {ui.md_escape(last['state'])}. " if last and last.get("state") else ""
    st.caption(f"{state}Next cycle: {sentence[:1].lower() + sentence[1:]}")
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
        st.warning(f"**The next cycle is overdue** (expected {ui.fmt_time(ov.next_expected)}). Check the job "
                   "in Entra (paused? disabled?) and on Sync history.", icon=":material/schedule:")


def role_rule_words(rule: str | None) -> str:
    """The connection's role rule (``prefix:Role - `` / ``regex:...``) as a sentence."""
    text = str(rule or "")
    if text.startswith("prefix:"):
        return f"Roles are the groups whose name starts with “{ui.md_escape(text[len('prefix:'):])}”."
    if text.startswith("regex:"):
        return f"Roles are the groups whose name matches the pattern “{ui.md_escape(text[len('regex:'):])}”."
    return f"Roles are recognised by the rule “{ui.md_escape(text)}”."


def _deltas(conn: Any, snap: Any) -> dict[str, Any]:
    """Each count's change since the snapshot before the latest (None when there is none)."""
    from console.directory.store import directory_size

    size = directory_size(ui.context(), conn)
    earlier = size[size["id"] < snap.id]
    if earlier.empty:
        return {}
    prev = earlier.iloc[-1]
    return {"active": snap.active_users - int(prev["active_users"]),
            "inactive": (snap.user_count - snap.active_users) - (int(prev["user_count"]) - int(prev["active_users"])),
            "groups": snap.group_count - int(prev["group_count"]), "roles": snap.role_count - int(prev["role_count"]),
            "_at": prev["taken_at"]}


def counts_panel(conn: Any) -> Any:
    """Counts from the latest snapshot's metadata (no need to load 100,000 rows to count them), with their
    change since the snapshot before."""
    st.subheader("Directory", divider="gray")
    snap = ui.latest_snapshot(conn)
    if snap is None:
        ui.no_snapshot_screen(conn)
        return None
    deltas = _deltas(conn, snap)
    since = f"since the snapshot of {ui.fmt_time(deltas['_at'])}" if deltas else None

    def delta(key: str) -> str | None:
        value = deltas.get(key)
        return f"{value:+,}" if value else None

    a, b, c, d = st.columns(4)
    a.metric("Active users", f"{snap.active_users:,}", delta=delta("active"), help=since)
    b.metric("Inactive users", f"{snap.user_count - snap.active_users:,}", delta=delta("inactive"),
             delta_color="off", help=since)
    c.metric("Groups", f"{snap.group_count:,}", delta=delta("groups"), delta_color="off", help=since)
    d.metric("Roles", f"{snap.role_count:,}", delta=delta("roles"), delta_color="off", help=since)
    st.caption(f"Snapshot taken {ui.fmt_time(snap.taken_at)} ({ui.ago(snap.taken_at)}); "
               f"{count(snap.membership_count, 'membership')}. {role_rule_words(conn.role_rule)}")
    if snap.user_count == 0 and snap.group_count + snap.role_count == 0:
        st.info("**The directory is empty.** Nothing has been provisioned into this tenant yet: check that the "
                "Entra provisioning job is running and has users and groups assigned.",
                icon=":material/inbox:")
    return snap


def alerts_panel(conn: Any) -> None:
    st.subheader("Alerts", divider="gray")
    from console.notify.alerts import current_alerts

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
def _recent(data_dir: str, conn_name: str, since_iso: str, stamp: tuple) -> Any:
    from console.timeline import recent_activity

    return recent_activity(ui.context(), conn_name, datetime.fromisoformat(since_iso), limit=RECENT_LIMIT)


def changes_panel(conn: Any, snap: Any) -> None:
    """What changed in the last 7 days: directory changes between snapshots and Entra's provisioning records,
    in one list (``console.timeline.recent_activity``), with the Sync history page's figures."""
    from console.entra.logs import range_start

    st.subheader("Recent changes (7 days)", divider="gray")
    since = range_start(timedelta(days=7))
    assert since is not None
    act = _recent(str(ui.data_dir()), conn.name, since.isoformat(), hist.version(conn))
    lines = []
    if act.has_logs or conn.entra is not None:
        lines.append(f"**Entra provisioning:** {count(act.entra_records, 'record')} in "
                     f"{count(act.entra_cycles, 'cycle')}, {count(act.entra_failures, 'failure')}."
                     if act.entra_records else "**Entra provisioning:** no records in these 7 days.")
    if act.snapshots == 0:
        lines.append("**Directory:** no snapshot yet, so no changes can be compared.")
    elif act.baseline_only:
        lines.append(f"**Directory:** only one snapshot so far (taken {ui.fmt_time(act.first_snapshot_at)}), so no "
                     "changes between snapshots yet: they are recorded from the next refresh on (sidebar "
                     "**Refresh**, or `python -m console snapshot` from cron).")
    else:
        lines.append(f"**Directory:** {count(act.directory_changes, 'change')} seen between snapshots"
                     + ("" if act.directory_changes else f" (the latest taken {ui.fmt_time(act.latest_snapshot_at)})")
                     + ".")
    st.markdown("  \n".join(lines))
    if act.entries.empty:
        st.caption("Nothing changed in these 7 days.")
    else:
        shown = len(act.entries)
        total = act.entra_records + act.directory_changes
        with st.container(height=380, border=True):
            st.markdown(hist.timeline_markdown(act.entries))
        if total > shown:
            st.caption(f"The newest {shown:,} of {count(total, 'change')}.")
    if act.entra_records:
        if st.button("Failures, cycles and every record on Sync history", key="overview.to_sync_history",
                     type="tertiary", icon=":material/sync:"):
            st.switch_page("pages/sync_history.py")


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
