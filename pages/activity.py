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
from console.i18n import N_, _, count, fmt_number, ngettext, pgettext
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
from pages._ui import banners, dircache, errors, ops_flow, session, shell, signin
from pages._ui import format as fmt
from pages._ui.progress import count_progress
from pages._ui.text import md_escape, plain, plain_table

PANEL = "activity"
KEY_SELECTED = "activity.selected_id"
#: the period filter: code -> (label, span; None for all time)
RANGES: dict[str, tuple[str, timedelta | None]] = {"24h": (N_("Last 24 hours"), timedelta(days=1)),
                                                   "7d": (N_("Last 7 days"), timedelta(days=7)),
                                                   "30d": (N_("Last 30 days"), timedelta(days=30)),
                                                   "all": (N_("All time"), None)}
#: where an action was made from (``Action.source``)
SOURCES = {"ui": N_("this console"), "cli": N_("the command line"), "api": N_("the console's library")}


def said(table: dict[str, str], code: str | None, empty: str = "") -> str:
    """``console.operations.audit.words`` in the run's language (the audit's tables are marked with ``N_``)."""
    text = words(table, code, empty)
    return _(text) if text else text


def listing(items: list[str]) -> str:
    """Items joined as the language lists them ("a, b" / "a、b")."""
    return pgettext("list separator", ", ").join(items)


def unfinished(conn: Connection) -> None:
    rows = unfinished_batches(session.context(), conn)
    if not rows:
        return
    st.subheader(_("Unfinished actions"), divider="orange")
    for u in rows:
        left = u.counts["pending"] + u.counts["running"]
        box = st.container(border=True)
        box.markdown(_("**Action {id}: {label}** by {operator}, {when} — {done} done, {failed} failed, "
                       "**{left} not run yet**.  \nReason: {reason}").format(
            id=u.batch_id, label=md_escape(u.label), operator=md_escape(u.operator), when=fmt.fmt_time(u.created_at),
            done=fmt_number(u.counts["done"]), failed=fmt_number(u.counts["failed"]), left=fmt_number(left),
            reason=md_escape(u.reason, limit=1000)))
        if u.live:
            box.info(_("Running right now in another window or process; it will show its result when done."),
                     icon=":material/sync:")
            continue
        box.caption(md_escape(u.stop_reason, limit=1000) if u.stop_reason
                    else _("Interrupted before every item ran."))
        if u.stop_remedy:
            box.caption(md_escape(u.stop_remedy, limit=1000))
        a, b = box.columns(2)
        if a.button(_("Resume"), key=f"activity.resume.{u.batch_id}", type="primary", icon=":material/play_arrow:"):
            bar = box.progress(0.0, text=_("Resuming…"))
            try:
                result = resume(session.context(), conn, u.batch_id, signin.operator(),
                                progress=count_progress(bar, N_("Resuming")))
            except ConsoleError as exc:
                errors.show_error(exc)
            else:
                st.session_state[KEY_SELECTED] = result.batch_id
                st.rerun()
        with b.popover(_("Abandon"), icon=":material/cancel:"):
            st.caption(_("Items not run yet are marked skipped; items that were in flight are marked with an unknown "
                         "outcome (check those people). This cannot be resumed afterwards."))
            note = st.text_input(_("Why (recorded)"), key=f"activity.abandon_note.{u.batch_id}")
            if st.button(_("Abandon this action"), key=f"activity.abandon.{u.batch_id}", type="primary"):
                try:
                    abandon(session.context(), u.batch_id, signin.operator(), note or None)
                except ConsoleError as exc:
                    errors.show_error(exc)
                else:
                    st.rerun()


def filters(conn: Connection) -> dict[str, Any]:
    a, b, c, d = st.columns(4)
    span = a.selectbox(_("Period"), list(RANGES), index=1, key="activity.range",
                       format_func=lambda code: _(RANGES[code][0]))
    who = b.selectbox(_("Operator"), [None, *operators(session.context())], key="activity.operator",
                      format_func=lambda o: _("Anyone") if o is None else plain(o))  # options are plain text
    kinds = c.multiselect(_("Kind"), list(KIND_WORDS), key="activity.kinds",
                          format_func=lambda k: said(KIND_WORDS, k), placeholder=_("Any kind"))
    outcomes = d.multiselect(_("Outcome"), list(OUTCOME_WORDS), key="activity.outcomes",
                             format_func=lambda o: said(OUTCOME_WORDS, o), placeholder=_("Any outcome"))
    delta = RANGES.get(span or "", RANGES["7d"])[1]
    return {"since": session.context().now() - delta if delta else None,
            "operator": who, "kinds": kinds, "outcomes": outcomes}


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
        parts.append(count(len({r.user_id for r in action.reverted}), "reverted for {n} person",
                           "reverted for {n} people"))
    if action.undone_by:
        parts.append(_("undone by {actions}").format(actions=listing([f"#{i}" for i in action.undone_by])))
    if action.undo_of:
        parts.append(_("undoes #{id}").format(id=action.undo_of))
    return pgettext("list separator", "; ").join(parts)


def result_text(action: Action) -> str:
    """"Succeeded: 2 changed", "Partly failed: 3 changed, 1 failed", with the flags after a dot."""
    failed, skipped = action.counts.get("failed", 0), action.counts.get("skipped", 0)
    parts = [_("{n} changed").format(n=fmt_number(action.changed_count))] + (
        [_("{n} failed").format(n=fmt_number(failed))] if failed else []) + (
        [_("{n} skipped").format(n=fmt_number(skipped))] if skipped else [])
    text = f"{said(OUTCOME_WORDS, action.outcome)}: {listing(parts)}"
    extra = flags(action)
    return f"{text} · {extra}" if extra else text


def table(actions: list[Action]) -> int | None:
    frame = pd.DataFrame([{
        "id": a.id, "when": fmt.local(a.created_at), "action": f"#{a.id} {a.label}", "result": result_text(a),
        "reason": a.reason, "operator": a.operator} for a in actions])
    frame["when"] = fmt.local_times(frame["when"])
    st.caption(_("Select an action to see who it changed, undo it or retry what failed."))
    event = st.dataframe(plain_table(frame), hide_index=True, width="stretch", key="activity.table", on_select="rerun",
                         selection_mode="single-row", height=min(38 + 66 * len(frame), 560),
                         row_height=66,  # above 4 rem Streamlit wraps text: results and reasons are read whole
                         column_order=["when", "action", "result", "reason", "operator"],
                         column_config={"when": fmt.time_column(_("When"), width=125),
                                        "action": st.column_config.TextColumn(_("Action"), width=215),
                                        "result": st.column_config.TextColumn(_("Result"), width=190),
                                        "reason": st.column_config.TextColumn(_("Reason"), width=165),
                                        "operator": st.column_config.TextColumn(_("Operator"), width=90)})
    # the CSV's column names are messages (translated by ``csv_download`` unless English ones are asked for)
    export = pd.DataFrame([{
        N_("id"): a.id, N_("when"): fmt.fmt_time(a.created_at), N_("operator"): a.operator, N_("action"): a.label,
        N_("kind"): said(KIND_WORDS, a.kind), N_("outcome"): said(OUTCOME_WORDS, a.outcome),
        N_("changed"): a.changed_count, N_("failed"): a.counts.get("failed", 0),
        N_("skipped"): a.counts.get("skipped", 0), N_("reason"): a.reason, N_("flags"): flags(a),
        N_("source"): a.source} for a in actions])
    dircache.csv_download(count(len(frame), "Download this {n} action (CSV)", "Download these {n} actions (CSV)"),
                          export, "audit-log", key="activity.csv")
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
    st.subheader(_("Action {id}: {label}").format(id=action.id, label=md_escape(action.label)), divider="gray")
    source = _(SOURCES[action.source]) if action.source in SOURCES else action.source
    st.markdown(_("**{outcome}** · by **{operator}** from {source} · {when}  \n**Why:** {reason}").format(
        outcome=md_escape(said(OUTCOME_WORDS, action.outcome)), operator=md_escape(action.operator),
        source=md_escape(source), when=fmt.fmt_time(action.created_at),
        reason=md_escape(action.reason, limit=2000, multiline=True)))
    if action.undo_of:
        st.caption(_("This action undoes action {id}.").format(id=action.undo_of))
    if action.undone_by:
        st.caption(ngettext("Undone by action {actions}.", "Undone by actions {actions}.",
                            len(action.undone_by)).format(actions=listing([str(i) for i in action.undone_by])))
    if action.defects:  # fixed wording; the report (server and directory text) only as plain text
        ops_flow.show_defects(action)
    elif action.stop_reason:
        st.error(md_escape(f"{action.stop_reason} {action.stop_remedy or ''}", limit=2000), icon=":material/block:")
    if action.reverted:
        people = len({r.user_id for r in action.reverted})
        st.warning(count(people, "**{n} change no longer holds** in the latest snapshot: a later provisioning cycle "
                         "(Entra is the source of truth) or someone else changed it back. Make the change in Entra "
                         "too (unassign the user from the enterprise app, block sign-in, or change the group "
                         "membership there).",
                         "**{n} changes no longer hold** in the latest snapshot: a later provisioning cycle "
                         "(Entra is the source of truth) or someone else changed them back. Make the change in Entra "
                         "too (unassign the user from the enterprise app, block sign-in, or change the group "
                         "membership there)."), icon=":material/sync_problem:")
        reverted = pd.DataFrame([{"user": r.user_name or r.user_id, "change": r.change, "now": r.now,
                                  "seen": r.seen_at} for r in action.reverted])
        reverted["seen"] = fmt.local_times(reverted["seen"])
        st.dataframe(plain_table(reverted), hide_index=True, width="stretch", key=f"activity.reverted.{action.id}",
                     column_config={"user": st.column_config.TextColumn(_("User"), width=240),
                                    "change": st.column_config.TextColumn(_("Change made"), width=200),
                                    "now": st.column_config.TextColumn(_("Now"), width=180),
                                    "seen": fmt.time_column(_("Seen"), width=140)})
    elif action.reverted is None and action.changed_count and action.finished_at:
        st.caption(_("Whether a later cycle reverted these changes shows once a snapshot newer than the action "
                     "is taken."))
    for note in action.notes:
        st.caption(md_escape(note, limit=1000))
    # the column names are messages: the CSV below has them in the operator's language (``csv_download``)
    items = pd.DataFrame([{"#": i.seq, N_("user"): i.user_name or i.input, N_("name"): i.display_name or "",
                           N_("e-mail"): i.email or "",
                           N_("from"): i.before_text or "", N_("to"): i.after_text or "",
                           N_("state"): said(ITEM_STATE_WORDS, i.state),
                           N_("result"): said(ITEM_RESULT_WORDS, i.outcome),
                           N_("note"): i.note or "", N_("attempts"): i.attempts,
                           N_("error"): i.error or "", N_("what to do"): i.remedy or ""} for i in action.items])
    st.dataframe(plain_table(items), hide_index=True, width="stretch", key=f"activity.items.{action.id}",
                 height=min(38 + 35 * max(len(items), 1), 420),
                 column_order=["user", "name", "from", "to", "state", "result", "note", "error", "what to do"],
                 column_config={"user": st.column_config.TextColumn(_("User"), width=200),
                                "name": st.column_config.TextColumn(_("Name"), width=120),
                                "from": st.column_config.TextColumn(_("Before"), width=110),
                                "to": st.column_config.TextColumn(_("After"), width=110),
                                "state": st.column_config.TextColumn(_("State"), width=70),
                                "result": st.column_config.TextColumn(_("Result"), width=110),
                                "note": st.column_config.TextColumn(_("Note"), width=150),
                                "error": st.column_config.TextColumn(_("Error"), width=150),
                                "what to do": st.column_config.TextColumn(pgettext("remedy", "What to do"), width=150)})
    dircache.csv_download(_("Download the per-person results (CSV)"), items, f"action-{action.id}",
                          key=f"activity.items_csv.{action.id}")
    with st.expander(_("Timeline")):
        for e in action.events:
            st.markdown(f"- {fmt.fmt_time(e.at)} · **{md_escape(said(EVENT_WORDS, e.event))}** · "
                        f"{md_escape(e.operator)} · {md_escape(e.detail, limit=1000, empty='')}")
    a, b = st.columns(2)
    if action.changed_count and a.button(count(action.changed_count, "Undo: preview the way back for {n} person…",
                                               "Undo: preview the way back for {n} people…"),
                                         key="activity.undo", icon=":material/undo:"):
        try:
            plan = undo_plan(session.context(), conn, action.id)
        except ConsoleError as exc:
            errors.show_error(exc)
        else:
            ops_flow.start(PANEL, plan)
            st.rerun()
    failed = action.counts.get("failed", 0)
    if failed and action.state == "completed" and b.button(_("Retry the {n} failed").format(n=fmt_number(failed)),
                                                           key="activity.retry", icon=":material/replay:"):
        bar = st.progress(0.0, text=_("Retrying…"))
        try:
            retry_failed(session.context(), conn, action.id, signin.operator(),
                         progress=count_progress(bar, N_("Retrying")))
        except ConsoleError as exc:
            errors.show_error(exc)
        else:
            st.rerun()


def main() -> None:
    conn = session.connection()
    st.title(_("Activity"))
    banners.demo_label(conn)
    st.caption(_("Every manual change made from this console: who, when, why, the result per person, and a way "
                 "back. Entra ID remains the source of truth: changes that disagree with it are reverted at its "
                 "next provisioning cycle."))
    shell.page_state(f"ops.{PANEL}.", KEY_SELECTED)
    unfinished(conn)
    if ops_flow.active(PANEL):
        with st.container(border=True):
            ops_flow.flow(PANEL, conn)
    chosen = filters(conn)
    actions = action_list(conn, chosen)
    if not actions:
        st.info(_("No manual changes recorded for these filters. Deactivate, reactivate or move people from the "
                  "Users or Groups & roles pages (or the command line) and they appear here."),
                icon=":material/history:")
        return
    selected = table(actions)
    if selected:
        detail(conn, int(selected))


shell.run_page(main, N_("showing the activity log"))
