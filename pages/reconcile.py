"""Reconcile: Entra and 6clicks side by side (``console.reconcile``). Counts per category, one table each, the
history of runs (orphans over time) and each run's CSV for evidence. Acting on a result goes through the usual
operations panel (preview, reason, journal, undo) or provision on demand; the reconciliation changes nothing."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from console.connections import Connection
from console.context import Context
from console.i18n import N_, _, count, fmt_number
from console.reconcile.compare import CATEGORIES, TITLES, localize, mode_label
from console.reconcile.runs import Run, export_csv, history, reconcile
from pages import _ondemand
from pages._ui import errors, ops_panels, session, shell
from pages._ui import format as fmt
from pages._ui.dircache import english_headers
from pages._ui.text import md_escape, plain_table

KEY_RUN = "result.reconcile.run"
# what each category means (translate where shown: _(HELP[category]))
HELP = {
    "not_managed": N_("6clicks accounts without an externalId: created just in time at sign-in or by hand, so Entra "
                      "never deactivates them when the person leaves."),
    "orphans": N_("Managed by SCIM and active in 6clicks, but gone from Entra, disabled there or not assigned to the "
                  "app any more: access that should not exist. Deactivate them below."),
    "missing": N_("Assigned and enabled in Entra, absent from 6clicks; with the latest provisioning failure and what "
                  "it means. Provision one on demand below to see why."),
    "attribute_drift": N_("Mapped attributes that differ. 6clicks applies no updates to them after creation: change "
                          "them by hand in 6clicks, or delete the user there and let Entra create them again."),
    "membership_drift": N_("For groups provisioned from Entra: members on one side only."),
    "conflicts": N_("Duplicate externalIds (never matched) and duplicate e-mails in 6clicks (Entra's matching by "
                    "e-mail fails on them)."),
}
# short metric labels where the title is long (translate where shown)
SHORT = {"not_managed": N_("Not managed"), "attribute_drift": N_("Attr. drift"),
         "membership_drift": N_("Member drift")}
# what an admin reads first in each table (the rest follows, scrolling sideways at 1280 px)
FIRST = {"orphans": ("userName", "reason"), "missing": ("upn", "note", "error_code", "explanation", "fix"),
         "attribute_drift": ("userName", "attribute", "in_6clicks", "in_entra"),
         "membership_drift": ("group", "userName", "side"), "conflicts": ("kind", "value", "userNames")}
# the categories whose rows are 6clicks users an operator can act on through the operations panel
ACTIONABLE = {"not_managed": "id", "orphans": "id", "attribute_drift": "id", "membership_drift": "user_id"}


def _table(conn: Connection, category: str, frame: pd.DataFrame) -> list[str]:
    """Show one category; returns the 6clicks user ids selected in it."""
    st.caption(_(HELP[category]))
    if not len(frame):
        st.success(_("None. {title}: 0.").format(title=_(TITLES[category])), icon=":material/check_circle:")
        return []
    shown = frame.drop(columns=[c for c in ("id", "user_id", "group_id") if c in frame.columns])
    first = [c for c in FIRST.get(category, ()) if c in shown.columns]
    shown = shown[first + [c for c in shown.columns if c not in first]]
    selectable = category in ACTIONABLE or category == "missing"
    shown = localize(shown, category)
    event = st.dataframe(plain_table(shown.astype(object).where(shown.notna(), "")), hide_index=True,
                         width="stretch", key=f"reconcile.table.{category}.{len(frame)}",
                         on_select="rerun", selection_mode="multi-row" if category in ACTIONABLE else "single-row")
    rows = list(event.selection.rows) if selectable else []
    if category in ACTIONABLE:
        column = ACTIONABLE[category]
        return sorted({str(frame[column].iloc[r]) for r in rows if 0 <= r < len(frame)})
    if category == "missing":
        if rows:
            row = frame.iloc[rows[0]]
            _ondemand.panel(conn, key="reconcile.ondemand", object_id=str(row["entraId"]),
                            label=str(row["upn"] or row["entraId"]))
        else:
            st.caption(_("Select a person to provision them on demand and see Entra's steps."))
    return []


def _history(ctx: Context, conn: Connection, run: Run) -> None:
    runs = history(ctx, conn)
    if len(runs) > 1:
        long = runs.melt(id_vars=["at"], value_vars=[c for c in CATEGORIES if c in runs.columns],
                         var_name="category", value_name="count")
        long["category"] = long["category"].map(lambda c: _(TITLES[c]))
        long["at"] = fmt.local_times(long["at"])
        # lines with the same counts lie on each other: a marker shape per category, and one hover for every
        # category at a run
        figure = px.line(long, x="at", y="count", color="category", symbol="category", markers=True,
                         labels={"at": _("Run ({zone})").format(zone=fmt.zone_name()), "count": _("Count"),
                                 "category": ""},
                         title=_("Each run's counts (orphans over time is the auditor's number)"))
        figure.update_xaxes(tickformat="%Y-%m-%d %H:%M", hoverformat="%Y-%m-%d %H:%M")  # the same in every language
        figure.update_layout(height=380, margin={"t": 50, "b": 10}, hovermode="x unified",
                             legend={"orientation": "h", "y": -0.38, "yanchor": "top", "x": 0})
        st.plotly_chart(figure, width="stretch")
    else:
        st.caption(_("The chart of runs appears after the second reconciliation."))
    if run.id is not None:
        english = english_headers("reconcile.csv.english")
        st.download_button(_("Download this run as CSV (evidence)"), export_csv(ctx, conn, run.id, english=english),
                           file_name=f"reconciliation-{conn.name}-{run.at:%Y%m%d-%H%M}.csv", mime="text/csv",
                           icon=":material/download:", key="reconcile.csv")


def main() -> None:
    shell.page_state("reconcile.")
    ctx = session.context()
    conn = session.connection()
    if conn is None:
        return
    st.title(_("Reconcile"))
    st.caption(_("Who should have access to 6clicks ({connection}), who has it, and who slipped through: Entra's "
                 "assignments next to 6clicks' directory. Nothing is changed by the comparison.").format(
        connection=md_escape(conn.name)))
    if conn.entra is None or not conn.entra.service_principal_id:
        st.info(_("Without Microsoft Graph settings only the 6clicks side is checked (accounts not managed by SCIM, "
                  "duplicates). With them the console also finds orphans, missing people and drift: Connection & "
                  "token > Microsoft Graph (permission Directory.Read.All)."), icon=":material/info:")
    a, b = st.columns([1, 3], vertical_alignment="center")
    refresh = b.checkbox(_("Read 6clicks again first"), value=True, key="reconcile.refresh",
                         help=_("Off: compare with the latest directory snapshot (faster)."))
    if a.button(_("Reconcile now"), type="primary", icon=":material/compare_arrows:", key="reconcile.run"):
        done = False
        with errors.guard(_("reconciling")), st.status(_("Reconciling…"), expanded=False) as box:
            st.session_state[KEY_RUN] = reconcile(ctx, conn, refresh=refresh, progress=box.write)
            done = True
        if done:
            st.rerun()  # draw the result with the layout every later run has (a selection must not shift it)
    run = st.session_state.get(KEY_RUN)
    if not isinstance(run, Run) or run.snapshot.connection != conn.name:
        runs = history(ctx, conn)
        if len(runs):
            last = runs.iloc[-1]
            orphans, missing, unmanaged = int(last["orphans"]), int(last["missing"]), int(last["not_managed"])
            st.caption(_("Last run {when}: {orphans}, {missing}, {not_managed}. Reconcile to see the details.").format(
                when=fmt.fmt_time(last["at"]), orphans=count(orphans, "{n} orphan", "{n} orphans"),
                missing=count(missing, "{n} missing", "{n} missing"),
                not_managed=count(unmanaged, "{n} not managed by SCIM", "{n} not managed by SCIM")))
        else:
            st.caption(_("Not reconciled yet. A run reads both sides; at 100,000 people it takes about a minute."))
        return
    counts = run.result.counts()
    shown = [c for c in CATEGORIES if c in run.result.tables]
    # three to a row: six side by side cut their labels at 1280 px (「未プロビジョ…」)
    for start in range(0, len(shown), 3):
        row = shown[start:start + 3]
        for column, category in zip(st.columns(3), row, strict=False):
            column.metric(_(SHORT.get(category, TITLES[category])), fmt_number(counts[category]),
                          help=_(HELP[category]))
    caption = _("Run {when} ({mode}); 6clicks as of {snapshot}.").format(
        when=fmt.fmt_time(run.at), mode=md_escape(mode_label(run.mode)),
        snapshot=fmt.fmt_time(run.snapshot.taken_at))
    if run.entra and run.mode == "delta":
        caption += " " + count(run.entra.changes, "Entra: {n} changed user read.", "Entra: {n} changed users read.")
        caption += " " + _("A delta run reads only what changed in Entra since the last run and applies it to the "
                           "copy kept then: the comparison is as complete as a full one.")
    st.caption(caption)
    for warning in run.result.warnings:
        st.warning(md_escape(warning, limit=600), icon=":material/warning:")
    tabs = st.tabs([f"{_(TITLES[c])} ({fmt_number(counts[c])})" for c in shown])
    selected: set[str] = set()
    for tab, category in zip(tabs, shown, strict=True):
        with tab, errors.guard(_("showing {title}").format(title=_(TITLES[category]))):
            selected.update(_table(conn, category, run.result.tables[category]))
    st.caption(_("Select rows in the tables (any tab) to act on those people below: deactivate orphans or accounts "
                 "not managed by SCIM, reactivate, add to or remove from a group. Each change is previewed, needs a "
                 "reason, is journaled and can be undone."))
    st.caption(_("The tables show this run; a change made below shows in them at the next reconciliation."))
    ops_panels.users_actions(conn, sorted(selected))
    st.subheader(_("History"))
    _history(ctx, conn, run)


shell.run_page(main, _("showing the reconciliation"))
