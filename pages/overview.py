"""Overview: is the token safe, is provisioning healthy, how big is the directory, what changed lately."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from console.connections import Connection
from console.context import Context
from console.directory.store import directory_size
from console.doctor.confirmations import last_run
from console.entra.catalogue import cycle_state_text, job_status_text
from console.entra.logstore import range_start
from console.i18n import N_, _, count, fmt_number, language
from console.notify.alerts import current_alerts
from console.reconcile.runs import history as reconcile_history
from console.reconcile.runs import open_orphans
from console.timeline import recent_activity
from pages import _history as hist
from pages import _setup_ui
from pages._ui import banners, dircache, errors, session, shell
from pages._ui import format as fmt
from pages._ui.text import md_escape

RECENT_LIMIT = 200
SEVERITY_ICON = {"critical": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def token_panel(conn: Connection) -> None:
    st.subheader(_("Token"), divider="gray")
    status = banners.token_status(conn)
    if status is None:
        st.error(_("The token's state cannot be read from the credential store."), icon=":material/key_off:")
        st.page_link("pages/connection.py", label=_("Check the keyring on Connection & token"),
                     icon=":material/key:")
        return
    a, b, c, d = st.columns(4)
    if status.level in ("missing",):
        a.metric(_("Days left"), "—")
        b.metric(_("Expires"), _("no token"))
    else:
        a.metric(_("Days left"), _("expired") if status.level == "expired" else
                 ("—" if status.days_left is None else fmt_number(status.days_left)))
        b.metric(_("Expires"), fmt.fmt_short_date(status.expires_at),
                 help=_("Estimated: the token carries no readable expiry; 365 days from issue is assumed.")
                 if getattr(status, "estimated", False) else None)
    c.metric(_("Last test"), md_escape(status.last_test_result) if status.last_test_at else _("never"),
             help=_("Tested {when}").format(when=fmt.fmt_time(status.last_test_at)) if status.last_test_at else None)
    with d:
        banners.token_badge(status)
    if status.level != "ok":
        st.caption(md_escape(f"{status.message} {status.remedy or ''}", limit=1000))


def health_panel(conn: Connection) -> None:
    st.subheader(_("Provisioning health"), divider="gray")
    if conn.entra is None:
        st.info(_("**Entra provisioning is not connected.** Add the tenant id, client id, client secret and "
                  "service principal on Connection & token > Microsoft Graph (the job is found for you) to see "
                  "cycles, quarantine and failures here."), icon=":material/cloud_off:")
        st.page_link("pages/connection.py", label=_("Configure Microsoft Graph"), icon=":material/settings:",
                     query_params={"tab": "Microsoft Graph"})
        return
    ov = hist.job_overview(conn)  # the same figures as Sync history (one cached overview per data version)
    if ov.status is None and ov.last_cycle is None and ov.failures_24h is None:
        st.info(_("**No provisioning data yet.** Use **Refresh** in the sidebar (or Sync history) to read the "
                  "provisioning logs and the job's status from Microsoft Graph."), icon=":material/hourglass_empty:")
        return
    short, sentence = hist.next_cycle(ov)
    a, b, c, d = st.columns(4)
    # the job's status, schedule, states and quarantine reason are Graph's words: shown as text
    unknown = _("unknown")
    a.metric(_("Job status"), md_escape(job_status_text(ov.status) if ov.status else None, empty=_("not polled")),
             help=_("Schedule: {schedule}; polled {ago}").format(
                 schedule=md_escape(ov.schedule_state, empty=unknown), ago=fmt.ago(ov.last_polled)))
    last = ov.last_cycle
    b.metric(_("Last cycle"), fmt.ago(last["ended"]) if last else _("none yet"),
             help=_("Ended {when}; state: {state}").format(when=fmt.fmt_time(last["ended"]),
                                                           state=md_escape(last.get("state"), empty=unknown))
             if last else None)
    c.metric(_("Next cycle"), short, help=sentence)
    d.metric(_("Failures (24 h)"), "—" if ov.failures_24h is None else fmt_number(ov.failures_24h),
             help=_("Failed provisioning records in the last 24 hours."))
    next_words = sentence[:1].lower() + sentence[1:] if language() == "en" else sentence
    if last and last.get("state"):
        st.caption(_("Last cycle state: {state}. Next cycle: {next}").format(state=md_escape(cycle_state_text(last["state"])),
                                                                             next=next_words))
    else:
        st.caption(_("Next cycle: {next}").format(next=next_words))
    if ov.quarantine:
        q = ov.quarantine
        text = _("**The provisioning job is in quarantine: {reason}.**").format(
            reason=md_escape(q.get("reason_text") or q.get("reason")))
        if q.get("explanation"):
            text += " " + md_escape(q["explanation"], limit=1000)
        if q.get("fix"):
            text += "\n\n" + md_escape(q["fix"], limit=1000)
        if q.get("next_attempt"):
            text += "\n\n" + _("Entra retries {when}; after 4 weeks it disables the job.").format(
                when=fmt.fmt_time(q["next_attempt"]))
        st.error(text, icon=":material/block:")
    elif ov.overdue:
        st.warning(_("**The next cycle is overdue** (expected {when}). Check the job in Entra (paused? disabled?) "
                     "and on Sync history.").format(when=fmt.fmt_time(ov.next_expected)), icon=":material/schedule:")


def role_rule_words(rule: str | None) -> str:
    """The connection's role rule (``prefix:Role - `` / ``regex:...``) as a sentence."""
    text = str(rule or "")
    if text.startswith("prefix:"):
        return _("Roles are the groups whose name starts with “{prefix}”.").format(
            prefix=md_escape(text[len("prefix:"):]))
    if text.startswith("regex:"):
        return _("Roles are the groups whose name matches the pattern “{pattern}”.").format(
            pattern=md_escape(text[len("regex:"):]))
    return _("Roles are recognised by the rule “{rule}”.").format(rule=md_escape(text))


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
    st.subheader(_("Directory"), divider="gray")
    snap = dircache.latest_snapshot(conn)
    if snap is None:
        dircache.no_snapshot_screen(conn)
        return None
    deltas = _deltas(conn, snap)
    since = _("since the snapshot of {when}").format(when=fmt.fmt_time(deltas["_at"])) if deltas else None

    def delta(key: str) -> str | None:
        value = deltas.get(key)
        return ("+" if value > 0 else "") + fmt_number(value) if value else None

    a, b, c, d = st.columns(4)
    a.metric(_("Active users"), fmt_number(snap.active_users), delta=delta("active"), help=since)
    b.metric(_("Inactive users"), fmt_number(snap.user_count - snap.active_users), delta=delta("inactive"),
             delta_color="off", help=since)
    c.metric(_("Groups"), fmt_number(snap.group_count), delta=delta("groups"), delta_color="off", help=since)
    d.metric(_("Roles"), fmt_number(snap.role_count), delta=delta("roles"), delta_color="off", help=since)
    st.caption(_("Snapshot taken {when} ({ago}); {memberships}. {roles}").format(
        when=fmt.fmt_time(snap.taken_at), ago=fmt.ago(snap.taken_at),
        memberships=count(snap.membership_count, "{n} membership", "{n} memberships"),
        roles=role_rule_words(conn.role_rule)))
    if snap.user_count == 0 and snap.group_count + snap.role_count == 0:
        st.info(_("**The directory is empty.** Nothing has been provisioned into this tenant yet: check that the "
                  "Entra provisioning job is running and has users and groups assigned."),
                icon=":material/inbox:")
    return snap


def alerts_panel(conn: Connection) -> None:
    st.subheader(_("Alerts"), divider="gray")

    try:
        # the token's expiry has its own banner; a missing token is an alert all the same (no "No alerts" beside it)
        alerts = list(current_alerts(session.context(), conn, include_token=False, missing_token=True))
    except Exception as exc:
        errors.log_exception(exc)
        errors.show_error(exc, what=N_("computing the alerts"))
        return
    if not alerts:
        st.success(_("No alerts."), icon=":material/check_circle:")
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
            text += "\n\n_" + _("Since {when}").format(when=fmt.fmt_time(since)) + "_"
        icon = SEVERITY_ICON.get(severity, ":material/warning:")
        if severity == "critical":
            st.error(text, icon=icon)
        elif severity == "info":
            st.info(text, icon=icon)
        else:
            st.warning(text, icon=icon)


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def _recent(data_dir: str, conn_name: str, since_iso: str, stamp: tuple, lang: str) -> Any:
    # the entries' "what" is worded in ``lang`` (a key of the cache: sessions may differ)
    return recent_activity(session.context(), conn_name, datetime.fromisoformat(since_iso), limit=RECENT_LIMIT)


def changes_panel(conn: Connection, snap: Any) -> None:
    """What changed in the last 7 days: directory changes between snapshots and Entra's provisioning records,
    in one list (``console.timeline.recent_activity``), with the Sync history page's figures."""
    st.subheader(_("Recent changes (7 days)"), divider="gray")
    since = range_start(timedelta(days=7))
    assert since is not None
    act = _recent(str(session.data_dir()), conn.name, since.isoformat(), hist.version(conn), language())
    lines = []
    if act.has_logs or conn.entra is not None:
        lines.append(_("**Entra provisioning:** {records} in {cycles}, {failures}.").format(
            records=count(act.entra_records, "{n} record", "{n} records"),
            cycles=count(act.entra_cycles, "{n} cycle", "{n} cycles"),
            failures=count(act.entra_failures, "{n} failure", "{n} failures"))
            if act.entra_records else _("**Entra provisioning:** no records in these 7 days."))
    if act.snapshots == 0:
        lines.append(_("**Directory:** no snapshot yet, so no changes can be compared."))
    elif act.baseline_only:
        lines.append(_("**Directory:** only one snapshot so far (taken {when}), so no changes between snapshots "
                       "yet: they are recorded from the next refresh on (sidebar **Refresh**, or "
                       "`python -m console snapshot` from cron).").format(when=fmt.fmt_time(act.first_snapshot_at)))
    elif act.directory_changes:
        lines.append(_("**Directory:** {changes} seen between snapshots.").format(
            changes=count(act.directory_changes, "{n} change", "{n} changes")))
    else:
        lines.append(_("**Directory:** {changes} seen between snapshots (the latest taken {when}).").format(
            changes=count(0, "{n} change", "{n} changes"), when=fmt.fmt_time(act.latest_snapshot_at)))
    st.markdown("  \n".join(lines))
    if act.entries.empty:
        st.caption(_("Nothing changed in these 7 days."))
    else:
        shown = len(act.entries)
        total = act.entra_records + act.directory_changes
        with st.container(height=380, border=True):
            st.markdown(hist.timeline_markdown(act.entries))
        if total > shown:
            st.caption(_("The newest {shown} of {total}.").format(
                shown=fmt_number(shown), total=count(total, "{n} change", "{n} changes")))
    if act.entra_records:
        if st.button(_("Failures, cycles and every record on Sync history"), key="overview.to_sync_history",
                     type="tertiary", icon=":material/sync:"):
            st.switch_page("pages/sync_history.py")


VERDICT_ICONS = {"ok": ":material/check_circle:", "warning": ":material/warning:", "failure": ":material/error:"}
VERDICT_WORDS = {"ok": N_("all good"), "warning": N_("warnings"), "failure": N_("failures")}


def checks_panel(ctx: Context, conn: Connection) -> None:
    """The last setup check's worst verdict and the last reconciliation's orphans, each with its page."""
    left, right = st.columns(2)
    last = last_run(ctx, conn)
    with left:
        if last is None:
            st.caption(_("Setup check: not run yet. It checks every step of the 6clicks guide on this connection."))
        else:
            words = _(VERDICT_WORDS[last.worst]) if last.worst in VERDICT_WORDS else md_escape(last.worst)
            st.markdown(_("**Setup check: {verdict}** ({summary}), {ago}.").format(
                verdict=words, summary=md_escape(last.summary), ago=fmt.ago(last.at)))
        st.page_link("pages/doctor.py", label=_("Open the setup check"),
                     icon=VERDICT_ICONS.get(last.worst if last else "", ":material/health_and_safety:"))
    runs = reconcile_history(ctx, conn)
    with right:
        if not len(runs):
            st.caption(_("Reconciliation: not run yet. It lists who has access to 6clicks without being assigned in "
                         "Entra (orphans), and who is missing."))
        else:
            row = runs.iloc[-1]
            still = open_orphans(ctx, conn)
            found = int(row["orphans"])
            orphans = still.still_active if still is not None else found
            figures = {"orphans": fmt_number(orphans), "missing": fmt_number(int(row["missing"])),
                       "unmanaged": fmt_number(int(row["not_managed"])), "ago": fmt.ago(row["at"].to_pydatetime())}
            if still is not None and orphans < found:
                st.markdown(_("**Reconciliation: {orphans} orphan(s) with access** ({fixed} of {found} deactivated "
                              "since), {missing} missing, {unmanaged} not managed by SCIM, {ago}.").format(
                    fixed=fmt_number(found - orphans), found=fmt_number(found), **figures))
            else:
                st.markdown(_("**Reconciliation: {orphans} orphan(s) with access**, {missing} missing, {unmanaged} "
                              "not managed by SCIM, {ago}.").format(**figures))
        st.page_link("pages/reconcile.py", label=_("Open Reconcile"), icon=":material/compare_arrows:")


def main() -> None:
    conn = session.connection()
    st.title(_("Overview"))
    banners.demo_label(conn)
    with errors.guard(N_("showing the next step")):
        _setup_ui.next_step_pointer(conn)
    with errors.guard(N_("reading the token")):
        token_panel(conn)
    with errors.guard(N_("reading provisioning health")):
        health_panel(conn)
    with errors.guard(N_("reading the setup check and reconciliation")):
        checks_panel(session.context(), conn)
    directory = None
    with errors.guard(N_("reading the directory")):
        directory = counts_panel(conn)
    left, right = st.columns([2, 3], gap="large")
    with left, errors.guard(N_("computing alerts")):
        alerts_panel(conn)
    with right, errors.guard(N_("reading recent changes")):
        changes_panel(conn, directory)


shell.run_page(main, N_("showing the overview"))
