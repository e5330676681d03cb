"""Reconcile: Entra and 6clicks side by side (``console.reconcile``). Counts per category, one table each, the
history of runs (orphans over time) and each run's CSV for evidence. Acting on a result goes through the usual
operations panel (preview, reason, journal, undo) or provision on demand; the reconciliation changes nothing."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from console.connections import Connection
from console.context import Context
from console.reconcile.compare import CATEGORIES, TITLES
from console.reconcile.runs import Run, export_csv, history, reconcile
from pages import _ondemand
from pages._ui import errors, ops_panels, session, shell
from pages._ui import format as fmt
from pages._ui.text import md_escape, plain_table

KEY_RUN = "result.reconcile.run"
HELP = {
    "not_managed": "6clicks accounts without an externalId: created just in time at sign-in or by hand, so Entra "
                   "never deactivates them when the person leaves.",
    "orphans": "Managed by SCIM and active in 6clicks, but gone from Entra, disabled there or not assigned to the "
               "app any more: access that should not exist. Deactivate them below.",
    "missing": "Assigned and enabled in Entra, absent from 6clicks; with the latest provisioning failure and what "
               "it means. Provision one on demand below to see why.",
    "attribute_drift": "Mapped attributes that differ. 6clicks applies no updates to them after creation: change "
                       "them by hand in 6clicks, or delete the user there and let Entra create them again.",
    "membership_drift": "For groups provisioned from Entra: members on one side only.",
    "conflicts": "Duplicate externalIds (never matched) and duplicate e-mails in 6clicks (Entra's matching by "
                 "e-mail fails on them).",
}
SHORT = {"not_managed": "Not managed", "attribute_drift": "Attr. drift", "membership_drift": "Member drift"}
# what an admin reads first in each table (the rest follows, scrolling sideways at 1280 px)
FIRST = {"orphans": ("userName", "reason"), "missing": ("upn", "error_code", "explanation", "fix"),
         "attribute_drift": ("userName", "attribute", "in_6clicks", "in_entra"),
         "membership_drift": ("group", "userName", "side"), "conflicts": ("kind", "value", "userNames")}
# the categories whose rows are 6clicks users an operator can act on through the operations panel
ACTIONABLE = {"not_managed": "id", "orphans": "id", "attribute_drift": "id", "membership_drift": "user_id"}


def _table(conn: Connection, category: str, frame: pd.DataFrame) -> list[str]:
    """Show one category; returns the 6clicks user ids selected in it."""
    st.caption(HELP[category])
    if not len(frame):
        st.success(f"None. {TITLES[category]}: 0.", icon=":material/check_circle:")
        return []
    shown = frame.drop(columns=[c for c in ("id", "user_id", "group_id") if c in frame.columns])
    first = [c for c in FIRST.get(category, ()) if c in shown.columns]
    shown = shown[first + [c for c in shown.columns if c not in first]]
    selectable = category in ACTIONABLE or category == "missing"
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
            st.caption("Select a person to provision them on demand and see Entra's steps.")
    return []


def _history(ctx: Context, conn: Connection, run: Run) -> None:
    runs = history(ctx, conn)
    if len(runs) > 1:
        long = runs.melt(id_vars=["at"], value_vars=[c for c in CATEGORIES if c in runs.columns],
                         var_name="category", value_name="count")
        long["category"] = long["category"].map(TITLES)
        long["at"] = fmt.local_times(long["at"])
        figure = px.line(long, x="at", y="count", color="category", markers=True,
                         labels={"at": f"Run ({fmt.zone_name()})", "count": "Count", "category": ""},
                         title="Each run's counts (orphans over time is the auditor's number)")
        figure.update_layout(height=320, margin={"t": 50, "b": 10}, legend={"orientation": "h", "y": -0.25})
        st.plotly_chart(figure, width="stretch")
    else:
        st.caption("The chart of runs appears after the second reconciliation.")
    if run.id is not None:
        st.download_button("Download this run as CSV (evidence)", export_csv(ctx, conn, run.id),
                           file_name=f"reconciliation-{conn.name}-{run.at:%Y%m%d-%H%M}.csv", mime="text/csv",
                           icon=":material/download:", key="reconcile.csv")


def main() -> None:
    shell.page_state("reconcile.")
    ctx = session.context()
    conn = session.connection()
    if conn is None:
        return
    st.title("Reconcile")
    st.caption(f"Who should have access to 6clicks ({md_escape(conn.name)}), who has it, and who slipped through: "
               "Entra's assignments next to 6clicks' directory. Nothing is changed by the comparison.")
    if conn.entra is None or not conn.entra.service_principal_id:
        st.info("Without Microsoft Graph settings only the 6clicks side is checked (accounts not managed by SCIM, "
                "duplicates). With them the console also finds orphans, missing people and drift: Connection & "
                "token > Microsoft Graph (permission Directory.Read.All).", icon=":material/info:")
    a, b = st.columns([1, 3], vertical_alignment="center")
    refresh = b.checkbox("Read 6clicks again first", value=True, key="reconcile.refresh",
                         help="Off: compare with the latest directory snapshot (faster).")
    if a.button("Reconcile now", type="primary", icon=":material/compare_arrows:", key="reconcile.run"):
        done = False
        with errors.guard("reconciling"), st.status("Reconciling…", expanded=False) as box:
            st.session_state[KEY_RUN] = reconcile(ctx, conn, refresh=refresh, progress=box.write)
            done = True
        if done:
            st.rerun()  # draw the result with the layout every later run has (a selection must not shift it)
    run = st.session_state.get(KEY_RUN)
    if not isinstance(run, Run) or run.snapshot.connection != conn.name:
        runs = history(ctx, conn)
        if len(runs):
            last = runs.iloc[-1]
            st.caption(f"Last run {fmt.fmt_time(last['at'])}: {int(last['orphans'])} orphans, {int(last['missing'])} "
                       f"missing, {int(last['not_managed'])} not managed by SCIM. Reconcile to see the details.")
        else:
            st.caption("Not reconciled yet. A run reads both sides; at 100,000 people it takes about a minute.")
        return
    counts = run.result.counts()
    shown = [c for c in CATEGORIES if c in run.result.tables]
    for column, category in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(SHORT.get(category, TITLES[category]), f"{counts[category]:,}", help=HELP[category])
    st.caption(f"Run {fmt.fmt_time(run.at)} ({md_escape(run.mode)}); 6clicks as of {fmt.fmt_time(run.snapshot.taken_at)}."
               + (f" Entra: {run.entra.changes:,} changed users read." if run.entra and run.mode == "delta" else ""))
    for warning in run.result.warnings:
        st.warning(md_escape(warning, limit=600), icon=":material/warning:")
    tabs = st.tabs([f"{TITLES[c]} ({counts[c]:,})" for c in shown])
    selected: set[str] = set()
    for tab, category in zip(tabs, shown, strict=True):
        with tab, errors.guard(f"showing {TITLES[category]}"):
            selected.update(_table(conn, category, run.result.tables[category]))
    st.caption("Select rows in the tables (any tab) to act on those people below: deactivate orphans or accounts "
               "not managed by SCIM, reactivate, add to or remove from a group. Each change is previewed, needs a "
               "reason, is journaled and can be undone.")
    ops_panels.users_actions(conn, sorted(selected))
    st.subheader("History")
    _history(ctx, conn, run)


shell.run_page(main, "showing the reconciliation")
