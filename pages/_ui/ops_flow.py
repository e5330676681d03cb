"""The preview → confirm → result flow of an operation, shared by the change panels of the Users and Groups &
roles pages (``pages._ui.ops_panels``) and by the Activity page's Undo and retry.

The flow keeps its state in ``st.session_state`` under ``ops.<panel>.*``: the ``Plan`` (a preview; no secret
in it), a ``confirm`` flag that drives the ``@st.dialog`` (a dialog opened straight from a button loses the
confirm click on the rerun, see tooling-notes), the confirmed reason (consumed once by the run), and the id of
the last action run (its result is read back from the journal). Execution runs in the script thread, so the
executor's progress callback can update ``st.progress`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from console import operations
from console.connections import Connection
from console.directory.people import display_label
from console.errors import ConsoleError, console_error
from console.operations import CsvTargets, Plan, read_csv_targets
from console.operations.audit import ITEM_RESULT_WORDS, ITEM_STATE_WORDS, words
from console.text import count
from pages._ui import dircache, errors, session, shell, signin
from pages._ui import format as fmt
from pages._ui.progress import count_progress
from pages._ui.text import md_escape, plain, plain_table

USER_KINDS = {
    "Deactivate": "deactivate",
    "Reactivate": "reactivate",
    "Add to a group or role": "add",
    "Remove from a group or role": "remove",
    "Move from one group or role to another": "move",
}
VERBS = {"deactivate": "Deactivate", "reactivate": "Reactivate", "add": "Add", "remove": "Remove", "move": "Move"}


def state_key(panel: str, name: str) -> str:
    return f"ops.{panel}.{name}"


# --- shared pieces ------------------------------------------------------------------------------------------


def group_options(conn: Connection) -> dict[str, str]:
    """``{"Finance (group)": id, "Auditor (role)": id}`` from the latest snapshot: groups, then roles, by name."""
    d = dircache.directory(conn)
    if d is None or d.groups.empty:
        return {}
    groups = d.groups.sort_values(["kind", "label"], key=lambda s: s.astype(str).str.lower())
    # selectbox options are shown verbatim by Streamlit: plain bounds them and makes control characters visible;
    # a role is named without the role rule's marker, since the option says "role"
    labels = pd.Series([f"{plain(name, empty='') or plain(gid)} ({plain(kind)})" for name, gid, kind
                        in zip(groups["label"], groups["id"], groups["kind"], strict=True)], dtype=object)
    ids = groups["id"].astype(str).reset_index(drop=True)
    dupes = labels.duplicated(keep=False)
    labels = labels.where(~dupes, labels + " · " + ids)
    return dict(zip(labels, ids, strict=True))


def group_params(conn: Connection, kind: str, panel: str, *, fixed_group: str | None = None) -> dict[str, str] | None:
    """Widgets for the group(s) an operation needs; None while incomplete."""
    if kind in ("deactivate", "reactivate"):
        return {}
    options = group_options(conn)
    if not options:
        st.info("No groups or roles in the latest snapshot; refresh the directory first.", icon=":material/info:")
        return None
    labels = list(options)
    if kind in ("add", "remove"):
        if fixed_group:
            return {"group": fixed_group}
        label = st.selectbox("Group or role", labels, index=None, key=state_key(panel, "group"),
                             placeholder="Choose a group or role")
        return {"group": options[label]} if label else None
    a, b = st.columns(2)
    if fixed_group:
        src_label = next((lbl for lbl, gid in options.items() if gid == fixed_group), fixed_group)
        a.text_input("From", value=src_label, disabled=True, key=state_key(panel, "from_fixed"))
        src = fixed_group
    else:
        chosen = a.selectbox("From", labels, index=None, key=state_key(panel, "from"), placeholder="Leave this one")
        src = options[chosen] if chosen else ""
    dst_label = b.selectbox("To", labels, index=None, key=state_key(panel, "to"), placeholder="Join this one")
    dst = options[dst_label] if dst_label else None
    if not src or not dst:
        return None
    return {"from_group": src, "to_group": dst}


def member_options(members: pd.DataFrame) -> dict[str, str]:
    """``{option text: user id}`` for picking members: the userName (else the display label), plain text, with
    the id added where two would read the same."""
    texts = pd.Series([plain(r.get("userName"), empty="") or plain(display_label(cast("dict[str, Any]", r)))
                       for r in members.to_dict("records")], dtype=object)
    ids = members["id"].astype(str).reset_index(drop=True)
    dupes = texts.duplicated(keep=False)
    texts = texts.where(~dupes, texts + " · " + ids)
    return dict(zip(texts, ids, strict=True))


def read_upload(upload: UploadedFile) -> CsvTargets:
    return read_csv_targets(upload.getvalue(), name=f"“{upload.name}”")


def start(panel: str, plan: Plan) -> None:
    """Show ``plan`` as this panel's preview (replacing any earlier preview or result). The panel's state belongs
    to the page that made it: opening another page drops it (``shell.page_state``)."""
    st.session_state[state_key(panel, "plan")] = plan
    st.session_state[state_key(panel, "confirm")] = False
    st.session_state.pop(state_key(panel, "result"), None)
    st.session_state.pop(state_key(panel, "run_reason"), None)
    shell.page_state(f"ops.{panel}.")


def clear(panel: str) -> None:
    """The panel's preview or result goes (Done, Cancel, another selection, another page)."""
    for name in ("plan", "confirm", "result", "run_reason", "reason", "for", "inputs"):
        st.session_state.pop(state_key(panel, name), None)


def active(panel: str) -> bool:
    return bool(st.session_state.get(state_key(panel, "plan")) or st.session_state.get(state_key(panel, "result")))


def _dismissed() -> None:
    """The dialog's close button: forget the flag, or the dialog would reopen on the next rerun."""
    panel = st.session_state.get("ops.dialog_panel")
    if panel:
        st.session_state[state_key(panel, "confirm")] = False


@st.dialog("Confirm the change", width="large", on_dismiss=_dismissed)
def confirm_dialog(panel: str, plan: Plan) -> None:
    verb = VERBS.get(plan.kind, "Change")
    n = plan.count
    st.markdown(f"**{md_escape(plan.confirmation_text(), limit=1000)}**")
    for warning in plan.warnings:
        st.warning(md_escape(warning, limit=2000), icon=":material/sync_problem:")
    reason = st.text_area("Reason (required; recorded in the audit log)", key=state_key(panel, "reason"),
                          placeholder="e.g. left the company, ticket 4711", max_chars=1000)
    a, b = st.columns(2)
    go = a.button(f"{verb} {count(n, 'person', 'people')}", key=state_key(panel, "confirm_go"), type="primary",
                  icon=":material/check:")
    cancel = b.button("Cancel", key=state_key(panel, "confirm_cancel"))
    if cancel:
        st.session_state[state_key(panel, "confirm")] = False
        st.rerun()
    if go:
        if not (reason or "").strip():
            st.error("A reason is required for every manual change. Say why, e.g. “left the company, ticket 4711”.",
                     icon=":material/edit_note:")
            return
        st.session_state[state_key(panel, "run_reason")] = reason.strip()
        st.session_state[state_key(panel, "confirm")] = False
        st.rerun()


def _preview(panel: str, plan: Plan) -> None:
    st.markdown(f"#### Preview: {md_escape(plan.label)}")
    changed, skipped = plan.count, len(plan.skipped)
    c1, c2 = st.columns(2)
    c1.metric("Will change", f"{changed:,}")
    c2.metric("Skipped", f"{skipped:,}")
    if plan.resolved_from == "snapshot" and plan.resolved_at is not None:
        st.caption(f"Directory snapshot of {fmt.fmt_time(plan.resolved_at)}.")
    for note in plan.notes:  # notes and warnings quote uploaded values and group names
        st.caption(md_escape(note, limit=1000))
    for warning in plan.warnings:
        st.warning(md_escape(warning, limit=2000), icon=":material/sync_problem:")
    rows = pd.DataFrame(plan.rows(), columns=["user", "name", "email", "change", "from", "to", "why skipped"])
    shown = rows.assign(change=rows["change"].map({"yes": "changes", "skip": "skipped"}).fillna(rows["change"]))
    same_email = bool((rows["email"].fillna("").str.lower() == rows["user"].fillna("").str.lower()).all())
    st.dataframe(plain_table(shown), hide_index=True, width="stretch", key=state_key(panel, "preview_table"),
                 height=min(38 + 35 * max(len(rows), 1), 420),
                 column_order=[c for c in rows.columns if not (c == "email" and same_email)],
                 column_config={"user": st.column_config.TextColumn("User", width=220),
                                "name": st.column_config.TextColumn("Name", width=140),
                                "email": st.column_config.TextColumn("E-mail", width=180),
                                "change": st.column_config.TextColumn("Will it change?", width=110),
                                "from": st.column_config.TextColumn("Now", width=120),
                                "to": st.column_config.TextColumn("After", width=120),
                                "why skipped": st.column_config.TextColumn("Why skipped", width=180)})
    dircache.csv_download("Download the preview (CSV)", rows, "preview", key=state_key(panel, "preview_csv"))
    a, b = st.columns([1, 1])
    if changed == 0:
        st.info("Nothing to change: everyone listed is skipped (see why above). Nothing will be sent to 6clicks.",
                icon=":material/info:")
    if a.button(f"Continue: {VERBS.get(plan.kind, 'change')} {count(changed, 'person', 'people')}…",
                key=state_key(panel, "continue"), type="primary", disabled=changed == 0, icon=":material/arrow_forward:"):
        st.session_state[state_key(panel, "confirm")] = True
    if b.button("Cancel", key=state_key(panel, "cancel")):
        clear(panel)
        st.rerun()


def _run(panel: str, conn: Connection, plan: Plan, reason: str) -> None:
    ops = operations
    label = md_escape(plan.label)
    bar = st.progress(0.0, text=f"{label}: starting…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"{label}: {done:,} of {total:,}")

    result = ops.execute(session.context(), conn, plan, reason, signin.operator(), source="ui", progress=progress)
    st.session_state[state_key(panel, "result")] = result.batch_id
    st.session_state.pop(state_key(panel, "plan"), None)
    st.session_state.pop(state_key(panel, "reason"), None)
    shell.page_state(f"ops.{panel}.")


def show_result(panel: str, conn: Connection, batch_id: int) -> None:
    ops = operations
    result = ops.batch_result(session.context(), batch_id)
    summary = md_escape(result.summary(), limit=2000)
    if result.defects:
        show_defects(result)
    elif result.stop_reason:
        st.error(summary, icon=":material/key_off:")
        st.page_link("pages/connection.py", label="Open Connection & token", icon=":material/key:")
    elif result.counts.get("failed"):
        st.warning(summary, icon=":material/warning:")
    else:
        st.success(summary, icon=":material/task_alt:")
    if result.directory_updated:
        st.caption("The directory tables show the new state: the people and groups were read back from 6clicks "
                   "(recorded in their History).")
    elif result.directory_updated is False:
        st.warning("The tables could not be updated with the new state. Refresh the directory (sidebar) to see "
                   "it.", icon=":material/sync_problem:")
    items = result_items(result.items)
    st.dataframe(plain_table(items), hide_index=True, width="stretch", key=state_key(panel, "result_table"),
                 height=min(38 + 35 * max(len(items), 1), 420), column_config=RESULT_COLUMNS,
                 column_order=result_columns(items))
    dircache.csv_download("Download the results (CSV)", items, f"batch-{batch_id}", key=state_key(panel, "result_csv"))
    a, b, c = st.columns(3, vertical_alignment="center")
    failed = result.counts.get("failed", 0)
    if failed and result.state == "completed" and a.button(f"Retry the {failed:,} failed", key=state_key(panel, "retry"),
                                                           icon=":material/replay:"):
        bar = st.progress(0.0, text="Retrying…")
        ops.retry_failed(session.context(), conn, batch_id, signin.operator(),
                         progress=count_progress(bar, "Retrying"))
        st.rerun()
    if result.state == "stopped" and not result.defects and a.button("Resume", key=state_key(panel, "resume"),
                                                                     icon=":material/play_arrow:"):
        bar = st.progress(0.0, text="Resuming…")
        ops.resume(session.context(), conn, batch_id, signin.operator(),
                   progress=count_progress(bar, "Resuming"))
        st.rerun()
    b.page_link("pages/activity.py", label=f"Action {batch_id} in Activity", icon=":material/history:")
    if c.button("Done", key=state_key(panel, "done")):
        clear(panel)
        st.session_state[state_key(panel, "close")] = True  # the panel folds on the next run (its state is set already)
        st.rerun()


DEFECT_TEXT = ("The server answered success but removed group members it was not asked to remove. This action "
               "was stopped at once and the lost members were put back{restored}. The report below shows what "
               "happened, the request and the server's answer.")
DEFECT_TODO = ("What to do: send the report to the service provider. Do not resume this action until they have fixed "
               "it; make the change in Entra ID instead. It stays in Activity with the same report.")


RESULT_COLUMNS = {"#": st.column_config.NumberColumn("#", width=40, format="%d"),
                  "user": st.column_config.TextColumn("User", width=220),
                  "state": st.column_config.TextColumn("State", width=80),
                  "result": st.column_config.TextColumn("Result", width=120),
                  "note": st.column_config.TextColumn("Note", width=150),
                  "attempts": st.column_config.NumberColumn("Attempts", width=70, format="%d"),
                  "error": st.column_config.TextColumn("Error", width=160),
                  "what to do": st.column_config.TextColumn("What to do", width=160)}


def result_columns(items: pd.DataFrame) -> list[str]:
    """The result table's columns that say something: notes, errors and remedies only when a row has one,
    attempts only when something was tried more than once (the table fits a 1280-px window; the CSV has all)."""
    def says(column: str) -> bool:
        return column in items.columns and bool(items[column].astype(str).str.strip().ne("").any())

    shown = ["#", "user", "state", "result"] + [c for c in ("note", "error", "what to do") if says(c)]
    if "attempts" in items.columns and bool((pd.to_numeric(items["attempts"], errors="coerce") > 1).any()):
        shown.insert(4, "attempts")
    return shown


def result_items(items: list[Any]) -> pd.DataFrame:
    """Per-person results in words (states and outcomes as people say them, not the journal's codes)."""
    return pd.DataFrame([{"#": i.seq, "user": i.user_name or i.user_id, "state": words(ITEM_STATE_WORDS, i.state),
                          "result": words(ITEM_RESULT_WORDS, i.outcome), "note": i.note or "",
                          "attempts": i.attempts, "error": i.error or "", "what to do": i.remedy or ""}
                         for i in items],
                        columns=["#", "user", "state", "result", "note", "attempts", "error", "what to do"])


def show_defects(result: Any) -> None:
    """A server defect (collateral loss) and its repair. Fixed wording in the alert; everything that comes from
    the server or the directory (group names, ids, request and answer) only as plain text (``st.code``)."""
    restored = all(d.restored for d in result.defects)
    st.error(DEFECT_TEXT.format(restored=" and verified" if restored else ", but NOT all of them could be: add the "
                                                                      "missing people back by hand (listed below)"),
             icon=":material/report:")
    st.text(DEFECT_TODO)
    for defect in result.defects:
        st.code(defect.report, language=None, wrap_lines=True)


def flow(panel: str, conn: Connection) -> None:
    """Render this panel's preview / confirmation / run / result, whichever applies now."""
    plan = st.session_state.get(state_key(panel, "plan"))
    reason = st.session_state.pop(state_key(panel, "run_reason"), None)
    if plan is not None and reason:
        try:
            _run(panel, conn, plan, reason)
        except ConsoleError as exc:
            errors.show_error(exc)
            return
        st.rerun()
    if plan is not None:
        _preview(panel, plan)
        if st.session_state.get(state_key(panel, "confirm")):
            st.session_state["ops.dialog_panel"] = panel
            confirm_dialog(panel, plan)
        return
    batch_id = st.session_state.get(state_key(panel, "result"))
    if batch_id is not None:
        show_result(panel, conn, int(batch_id))


def unfinished_notice(conn: Connection) -> None:
    """A warning when an action of this connection was interrupted or stopped (resumed on Activity)."""
    try:
        rows = [u for u in operations.unfinished_batches(session.context(), conn) if not u.live]
    except ConsoleError as exc:
        errors.show_error(exc)
        return
    if rows:
        st.warning(f"**{count(len(rows), 'unfinished action')}** on {md_escape(conn.name)} (interrupted or "
                   "stopped half-way). Resume or abandon on the Activity page.", icon=":material/pending_actions:")
        st.page_link("pages/activity.py", label="Open Activity", icon=":material/history:")


def make_plan(conn: Connection, kind: str, targets: list[str] | CsvTargets, params: dict[str, str]) -> Plan:
    """The preview of ``kind`` for ``targets``; ``params`` from ``group_params``."""
    return operations.plan(session.context(), conn, kind, targets, group=params.get("group"),
                           from_group=params.get("from_group"), to_group=params.get("to_group"))


def plan_or_error(make: Callable[[], Plan]) -> Plan | None:
    """``make()``, or None with the error shown (a SCIM error while resolving people live, without a snapshot,
    comes with its remedy; anything else is a bug and is logged)."""
    try:
        return make()
    except Exception as exc:
        if console_error(exc) is None:
            errors.log_exception(exc)
        errors.show_error(exc, what="preparing the preview")
    return None
