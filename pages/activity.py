"""Activity: the audit log of manual operations, unfinished actions (resume / abandon), action details with
per-person results, changes a later provisioning cycle reverted, and Undo through the same preview → confirm
path as the original change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from console.connections import Connection
from console.errors import ConsoleError
from console.operations import abandon, resume, retry_failed, undo_plan, unfinished_batches
from console.operations.audit import (
    EVENT_WORDS,
    ITEM_RESULT_WORDS,
    ITEM_STATE_WORDS,
    KIND_WORDS,
    OUTCOME_WORDS,
    Action,
    find_reverted,
    get_action,
    list_actions,
    operators,
    words,
)
from console.text import count
from pages._ui import banners, dircache, errors, ops_flow, session, shell, signin
from pages._ui import format as fmt
from pages._ui.progress import count_progress
from pages._ui.text import md_escape, plain, plain_table

PANEL = "activity"
KEY_SELECTED = "activity.selected_id"
RANGES = {"Last 24 hours": timedelta(days=1), "Last 7 days": timedelta(days=7), "Last 30 days": timedelta(days=30),
          "All time": None}


def unfinished(conn: Connection) -> None:
    rows = unfinished_batches(session.context(), conn)
    if not rows:
        return
    st.subheader("Unfinished actions", divider="orange")
    for u in rows:
        left = u.counts["pending"] + u.counts["running"]
        box = st.container(border=True)
        box.markdown(f"**Action {u.batch_id}: {md_escape(u.label)}** by {md_escape(u.operator)}, "
                     f"{fmt.fmt_time(u.created_at)} — {u.counts['done']:,} done, {u.counts['failed']:,} failed, "
                     f"**{left:,} not run yet**.  \nReason: {md_escape(u.reason, limit=1000)}")
        if u.live:
            box.info("Running right now in another window or process; it will show its result when done.",
                     icon=":material/sync:")
            continue
        box.caption(md_escape(u.stop_reason, limit=1000, empty="Interrupted before every item ran."))
        if u.stop_remedy:
            box.caption(md_escape(u.stop_remedy, limit=1000))
        a, b = box.columns(2)
        if a.button("Resume", key=f"activity.resume.{u.batch_id}", type="primary", icon=":material/play_arrow:"):
            bar = box.progress(0.0, text="Resuming…")
            try:
                result = resume(session.context(), conn, u.batch_id, signin.operator(),
                                progress=count_progress(bar, "Resuming"))
            except ConsoleError as exc:
                errors.show_error(exc)
            else:
                st.session_state[KEY_SELECTED] = result.batch_id
                st.rerun()
        with b.popover("Abandon", icon=":material/cancel:"):
            st.caption("Items not run yet are marked skipped; items that were in flight are marked with an unknown "
                       "outcome (check those people). This cannot be resumed afterwards.")
            note = st.text_input("Why (recorded)", key=f"activity.abandon_note.{u.batch_id}")
            if st.button("Abandon this action", key=f"activity.abandon.{u.batch_id}", type="primary"):
                try:
                    abandon(session.context(), u.batch_id, signin.operator(), note or None)
                except ConsoleError as exc:
                    errors.show_error(exc)
                else:
                    st.rerun()


def filters(conn: Connection) -> dict[str, Any]:
    a, b, c, d = st.columns(4)
    span = a.selectbox("Period", list(RANGES), index=1, key="activity.range")
    who = b.selectbox("Operator", ["Anyone", *operators(session.context())], key="activity.operator",
                      format_func=plain)  # options are plain text
    kinds = c.multiselect("Kind", list(KIND_WORDS), key="activity.kinds", format_func=KIND_WORDS.__getitem__,
                          placeholder="Any kind")
    outcomes = d.multiselect("Outcome", list(OUTCOME_WORDS), key="activity.outcomes", format_func=OUTCOME_WORDS.__getitem__,
                             placeholder="Any outcome")
    delta = RANGES.get(span or "", timedelta(days=7))
    return {"since": session.context().now() - delta if delta else None,
            "operator": None if who == "Anyone" else who, "kinds": kinds, "outcomes": outcomes}


def action_list(conn: Connection, chosen: dict[str, Any]) -> list[Any]:
    actions = list_actions(session.context(), connection=conn.name, since=chosen["since"], operator=chosen["operator"],
                           limit=2000)
    if chosen["kinds"]:
        actions = [a for a in actions if a.kind in chosen["kinds"]]
    if chosen["outcomes"]:
        actions = [a for a in actions if a.outcome in chosen["outcomes"]]
    find_reverted(session.context(), conn, actions[:200])
    return actions


def flags(action: Action) -> str:
    parts = []
    if action.reverted:
        parts.append(f"reverted for {count(len({r.user_id for r in action.reverted}), 'person', 'people')}")
    if action.undone_by:
        parts.append("undone by " + ", ".join(f"#{i}" for i in action.undone_by))
    if action.undo_of:
        parts.append(f"undoes #{action.undo_of}")
    return "; ".join(parts)


def result_text(action: Action) -> str:
    """"Succeeded: 2 changed", "Partly failed: 3 changed, 1 failed", with the flags after a dot."""
    failed, skipped = action.counts.get("failed", 0), action.counts.get("skipped", 0)
    parts = [f"{action.changed_count:,} changed"] + ([f"{failed:,} failed"] if failed else []) + (
        [f"{skipped:,} skipped"] if skipped else [])
    text = f"{words(OUTCOME_WORDS, action.outcome)}: {', '.join(parts)}"
    extra = flags(action)
    return f"{text} · {extra}" if extra else text


def table(actions: list[Action]) -> int | None:
    frame = pd.DataFrame([{
        "id": a.id, "when": fmt.local(a.created_at), "action": f"#{a.id} {a.label}", "result": result_text(a),
        "reason": a.reason, "operator": a.operator} for a in actions])
    frame["when"] = fmt.local_times(frame["when"])
    st.caption("Select an action to see who it changed, undo it or retry what failed.")
    event = st.dataframe(plain_table(frame), hide_index=True, width="stretch", key="activity.table", on_select="rerun",
                         selection_mode="single-row", height=min(38 + 66 * len(frame), 560),
                         row_height=66,  # above 4 rem Streamlit wraps text: results and reasons are read whole
                         column_order=["when", "action", "result", "reason", "operator"],
                         column_config={"when": fmt.time_column("When", width=125),
                                        "action": st.column_config.TextColumn("Action", width=215),
                                        "result": st.column_config.TextColumn("Result", width=190),
                                        "reason": st.column_config.TextColumn("Reason", width=165),
                                        "operator": st.column_config.TextColumn("Operator", width=90)})
    export = pd.DataFrame([{
        "id": a.id, "when": fmt.fmt_time(a.created_at), "operator": a.operator, "action": a.label,
        "kind": words(KIND_WORDS, a.kind), "outcome": words(OUTCOME_WORDS, a.outcome), "changed": a.changed_count,
        "failed": a.counts.get("failed", 0), "skipped": a.counts.get("skipped", 0), "reason": a.reason,
        "flags": flags(a), "source": a.source} for a in actions])
    dircache.csv_download(f"Download these {count(len(frame), 'action')} (CSV)", export, "audit-log", key="activity.csv")
    rows = list(event.selection.rows) if event is not None else []
    if rows and 0 <= rows[0] < len(frame):
        st.session_state[KEY_SELECTED] = int(frame["id"].iloc[rows[0]])
    return st.session_state.get(KEY_SELECTED)


def detail(conn: Connection, action_id: int) -> None:
    action = get_action(session.context(), action_id)
    if action.connection != conn.name:
        return
    find_reverted(session.context(), conn, [action])
    # labels name groups, operators and reasons are typed by people: all of it is shown as text
    st.subheader(f"Action {action.id}: {md_escape(action.label)}", divider="gray")
    source = {"ui": "this console", "cli": "the command line", "api": "the console's library"}.get(action.source,
                                                                                                    action.source)
    st.markdown(f"**{md_escape(words(OUTCOME_WORDS, action.outcome))}** · by "
                f"**{md_escape(action.operator)}** from {md_escape(source)} · "
                f"{fmt.fmt_time(action.created_at)}  \n**Why:** {md_escape(action.reason, limit=2000, multiline=True)}")
    if action.undo_of:
        st.caption(f"This action undoes action {action.undo_of}.")
    if action.undone_by:
        st.caption("Undone by action " + ", ".join(str(i) for i in action.undone_by) + ".")
    if action.defects:  # fixed wording; the report (server and directory text) only as plain text
        ops_flow.show_defects(action)
    elif action.stop_reason:
        st.error(md_escape(f"{action.stop_reason} {action.stop_remedy or ''}", limit=2000), icon=":material/block:")
    if action.reverted:
        people = len({r.user_id for r in action.reverted})
        st.warning(f"**{count(people, 'change')} no longer hold{'s' if people == 1 else ''}** in "
                   "the latest snapshot: a later provisioning cycle (Entra is the source of truth) or someone else "
                   "changed them back. Make the change in Entra too (unassign the user from the enterprise app, "
                   "block sign-in, or change the group membership there).", icon=":material/sync_problem:")
        reverted = pd.DataFrame([{"user": r.user_name or r.user_id, "change": r.change, "now": r.now,
                                  "seen": r.seen_at} for r in action.reverted])
        reverted["seen"] = fmt.local_times(reverted["seen"])
        st.dataframe(plain_table(reverted), hide_index=True, width="stretch", key=f"activity.reverted.{action.id}",
                     column_config={"user": st.column_config.TextColumn("User", width=240),
                                    "change": st.column_config.TextColumn("Change made", width=200),
                                    "now": st.column_config.TextColumn("Now", width=180),
                                    "seen": fmt.time_column("Seen", width=140)})
    elif action.reverted is None and action.changed_count and action.finished_at:
        st.caption("Whether a later cycle reverted these changes shows once a snapshot newer than the action "
                   "is taken.")
    for note in action.notes:
        st.caption(md_escape(note, limit=1000))
    items = pd.DataFrame([{"#": i.seq, "user": i.user_name or i.input, "name": i.display_name or "",
                           "e-mail": i.email or "",
                           "from": i.before_text or "", "to": i.after_text or "",
                           "state": words(ITEM_STATE_WORDS, i.state), "result": words(ITEM_RESULT_WORDS, i.outcome),
                           "note": i.note or "", "attempts": i.attempts,
                           "error": i.error or "", "what to do": i.remedy or ""} for i in action.items])
    st.dataframe(plain_table(items), hide_index=True, width="stretch", key=f"activity.items.{action.id}",
                 height=min(38 + 35 * max(len(items), 1), 420),
                 column_order=["user", "name", "from", "to", "state", "result", "note", "error", "what to do"],
                 column_config={"user": st.column_config.TextColumn("User", width=200),
                                "name": st.column_config.TextColumn("Name", width=120),
                                "from": st.column_config.TextColumn("Before", width=110),
                                "to": st.column_config.TextColumn("After", width=110),
                                "state": st.column_config.TextColumn("State", width=70),
                                "result": st.column_config.TextColumn("Result", width=110),
                                "note": st.column_config.TextColumn("Note", width=150),
                                "error": st.column_config.TextColumn("Error", width=150),
                                "what to do": st.column_config.TextColumn("What to do", width=150)})
    dircache.csv_download("Download the per-person results (CSV)", items, f"action-{action.id}",
                    key=f"activity.items_csv.{action.id}")
    with st.expander("Timeline"):
        for e in action.events:
            st.markdown(f"- {fmt.fmt_time(e.at)} · **{md_escape(words(EVENT_WORDS, e.event))}** · "
                        f"{md_escape(e.operator)} · {md_escape(e.detail, limit=1000, empty='')}")
    a, b = st.columns(2)
    if action.changed_count and a.button(f"Undo: preview the way back for {count(action.changed_count, 'person', 'people')}…",
                                         key="activity.undo", icon=":material/undo:"):
        try:
            plan = undo_plan(session.context(), conn, action.id)
        except ConsoleError as exc:
            errors.show_error(exc)
        else:
            ops_flow.start(PANEL, plan)
            st.rerun()
    failed = action.counts.get("failed", 0)
    if failed and action.state == "completed" and b.button(f"Retry the {failed:,} failed",
                                                           key="activity.retry", icon=":material/replay:"):
        bar = st.progress(0.0, text="Retrying…")
        try:
            retry_failed(session.context(), conn, action.id, signin.operator(),
                         progress=count_progress(bar, "Retrying"))
        except ConsoleError as exc:
            errors.show_error(exc)
        else:
            st.rerun()


def main() -> None:
    conn = session.connection()
    st.title("Activity")
    banners.demo_label(conn)
    st.caption("Every manual change made from this console: who, when, why, the result per person, and a way "
               "back. Entra ID remains the source of truth: changes that disagree with it are reverted at its "
               "next provisioning cycle.")
    shell.page_state(f"ops.{PANEL}.", KEY_SELECTED)
    unfinished(conn)
    if ops_flow.active(PANEL):
        with st.container(border=True):
            ops_flow.flow(PANEL, conn)
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


shell.run_page(main, "showing the activity log")
