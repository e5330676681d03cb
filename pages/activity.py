"""Activity: the audit log of manual operations, unfinished actions (resume / abandon), action details with
per-person results, changes a later provisioning cycle reverted, and Undo through the same preview → confirm
path as the original change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from console.errors import ConsoleError
from pages import _ops_ui as ops_ui
from pages import _ui as ui

PANEL = "activity"
KEY_SELECTED = "activity.selected_id"
RANGES = {"24 hours": timedelta(days=1), "7 days": timedelta(days=7), "30 days": timedelta(days=30), "All": None}
OUTCOME_LABELS = {"success": "✅ success", "partial": "⚠️ partial", "failed": "❌ failed", "stopped": "⛔ stopped",
                  "defect": "🛑 server defect",
                  "interrupted": "⏸ interrupted", "running": "▶ running", "abandoned": "✖ abandoned",
                  "pending": "… pending"}


def unfinished(conn: Any) -> None:
    from console.operations import abandon, resume, unfinished_batches

    rows = unfinished_batches(ui.context(), conn)
    if not rows:
        return
    st.subheader("Unfinished actions", divider="orange")
    for u in rows:
        left = u.counts["pending"] + u.counts["running"]
        box = st.container(border=True)
        box.markdown(f"**Action {u.batch_id}: {ui.md_escape(u.label)}** by {ui.md_escape(u.operator)}, "
                     f"{ui.fmt_time(u.created_at)} — {u.counts['done']:,} done, {u.counts['failed']:,} failed, "
                     f"**{left:,} not run**.  \nReason: {ui.md_escape(u.reason, limit=1000)}")
        if u.live:
            box.info("Running right now in another window or process; it will show its result when done.",
                     icon=":material/sync:")
            continue
        box.caption(ui.md_escape(u.stop_reason, limit=1000, empty="Interrupted before every item ran."))
        if u.stop_remedy:
            box.caption(ui.md_escape(u.stop_remedy, limit=1000))
        a, b = box.columns(2)
        if a.button("Resume", key=f"activity.resume.{u.batch_id}", type="primary", icon=":material/play_arrow:"):
            bar = box.progress(0.0, text="Resuming…")
            try:
                result = resume(ui.context(), conn, u.batch_id, ui.operator(),
                                progress=lambda d, t, bar=bar: bar.progress(
                                    d / t if t else 1.0, text=f"Resuming: {d:,} of {t:,}"))
            except ConsoleError as exc:
                ui.show_error(exc)
            else:
                st.session_state[KEY_SELECTED] = result.batch_id
                st.rerun()
        with b.popover("Abandon", icon=":material/cancel:"):
            st.caption("Items not run yet are marked skipped; items that were in flight are marked with an unknown "
                       "outcome (check those people). This cannot be resumed afterwards.")
            note = st.text_input("Why (recorded)", key=f"activity.abandon_note.{u.batch_id}")
            if st.button("Abandon this action", key=f"activity.abandon.{u.batch_id}", type="primary"):
                try:
                    abandon(ui.context(), u.batch_id, ui.operator(), note or None)
                except ConsoleError as exc:
                    ui.show_error(exc)
                else:
                    st.rerun()


def filters(conn: Any) -> dict[str, Any]:
    from console.audit import operators

    a, b, c, d = st.columns([1.2, 1, 1, 1])
    span = a.segmented_control("Time", list(RANGES), default="7 days", key="activity.range") or "7 days"
    who = b.selectbox("Operator", ["Anyone", *operators(ui.context())], key="activity.operator",
                      format_func=ui.plain)  # options are plain text
    kinds = c.multiselect("Kind", ["deactivate", "reactivate", "add", "remove", "move"], key="activity.kinds")
    outcomes = d.multiselect("Outcome", list(OUTCOME_LABELS), key="activity.outcomes")
    delta = RANGES[span]
    return {"since": datetime.now(UTC) - delta if delta else None,
            "operator": None if who == "Anyone" else who, "kinds": kinds, "outcomes": outcomes}


def action_list(conn: Any, chosen: dict[str, Any]) -> list[Any]:
    from console.audit import find_reverted, list_actions

    actions = list_actions(ui.context(), connection=conn.name, since=chosen["since"], operator=chosen["operator"],
                           limit=2000)
    if chosen["kinds"]:
        actions = [a for a in actions if a.kind in chosen["kinds"]]
    if chosen["outcomes"]:
        actions = [a for a in actions if a.outcome in chosen["outcomes"]]
    find_reverted(ui.context(), conn, actions[:200])
    return actions


def flags(action: Any) -> str:
    parts = []
    if action.reverted:
        parts.append(f"reverted for {len({r.user_id for r in action.reverted})}")
    if action.undone_by:
        parts.append("undone by " + ", ".join(f"#{i}" for i in action.undone_by))
    if action.undo_of:
        parts.append(f"undoes #{action.undo_of}")
    return "; ".join(parts)


def table(actions: list[Any]) -> int | None:
    frame = pd.DataFrame([{
        "id": a.id, "when": ui.local(a.created_at), "operator": a.operator, "action": a.label,
        "outcome": OUTCOME_LABELS.get(a.outcome, a.outcome), "changed": a.changed_count,
        "failed": a.counts.get("failed", 0), "skipped": a.counts.get("skipped", 0), "reason": a.reason,
        "flags": flags(a)} for a in actions])
    event = st.dataframe(ui.plain_table(frame), hide_index=True, width="stretch", key="activity.table", on_select="rerun",
                         selection_mode="single-row", height=min(38 + 35 * len(frame), 460),
                         column_config={"id": st.column_config.NumberColumn("#", format="%d"),
                                        "when": st.column_config.DatetimeColumn("When", format="D MMM YYYY, HH:mm"),
                                        "operator": "Operator", "action": "Action", "outcome": "Outcome",
                                        "changed": "Changed", "failed": "Failed", "skipped": "Skipped",
                                        "reason": "Reason", "flags": "Flags"})
    ui.csv_download(f"Download these {len(frame):,} actions (CSV)", frame, "audit-log", key="activity.csv")
    rows = list(event.selection.rows) if event is not None else []
    if rows and 0 <= rows[0] < len(frame):
        st.session_state[KEY_SELECTED] = int(frame["id"].iloc[rows[0]])
    return st.session_state.get(KEY_SELECTED)


def detail(conn: Any, action_id: int) -> None:
    from console.audit import find_reverted, get_action
    from console.operations import retry_failed, undo_plan

    action = get_action(ui.context(), action_id)
    if action.connection != conn.name:
        return
    find_reverted(ui.context(), conn, [action])
    # labels name groups, operators and reasons are typed by people: all of it is shown as text
    st.subheader(f"Action {action.id}: {ui.md_escape(action.label)}", divider="gray")
    st.markdown(f"**{ui.md_escape(OUTCOME_LABELS.get(action.outcome, action.outcome))}** · by "
                f"**{ui.md_escape(action.operator)}** ({ui.md_escape(action.source)}) · "
                f"{ui.fmt_time(action.created_at)}  \n**Why:** {ui.md_escape(action.reason, limit=2000, multiline=True)}")
    if action.undo_of:
        st.caption(f"This action undoes action {action.undo_of}.")
    if action.undone_by:
        st.caption("Undone by action " + ", ".join(str(i) for i in action.undone_by) + ".")
    if action.defects:  # fixed wording; the report (server and directory text) only as plain text
        ops_ui.show_defects(action)
    elif action.stop_reason:
        st.error(ui.md_escape(f"{action.stop_reason} {action.stop_remedy or ''}", limit=2000), icon=":material/block:")
    if action.reverted:
        people = len({r.user_id for r in action.reverted})
        st.warning(f"**{people} change{'s' if people != 1 else ''} no longer hold{'s' if people == 1 else ''}** in "
                   "the latest snapshot: a later provisioning cycle (Entra is the source of truth) or someone else "
                   "changed them back. Make the change in Entra too (unassign the user from the enterprise app, "
                   "block sign-in, or change the group membership there).", icon=":material/sync_problem:")
        st.dataframe(ui.plain_table(pd.DataFrame([{"user": r.user_name or r.user_id, "change": r.change,
                                                   "now": r.now, "seen": ui.local(r.seen_at)}
                                                  for r in action.reverted])),
                     hide_index=True, width="stretch", key=f"activity.reverted.{action.id}")
    elif action.reverted is None and action.changed_count and action.finished_at:
        st.caption("Whether a later cycle reverted these changes shows once a snapshot newer than the action "
                   "is taken.")
    for note in action.notes:
        st.caption(ui.md_escape(note, limit=1000))
    items = pd.DataFrame([{"#": i.seq, "user": i.user_name or i.input, "name": i.display_name or "",
                           "e-mail": i.email or "",
                           "from": i.before_text or "", "to": i.after_text or "", "state": i.state,
                           "result": i.outcome or "", "note": i.note or "", "attempts": i.attempts,
                           "error": i.error or "", "what to do": i.remedy or ""} for i in action.items])
    st.dataframe(ui.plain_table(items), hide_index=True, width="stretch", key=f"activity.items.{action.id}",
                 height=min(38 + 35 * max(len(items), 1), 420))
    ui.csv_download("Download the per-person results (CSV)", items, f"action-{action.id}",
                    key=f"activity.items_csv.{action.id}")
    with st.expander("Timeline"):
        for e in action.events:
            st.markdown(f"- {ui.fmt_time(e.at)} · **{ui.md_escape(e.event)}** · {ui.md_escape(e.operator)} · "
                        f"{ui.md_escape(e.detail, limit=1000, empty='')}")
    a, b = st.columns(2)
    if action.changed_count and a.button(f"Undo ({action.changed_count} changed)…", key="activity.undo",
                                         icon=":material/undo:"):
        try:
            plan = undo_plan(ui.context(), conn, action.id)
        except ConsoleError as exc:
            ui.show_error(exc)
        else:
            ops_ui.start(PANEL, plan)
            st.rerun()
    failed = action.counts.get("failed", 0)
    if failed and action.state == "completed" and b.button(f"Retry the {failed} failed",
                                                           key="activity.retry", icon=":material/replay:"):
        bar = st.progress(0.0, text="Retrying…")
        try:
            retry_failed(ui.context(), conn, action.id, ui.operator(),
                         progress=lambda d, t: bar.progress(d / t if t else 1.0, text=f"Retrying: {d} of {t}"))
        except ConsoleError as exc:
            ui.show_error(exc)
        else:
            st.rerun()


def main() -> None:
    conn = ui.connection()
    st.title("Activity")
    ui.demo_label(conn)
    st.caption("Every manual change made from this console: who, when, why, the result per person, and a way "
               "back. Entra ID remains the source of truth: changes that disagree with it are reverted at its "
               "next provisioning cycle.")
    unfinished(conn)
    if ops_ui.active(PANEL):
        with st.container(border=True):
            ops_ui.flow(PANEL, conn)
    chosen = filters(conn)
    actions = action_list(conn, chosen)
    if not actions:
        st.info("No manual changes recorded for these filters. Deactivate, reactivate or move people from the "
                "Users or Groups & roles pages (or the command line) and they appear here.",
                icon=":material/history:")
        return
    selected = table(actions)
    if selected:
        detail(conn, int(selected))
    else:
        st.caption("Select an action to see its details, undo it or retry its failed items.")


ui.run_page(main, "showing the activity log")
