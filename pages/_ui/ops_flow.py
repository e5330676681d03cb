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
from console.i18n import N_, _, count, fmt_number, pgettext
from console.operations import CsvTargets, Plan, read_csv_targets
from console.operations.audit import ITEM_RESULT_WORDS, ITEM_STATE_WORDS, words
from console.operations.wording import shown, shown_lines
from pages._ui import dircache, errors, session, shell, signin
from pages._ui import format as fmt
from pages._ui.text import md_escape, plain, plain_table

#: the Users panel's actions: English label (the widget's value; shown translated with ``_``) -> kind
USER_KINDS = {
    N_("Deactivate"): "deactivate",
    N_("Reactivate"): "reactivate",
    N_("Add to a group or role"): "add",
    N_("Remove from a group or role"): "remove",
    N_("Move from one group or role to another"): "move",
}


def act_on(kind: str, n: int) -> str:
    """A short button text: "Deactivate 3 people" / 「3 人を無効化」."""
    if kind == "deactivate":
        return count(n, "Deactivate {n} person", "Deactivate {n} people")
    if kind == "reactivate":
        return count(n, "Reactivate {n} person", "Reactivate {n} people")
    if kind == "add":
        return count(n, "Add {n} person", "Add {n} people")
    if kind == "remove":
        return count(n, "Remove {n} person", "Remove {n} people")
    if kind == "move":
        return count(n, "Move {n} person", "Move {n} people")
    return count(n, "Change {n} person", "Change {n} people")


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
    kinds = {"group": pgettext("kind", "group"), "role": pgettext("kind", "role")}
    labels = pd.Series([_("{name} ({kind})").format(name=plain(name, empty="") or plain(gid),
                                                    kind=kinds.get(str(kind)) or plain(kind))
                        for name, gid, kind in zip(groups["label"], groups["id"], groups["kind"], strict=True)],
                       dtype=object)
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
        st.info(_("No groups or roles in the latest snapshot; refresh the directory first."), icon=":material/info:")
        return None
    labels = list(options)
    if kind in ("add", "remove"):
        if fixed_group:
            return {"group": fixed_group}
        label = st.selectbox(_("Group or role"), labels, index=None, key=state_key(panel, "group"),
                             placeholder=_("Choose a group or role"))
        return {"group": options[label]} if label else None
    a, b = st.columns(2)
    if fixed_group:
        src_label = next((lbl for lbl, gid in options.items() if gid == fixed_group), fixed_group)
        a.text_input(_("From"), value=src_label, disabled=True, key=state_key(panel, "from_fixed"))
        src = fixed_group
    else:
        chosen = a.selectbox(_("From"), labels, index=None, key=state_key(panel, "from"),
                             placeholder=_("Leave this one"))
        src = options[chosen] if chosen else ""
    dst_label = b.selectbox(_("To"), labels, index=None, key=state_key(panel, "to"), placeholder=_("Join this one"))
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


def confirm_dialog(panel: str, plan: Plan) -> None:
    """The confirmation (its title in the current language: the dialog is made per run)."""
    st.dialog(_("Confirm the change"), width="large", on_dismiss=_dismissed)(_confirm_body)(panel, plan)


def _confirm_body(panel: str, plan: Plan) -> None:
    st.markdown(f"**{md_escape(plan.confirmation_text(), limit=1000)}**")
    for warning in plan.warnings:
        st.warning(md_escape(shown(warning), limit=2000), icon=":material/sync_problem:")
    reason = st.text_area(_("Reason (required; recorded in the audit log)"), key=state_key(panel, "reason"),
                          placeholder=_("e.g. left the company, ticket 4711"), max_chars=1000)
    a, b = st.columns(2)
    go = a.button(act_on(plan.kind, plan.count), key=state_key(panel, "confirm_go"), type="primary",
                  icon=":material/check:")
    cancel = b.button(_("Cancel"), key=state_key(panel, "confirm_cancel"))
    if cancel:
        st.session_state[state_key(panel, "confirm")] = False
        st.rerun()
    if go:
        if not (reason or "").strip():
            st.error(_("A reason is required for every manual change. Say why, e.g. “left the company, ticket "
                       "4711”."), icon=":material/edit_note:")
            return
        st.session_state[state_key(panel, "run_reason")] = reason.strip()
        st.session_state[state_key(panel, "confirm")] = False
        st.rerun()


#: the preview table's columns (also the CSV's English header); shown translated
PREVIEW_COLUMNS = [N_("user"), N_("name"), N_("email"), N_("change"), N_("from"), N_("to"), N_("why skipped")]


def preview_frame(plan: Plan) -> pd.DataFrame:
    """The preview's rows with what they say in the current language (the stored texts through ``shown``)."""
    rows = pd.DataFrame(plan.rows(), columns=PREVIEW_COLUMNS)
    for column in ("from", "to", "why skipped"):
        rows[column] = [shown(v) for v in rows[column]]
    return rows


def _preview(panel: str, plan: Plan) -> None:
    st.markdown("#### " + _("Preview: {label}").format(label=md_escape(shown(plan.label))))
    changed, skipped = plan.count, len(plan.skipped)
    c1, c2 = st.columns(2)
    c1.metric(_("Will change"), fmt_number(changed))
    c2.metric(_("Skipped"), fmt_number(skipped))
    if plan.resolved_from == "snapshot" and plan.resolved_at is not None:
        st.caption(_("Directory snapshot of {when}.").format(when=fmt.fmt_time(plan.resolved_at)))
    for note in plan.notes:  # notes and warnings quote uploaded values and group names
        st.caption(md_escape(shown(note), limit=1000))
    for warning in plan.warnings:
        st.warning(md_escape(shown(warning), limit=2000), icon=":material/sync_problem:")
    rows = preview_frame(plan)
    words_for = {"yes": _("changes"), "skip": _("skipped")}
    view = rows.assign(change=rows["change"].map(words_for).fillna(rows["change"]))
    same_email = bool((rows["email"].fillna("").str.lower() == rows["user"].fillna("").str.lower()).all())
    st.dataframe(plain_table(view), hide_index=True, width="stretch", key=state_key(panel, "preview_table"),
                 height=min(38 + 35 * max(len(rows), 1), 420),
                 column_order=[c for c in rows.columns if not (c == "email" and same_email)],
                 column_config={"user": st.column_config.TextColumn(_("User"), width=220),
                                "name": st.column_config.TextColumn(_("Name"), width=140),
                                "email": st.column_config.TextColumn(_("E-mail"), width=180),
                                "change": st.column_config.TextColumn(_("Will it change?"), width=110),
                                "from": st.column_config.TextColumn(_("Now"), width=120),
                                "to": st.column_config.TextColumn(_("After"), width=120),
                                "why skipped": st.column_config.TextColumn(_("Why skipped"), width=180)})
    dircache.csv_download(_("Download the preview (CSV)"), rows, "preview", key=state_key(panel, "preview_csv"))
    a, b = st.columns([1, 1])
    if changed == 0:
        st.info(_("Nothing to change: everyone listed is skipped (see why above). Nothing will be sent to 6clicks."),
                icon=":material/info:")
    if a.button(_("Continue: {action}…").format(action=act_on(plan.kind, changed)),
                key=state_key(panel, "continue"), type="primary", disabled=changed == 0, icon=":material/arrow_forward:"):
        st.session_state[state_key(panel, "confirm")] = True
    if b.button(_("Cancel"), key=state_key(panel, "cancel")):
        clear(panel)
        st.rerun()


def _counting(bar: Any, what: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback: "<what>: 12 of 40" on ``bar``."""
    def report(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0,
                     text=_("{what}: {done} of {total}").format(what=what, done=fmt_number(done),
                                                                total=fmt_number(total)))

    return report


def _run(panel: str, conn: Connection, plan: Plan, reason: str) -> None:
    ops = operations
    label = md_escape(shown(plan.label))
    bar = st.progress(0.0, text=_("{what}: starting…").format(what=label))
    result = ops.execute(session.context(), conn, plan, reason, signin.operator(), source="ui",
                         progress=_counting(bar, label))
    st.session_state[state_key(panel, "result")] = result.batch_id
    st.session_state.pop(state_key(panel, "plan"), None)
    st.session_state.pop(state_key(panel, "reason"), None)
    shell.page_state(f"ops.{panel}.")


def show_result(panel: str, conn: Connection, batch_id: int) -> None:
    ops = operations
    result = ops.batch_result(session.context(), batch_id)
    summary = md_escape(result.summary(), limit=2000)  # in the current language (BatchResult.summary)
    if result.defects:
        show_defects(result)
    elif result.stop_reason:
        st.error(summary, icon=":material/key_off:")
        st.page_link("pages/connection.py", label=_("Open Connection & token"), icon=":material/key:")
    elif result.counts.get("failed"):
        st.warning(summary, icon=":material/warning:")
    else:
        st.success(summary, icon=":material/task_alt:")
    if result.directory_updated:
        st.caption(_("The directory tables show the new state: the people and groups were read back from 6clicks "
                     "(recorded in their History)."))
    elif result.directory_updated is False:
        st.warning(_("The tables could not be updated with the new state. Refresh the directory (sidebar) to see "
                     "it."), icon=":material/sync_problem:")
    items = result_items(result.items)
    st.dataframe(plain_table(items), hide_index=True, width="stretch", key=state_key(panel, "result_table"),
                 height=min(38 + 35 * max(len(items), 1), 420), column_config=result_column_config(),
                 column_order=result_columns(items))
    dircache.csv_download(_("Download the results (CSV)"), items, f"batch-{batch_id}",
                          key=state_key(panel, "result_csv"))
    a, b, c = st.columns(3, vertical_alignment="center")
    failed = result.counts.get("failed", 0)
    if failed and result.state == "completed" and a.button(
            count(failed, "Retry the {n} failed", "Retry the {n} failed"), key=state_key(panel, "retry"),
            icon=":material/replay:"):
        bar = st.progress(0.0, text=_("Retrying…"))
        ops.retry_failed(session.context(), conn, batch_id, signin.operator(),
                         progress=_counting(bar, _("Retrying")))
        st.rerun()
    if result.state == "stopped" and not result.defects and a.button(_("Resume"), key=state_key(panel, "resume"),
                                                                     icon=":material/play_arrow:"):
        bar = st.progress(0.0, text=_("Resuming…"))
        ops.resume(session.context(), conn, batch_id, signin.operator(), progress=_counting(bar, _("Resuming")))
        st.rerun()
    b.page_link("pages/activity.py", label=_("Action {id} in Activity").format(id=batch_id), icon=":material/history:")
    if c.button(_("Done"), key=state_key(panel, "done")):
        clear(panel)
        st.session_state[state_key(panel, "close")] = True  # the panel folds on the next run (its state is set already)
        st.rerun()


DEFECT_TEXT = N_("The server answered success but removed group members it was not asked to remove. This action "
                 "was stopped at once and the lost members were put back{restored}. The report below shows what "
                 "happened, the request and the server's answer.")
DEFECT_RESTORED = N_(" and verified")
DEFECT_NOT_RESTORED = N_(", but NOT all of them could be: add the missing people back by hand (listed below)")
DEFECT_TODO = N_("What to do: send the report to the service provider. Do not resume this action until they have "
                 "fixed it; make the change in Entra ID instead. It stays in Activity with the same report.")

#: the result table's columns (also the CSV's English header); shown translated
RESULT_COLUMNS = [N_("#"), N_("user"), N_("state"), N_("result"), N_("note"), N_("attempts"), N_("error"),
                  N_("what to do")]


def result_column_config() -> dict[str, Any]:
    return {"#": st.column_config.NumberColumn("#", width=40, format="%d"),
            "user": st.column_config.TextColumn(_("User"), width=220),
            "state": st.column_config.TextColumn(_("State"), width=80),
            "result": st.column_config.TextColumn(_("Result"), width=120),
            "note": st.column_config.TextColumn(_("Note"), width=150),
            "attempts": st.column_config.NumberColumn(_("Attempts"), width=70, format="%d"),
            "error": st.column_config.TextColumn(_("Error"), width=160),
            "what to do": st.column_config.TextColumn(pgettext("remedy", "What to do"), width=160)}


def result_columns(items: pd.DataFrame) -> list[str]:
    """The result table's columns that say something: notes, errors and remedies only when a row has one,
    attempts only when something was tried more than once (the table fits a 1280-px window; the CSV has all)."""
    def says(column: str) -> bool:
        return column in items.columns and bool(items[column].astype(str).str.strip().ne("").any())

    columns = ["#", "user", "state", "result"] + [c for c in ("note", "error", "what to do") if says(c)]
    if "attempts" in items.columns and bool((pd.to_numeric(items["attempts"], errors="coerce") > 1).any()):
        columns.insert(4, "attempts")
    return columns


def result_items(items: list[Any]) -> pd.DataFrame:
    """Per-person results in words (states and outcomes as people say them, not the journal's codes), in the
    current language (the journal's stored texts through ``shown``)."""
    return pd.DataFrame([{"#": i.seq, "user": i.user_name or i.user_id, "state": words(ITEM_STATE_WORDS, i.state),
                          "result": words(ITEM_RESULT_WORDS, i.outcome), "note": shown(i.note),
                          "attempts": i.attempts, "error": shown(i.error), "what to do": shown(i.remedy)}
                         for i in items], columns=RESULT_COLUMNS)


def show_defects(result: Any) -> None:
    """A server defect (collateral loss) and its repair. Fixed wording in the alert; everything that comes from
    the server or the directory (group names, ids, request and answer) only as plain text (``st.code``)."""
    restored = all(d.restored for d in result.defects)
    st.error(_(DEFECT_TEXT).format(restored=_(DEFECT_RESTORED) if restored else _(DEFECT_NOT_RESTORED)),
             icon=":material/report:")
    st.text(_(DEFECT_TODO))
    for defect in result.defects:
        st.code(shown_lines(defect.report), language=None, wrap_lines=True)


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
        st.warning(_("**{actions}** on {name} (interrupted or stopped half-way). Resume or abandon on the Activity "
                     "page.").format(actions=count(len(rows), "{n} unfinished action", "{n} unfinished actions"),
                                     name=md_escape(conn.name)), icon=":material/pending_actions:")
        st.page_link("pages/activity.py", label=_("Open Activity"), icon=":material/history:")


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
        errors.show_error(exc, what=_("preparing the preview"))
    return None
