"""Overview: is the token safe, is provisioning healthy, how big is the directory, what changed lately."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from console.connections import Connection
from console.context import Context
from console.directory.store import directory_size
from console.doctor.confirmations import last_run
from console.entra.logstore import range_start
from console.notify.alerts import current_alerts
from console.reconcile.runs import history as reconcile_history
from console.reconcile.runs import open_orphans
from console.text import count
from console.timeline import recent_activity
from pages import _history as hist
from pages import _setup_ui
from pages._ui import banners, dircache, errors, session, shell
from pages._ui import format as fmt
from pages._ui.text import md_escape

RECENT_LIMIT = 200
SEVERITY_ICON = {"critical": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def token_panel(conn: Connection) -> None:
    st.subheader("Token", divider="gray")
    status = banners.token_status(conn)
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
        b.metric("Expires", fmt.fmt_time(status.expires_at, date_only=True),
                 help="Estimated: the token carries no readable expiry; 365 days from issue is assumed."
                 if getattr(status, "estimated", False) else None)
    c.metric("Last test", md_escape(status.last_test_result) if status.last_test_at else "never",
             help=f"Tested {fmt.fmt_time(status.last_test_at)}" if status.last_test_at else None)
    with d:
        banners.token_badge(status)
    if status.level != "ok":
        st.caption(md_escape(f"{status.message} {status.remedy or ''}", limit=1000))


def health_panel(conn: Connection) -> None:
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
    a.metric("Job status", md_escape(ov.status, empty="not polled"),
             help=f"Schedule: {md_escape(ov.schedule_state, empty='unknown')}; polled {fmt.ago(ov.last_polled)}")
    last = ov.last_cycle
    b.metric("Last cycle", fmt.ago(last["ended"]) if last else "none yet",
             help=(f"Ended {fmt.fmt_time(last['ended'])}; state: {md_escape(last.get('state'), empty='unknown')}")
             if last else None)
    c.metric("Next cycle", short, help=sentence)
    d.metric("Failures (24 h)", "—" if ov.failures_24h is None else f"{ov.failures_24h:,}",
             help="Failed provisioning records in the last 24 hours.")
    state = f"Last cycle state: {md_escape(last['state'])}. " if last and last.get("state") else ""
    st.caption(f"{state}Next cycle: {sentence[:1].lower() + sentence[1:]}")
    if ov.quarantine:
        q = ov.quarantine
        text = f"**The provisioning job is in quarantine: {md_escape(q.get('reason_text') or q.get('reason'))}.**"
        if q.get("explanation"):
            text += " " + md_escape(q["explanation"], limit=1000)
        if q.get("fix"):
            text += "\n\n" + md_escape(q["fix"], limit=1000)
        if q.get("next_attempt"):
            text += f"\n\nEntra retries {fmt.fmt_time(q['next_attempt'])}; after 4 weeks it disables the job."
        st.error(text, icon=":material/block:")
    elif ov.overdue:
        st.warning(f"**The next cycle is overdue** (expected {fmt.fmt_time(ov.next_expected)}). Check the job "
                   "in Entra (paused? disabled?) and on Sync history.", icon=":material/schedule:")


def role_rule_words(rule: str | None) -> str:
    """The connection's role rule (``prefix:Role - `` / ``regex:...``) as a sentence."""
    text = str(rule or "")
    if text.startswith("prefix:"):
        return f"Roles are the groups whose name starts with “{md_escape(text[len('prefix:'):])}”."
    if text.startswith("regex:"):
        return f"Roles are the groups whose name matches the pattern “{md_escape(text[len('regex:'):])}”."
    return f"Roles are recognised by the rule “{md_escape(text)}”."


def _deltas(conn: Connection, snap: Any) -> dict[str, Any]:
    """Each count's change since the snapshot before the latest (None when there is none)."""
    size = directory_size(session.context(), conn)
    earlier = size[size["id"] < snap.id]
    if earlier.empty:
        return {}
    prev = earlier.iloc[-1]
    return {"active": snap.active_users - int(prev["active_users"]),
            "inactive": (snap.user_count - snap.active_users) - (int(prev["user_count"]) - int(prev["active_users"])),
            "groups": snap.group_count - int(prev["group_count"]), "roles": snap.role_count - int(prev["role_count"]),
            "_at": prev["taken_at"]}


def counts_panel(conn: Connection) -> Any:
    """Counts from the latest snapshot's metadata (no need to load 100,000 rows to count them), with their
    change since the snapshot before."""
    st.subheader("Directory", divider="gray")
    snap = dircache.latest_snapshot(conn)
    if snap is None:
        dircache.no_snapshot_screen(conn)
        return None
    deltas = _deltas(conn, snap)
    since = f"since the snapshot of {fmt.fmt_time(deltas['_at'])}" if deltas else None

    def delta(key: str) -> str | None:
        value = deltas.get(key)
        return f"{value:+,}" if value else None

    a, b, c, d = st.columns(4)
    a.metric("Active users", f"{snap.active_users:,}", delta=delta("active"), help=since)
    b.metric("Inactive users", f"{snap.user_count - snap.active_users:,}", delta=delta("inactive"),
             delta_color="off", help=since)
    c.metric("Groups", f"{snap.group_count:,}", delta=delta("groups"), delta_color="off", help=since)
    d.metric("Roles", f"{snap.role_count:,}", delta=delta("roles"), delta_color="off", help=since)
    st.caption(f"Snapshot taken {fmt.fmt_time(snap.taken_at)} ({fmt.ago(snap.taken_at)}); "
               f"{count(snap.membership_count, 'membership')}. {role_rule_words(conn.role_rule)}")
    if snap.user_count == 0 and snap.group_count + snap.role_count == 0:
        st.info("**The directory is empty.** Nothing has been provisioned into this tenant yet: check that the "
                "Entra provisioning job is running and has users and groups assigned.",
                icon=":material/inbox:")
    return snap


def alerts_panel(conn: Connection) -> None:
    st.subheader("Alerts", divider="gray")

    try:
        # the token's expiry has its own banner; a missing token is an alert all the same (no "No alerts" beside it)
        alerts = list(current_alerts(session.context(), conn, include_token=False, missing_token=True))
    except Exception as exc:
        errors.log_exception(exc)
        errors.show_error(exc, what="computing the alerts")
        return
    if not alerts:
        st.success("No alerts.", icon=":material/check_circle:")
        return
    for alert in alerts:
        severity = str(getattr(alert, "severity", "warning"))
        # alerts quote log and job data (error codes, cycle ids, quarantine reasons): escaped as text
        text = f"**{md_escape(alert.title)}**"
        if getattr(alert, "detail", None):
            text += " — " + md_escape(alert.detail, limit=1000)
        if getattr(alert, "remedy", None):
            text += "\n\n" + md_escape(alert.remedy, limit=1000)
        since = getattr(alert, "since", None)
        if since is not None:
            text += f"\n\n_Since {fmt.fmt_time(since)}_"
        icon = SEVERITY_ICON.get(severity, ":material/warning:")
        if severity == "critical":
            st.error(text, icon=icon)
        elif severity == "info":
            st.info(text, icon=icon)
        else:
            st.warning(text, icon=icon)


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def _recent(data_dir: str, conn_name: str, since_iso: str, stamp: tuple) -> Any:
    return recent_activity(session.context(), conn_name, datetime.fromisoformat(since_iso), limit=RECENT_LIMIT)


def changes_panel(conn: Connection, snap: Any) -> None:
    """What changed in the last 7 days: directory changes between snapshots and Entra's provisioning records,
    in one list (``console.timeline.recent_activity``), with the Sync history page's figures."""
    st.subheader("Recent changes (7 days)", divider="gray")
    since = range_start(timedelta(days=7))
    assert since is not None
    act = _recent(str(session.data_dir()), conn.name, since.isoformat(), hist.version(conn))
    lines = []
    if act.has_logs or conn.entra is not None:
        lines.append(f"**Entra provisioning:** {count(act.entra_records, 'record')} in "
                     f"{count(act.entra_cycles, 'cycle')}, {count(act.entra_failures, 'failure')}."
                     if act.entra_records else "**Entra provisioning:** no records in these 7 days.")
    if act.snapshots == 0:
        lines.append("**Directory:** no snapshot yet, so no changes can be compared.")
    elif act.baseline_only:
        lines.append(f"**Directory:** only one snapshot so far (taken {fmt.fmt_time(act.first_snapshot_at)}), so no "
                     "changes between snapshots yet: they are recorded from the next refresh on (sidebar "
                     "**Refresh**, or `python -m console snapshot` from cron).")
    else:
        lines.append(f"**Directory:** {count(act.directory_changes, 'change')} seen between snapshots"
                     + ("" if act.directory_changes else f" (the latest taken {fmt.fmt_time(act.latest_snapshot_at)})")
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


VERDICT_ICONS = {"ok": ":material/check_circle:", "warning": ":material/warning:", "failure": ":material/error:"}


def checks_panel(ctx: Context, conn: Connection) -> None:
    """The last setup check's worst verdict and the last reconciliation's orphans, each with its page."""
    left, right = st.columns(2)
    last = last_run(ctx, conn)
    with left:
        if last is None:
            st.caption("Setup check: not run yet. It checks every step of the 6clicks guide on this connection.")
        else:
            words = {"ok": "all good", "warning": "warnings", "failure": "failures"}.get(last.worst, last.worst)
            st.markdown(f"**Setup check: {words}** ({md_escape(last.summary)}), {fmt.ago(last.at)}.")
        st.page_link("pages/doctor.py", label="Open the setup check",
                     icon=VERDICT_ICONS.get(last.worst if last else "", ":material/health_and_safety:"))
    runs = reconcile_history(ctx, conn)
    with right:
        if not len(runs):
            st.caption("Reconciliation: not run yet. It lists who has access to 6clicks without being assigned in "
                       "Entra (orphans), and who is missing.")
        else:
            row = runs.iloc[-1]
            still = open_orphans(ctx, conn)
            orphans = still.still_active if still is not None else int(row["orphans"])
            fixed = (f" ({int(row['orphans']) - orphans:,} of {int(row['orphans']):,} deactivated since)"
                     if still is not None and orphans < int(row["orphans"]) else "")
            st.markdown(f"**Reconciliation: {orphans:,} orphan(s) with access**{fixed}, {int(row['missing']):,} "
                        f"missing, {int(row['not_managed']):,} not managed by SCIM, "
                        f"{fmt.ago(row['at'].to_pydatetime())}.")
        st.page_link("pages/reconcile.py", label="Open Reconcile", icon=":material/compare_arrows:")


def main() -> None:
    conn = session.connection()
    st.title("Overview")
    banners.demo_label(conn)
    with errors.guard("showing the next step"):

        _setup_ui.next_step_pointer(conn)
    with errors.guard("reading the token"):
        token_panel(conn)
    with errors.guard("reading provisioning health"):
        health_panel(conn)
    with errors.guard("reading the setup check and reconciliation"):
        checks_panel(session.context(), conn)
    directory = None
    with errors.guard("reading the directory"):
        directory = counts_panel(conn)
    left, right = st.columns([2, 3], gap="large")
    with left, errors.guard("computing alerts"):
        alerts_panel(conn)
    with right, errors.guard("reading recent changes"):
        changes_panel(conn, directory)


shell.run_page(main, "showing the overview")
