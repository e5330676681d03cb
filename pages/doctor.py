"""Setup check: every step of the 6clicks guide checked on the live connection (``console.doctor``), each with
what was seen, why it matters and the fix in the guide's words; the attribute mappings side by side; the items
only a person can check, confirmable by hand; an explicit full permission probe; and provision on demand to try
the mappings on one person."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from console.connections import Connection
from console.context import Context
from console.doctor.checks import manual_checks, run_checks
from console.doctor.confirmations import confirm, last_run, withdraw
from console.doctor.model import SECTIONS, STATUS_WORDS, Check, Report, permission_name
from console.doctor.probes import request_words, result_words, verdict_words
from console.i18n import _
from console.tokens.service import TokenService
from pages import _ondemand
from pages._ui import errors, session, shell, signin, text
from pages._ui import format as fmt
from scim_client.permissions import FullProbe, full_probe

KEY_REPORT = "result.doctor.report"
KEY_PROBE = "result.doctor.probe"
ICONS = {"ok": ":material/check_circle:", "warning": ":material/warning:", "failure": ":material/error:",
         "manual": ":material/front_hand:"}


def _check(ctx: Context, conn: Connection, c: Check) -> None:
    title, status = c.title, _(STATUS_WORDS[c.status])
    label = (_("{title} — {status} (confirmed by hand by {operator})").format(
        title=title, status=status, operator=text.md_escape(c.confirmed_by, limit=60)) if c.confirmed_by
        else _("{title} — {status}").format(title=title, status=status))
    with st.expander(label, expanded=c.status in ("failure", "warning", "manual"), icon=ICONS[c.status]):
        st.markdown(text.md_escape(c.seen, limit=1500, multiline=True))
        if c.why:
            st.caption(_("Why it matters: {why}").format(why=text.md_escape(c.why, limit=500)))
        if c.fix and c.status != "ok":
            fix = text.md_escape(c.fix, limit=1000)
            st.markdown(_("**Check by hand:** {fix}").format(fix=fix) if c.status == "manual"
                        else _("**Fix:** {fix}").format(fix=fix))
        if c.guide_step:
            st.caption(_("Guide step: {step}").format(step=text.md_escape(c.guide_step, limit=300)))
        if c.rows:
            table = pd.DataFrame([{_("6clicks attribute"): r.target, _("Verdict"): _(STATUS_WORDS[r.verdict]),
                                   _("Note"): "; ".join(x for x in (r.note, r.info) if x),
                                   _("The guide"): r.expected or "—", _("The job maps"): r.found or "—"}
                                  for r in c.rows])
            st.dataframe(text.plain_table(table), hide_index=True, width="stretch")
        if c.status == "manual":
            if st.button(_("I checked this by hand"), key=f"doctor.confirm.{c.id}", icon=":material/done:"):
                confirm(ctx, conn, c.id, signin.operator())
                _refresh_manual(ctx, conn)
                st.toast(_("Recorded: checked by hand."), icon=":material/done:")
                st.rerun()
        elif c.confirmed_by:
            st.caption(_("Confirmed by {operator} on {date}.").format(
                operator=text.md_escape(c.confirmed_by, limit=120), date=fmt.fmt_time(c.confirmed_at)))
            if st.button(_("Withdraw the confirmation"), key=f"doctor.withdraw.{c.id}"):
                withdraw(ctx, conn, c.id)
                _refresh_manual(ctx, conn)
                st.rerun()


def _refresh_manual(ctx: Context, conn: Connection) -> None:
    """The shown report with its by-hand items read again (the rest of the check stays as it ran)."""
    report = st.session_state.get(KEY_REPORT)
    if isinstance(report, Report):
        fresh = {c.id: c for c in manual_checks(ctx, conn)}
        report.checks = [fresh.get(c.id, c) for c in report.checks]


def _summary(report: Report) -> None:
    a, b, c, d = st.columns(4)
    a.metric(_("Failures"), report.count("failure"))
    b.metric(_("Warnings"), report.count("warning"))
    c.metric(_("OK"), report.count("ok"))
    d.metric(_("To confirm by hand"), report.count("manual"))
    st.caption(_("Checked {when}. Nothing was changed in 6clicks or Entra.").format(when=fmt.fmt_time(report.at)))


def _full_probe(conn: Connection) -> None:
    with st.expander(_("Full permission probe (creates and deletes a probe user and group)"),
                     icon=":material/science:"):
        st.markdown(_("The check above proves each permission **without changing anything**, relying on 6clicks "
                      "checking permission before it looks at the request (as most APIs do). To be certain, the full "
                      "probe creates an inactive user `scim-console-probe-…@probe.example.com` and a group "
                      "`SCIM console probe …`, edits them, and deletes both, cleaning up even when a step fails."))
        sure = st.checkbox(_("Create, edit and delete the probe user and group in 6clicks"), key="doctor.probe.sure")
        if st.button(_("Run the full probe"), key="doctor.probe.go", disabled=not sure, icon=":material/science:"):
            with errors.guard(_("running the full probe")), st.spinner(_("Probing…")), \
                    TokenService(session.context()).scim_client(conn.name) as client:
                st.session_state[KEY_PROBE] = full_probe(client)
        probe = st.session_state.get(KEY_PROBE)
        if isinstance(probe, FullProbe):
            rows = [{_("Permission"): permission_name(p.key), _("Step"): request_words(p, probe),
                     _("Result"): verdict_words(p), _("Detail"): result_words(p)} for p in probe.checks]
            st.dataframe(text.plain_table(pd.DataFrame(rows)), hide_index=True, width="stretch")
            if probe.leftovers:
                st.error(_("Not cleaned up; delete these by hand in 6clicks: {leftovers}").format(
                    leftovers=text.md_escape(", ".join(probe.leftovers), limit=500)), icon=":material/delete:")


def main() -> None:
    shell.page_state("doctor.")
    ctx = session.context()
    conn = session.connection()
    if conn is None:
        return
    st.title(_("Setup check"))
    st.caption(_("Every step of the 6clicks guide, checked on {connection}: the SCIM endpoint, the API key and token, "
                 "the six permissions, the provisioning job, the credentials Entra holds and the attribute mappings. "
                 "Nothing is changed.").format(connection=text.md_escape(conn.name)))
    if conn.is_demo:
        st.info(_("The demo's Entra simulator has one deliberate drift for this check to find: the work e-mail's "
                  "matching precedence."), icon=":material/info:")
    run = st.button(_("Run the check"), type="primary", icon=":material/play_arrow:", key="doctor.run")
    if run:
        with errors.guard(_("running the setup check")), st.spinner(_("Checking each step of the guide…")):
            st.session_state[KEY_REPORT] = run_checks(ctx, conn)
    report = st.session_state.get(KEY_REPORT)
    if not isinstance(report, Report) or report.connection != conn.name:
        previous = last_run(ctx, conn)
        if previous is not None:
            st.caption(_("Last run {when}: {summary}. Run the check to see the details.").format(
                when=fmt.fmt_time(previous.at), summary=text.md_escape(previous.summary)))
        else:
            st.caption(_("Not checked yet. The check takes a few seconds."))
        _full_probe(conn)
        return
    _summary(report)
    for section in SECTIONS:
        checks = [c for c in report.checks if c.section == section]
        if not checks:
            continue
        st.subheader(_(section))
        for c in checks:
            _check(ctx, conn, c)
        if section == "Entra ID" and conn.entra is not None and conn.entra.can_manage_job:
            with st.expander(_("Try the mappings on one person (provision on demand)"), icon=":material/bolt:"):
                _ondemand.panel(conn, key="doctor.ondemand")
    _full_probe(conn)


shell.run_page(main, _("showing the setup check"))
