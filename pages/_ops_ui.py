"""Operation panels for the Users and Groups & roles pages, and the preview → confirm → result flow the
Activity page reuses for Undo.

The flow keeps its state in ``st.session_state`` under ``ops.<panel>.*``: the ``Plan`` (a preview; no secret
in it), a ``confirm`` flag that drives the ``@st.dialog`` (a dialog opened straight from a button loses the
confirm click on the rerun, see tooling-notes), the confirmed reason (consumed once by the run), and the id of
the last action run (its result is read back from the journal). Execution runs in the script thread, so the
executor's progress callback can update ``st.progress`` directly.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from console.errors import ConsoleError, InvalidInput
from console.text import count
from pages import _ui as ui

USER_KINDS = {
    "Deactivate": "deactivate",
    "Reactivate": "reactivate",
    "Add to a group or role": "add",
    "Remove from a group or role": "remove",
    "Move from one group or role to another": "move",
}
VERBS = {"deactivate": "Deactivate", "reactivate": "Reactivate", "add": "Add", "remove": "Remove", "move": "Move"}


def _k(panel: str, name: str) -> str:
    return f"ops.{panel}.{name}"


def _ops() -> Any:
    from console import operations

    return operations


# --- shared pieces ------------------------------------------------------------------------------------------


def group_options(conn: Any) -> dict[str, str]:
    """``{"Finance (group)": id, "Auditor (role)": id}`` from the latest snapshot: groups, then roles, by name."""
    d = ui.directory(conn)
    if d is None or d.groups.empty:
        return {}
    groups = d.groups.sort_values(["kind", "label"], key=lambda s: s.astype(str).str.lower())
    # selectbox options are shown verbatim by Streamlit: ui.plain bounds them and makes control characters visible;
    # a role is named without the role rule's marker, since the option says "role"
    labels = pd.Series([f"{ui.plain(name, empty='') or ui.plain(gid)} ({ui.plain(kind)})" for name, gid, kind
                        in zip(groups["label"], groups["id"], groups["kind"], strict=True)], dtype=object)
    ids = groups["id"].astype(str).reset_index(drop=True)
    dupes = labels.duplicated(keep=False)
    labels = labels.where(~dupes, labels + " · " + ids)
    return dict(zip(labels, ids, strict=True))


def group_params(conn: Any, kind: str, panel: str, *, fixed_group: str | None = None) -> dict[str, str] | None:
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
        label = st.selectbox("Group or role", labels, index=None, key=_k(panel, "group"),
                             placeholder="Choose a group or role")
        return {"group": options[label]} if label else None
    a, b = st.columns(2)
    if fixed_group:
        src_label = next((lbl for lbl, gid in options.items() if gid == fixed_group), fixed_group)
        a.text_input("From", value=src_label, disabled=True, key=_k(panel, "from_fixed"))
        src = fixed_group
    else:
        chosen = a.selectbox("From", labels, index=None, key=_k(panel, "from"), placeholder="Leave this one")
        src = options[chosen] if chosen else None
    dst_label = b.selectbox("To", labels, index=None, key=_k(panel, "to"), placeholder="Join this one")
    dst = options[dst_label] if dst_label else None
    if not src or not dst:
        return None
    return {"from_group": src, "to_group": dst}


def member_options(members: pd.DataFrame) -> dict[str, str]:
    """``{option text: user id}`` for picking members: the userName (else the display label), plain text, with
    the id added where two would read the same."""
    from console.directory.people import display_label

    texts = pd.Series([ui.plain(r.get("userName"), empty="") or ui.plain(display_label(r))
                       for r in members.to_dict("records")], dtype=object)
    ids = members["id"].astype(str).reset_index(drop=True)
    dupes = texts.duplicated(keep=False)
    texts = texts.where(~dupes, texts + " · " + ids)
    return dict(zip(texts, ids, strict=True))


def read_upload(upload: Any) -> Any:
    from console.operations import read_csv_targets

    return read_csv_targets(upload.getvalue(), name=f"“{upload.name}”")


def start(panel: str, plan: Any) -> None:
    """Show ``plan`` as this panel's preview (replacing any earlier preview or result). The panel's state belongs
    to the page that made it: opening another page drops it (``ui.page_state``)."""
    st.session_state[_k(panel, "plan")] = plan
    st.session_state[_k(panel, "confirm")] = False
    st.session_state.pop(_k(panel, "result"), None)
    st.session_state.pop(_k(panel, "run_reason"), None)
    ui.page_state(f"ops.{panel}.")


def clear(panel: str) -> None:
    """The panel's preview or result goes (Done, Cancel, another selection, another page)."""
    for name in ("plan", "confirm", "result", "run_reason", "reason", "for", "inputs"):
        st.session_state.pop(_k(panel, name), None)


def active(panel: str) -> bool:
    return bool(st.session_state.get(_k(panel, "plan")) or st.session_state.get(_k(panel, "result")))


def _dismissed() -> None:
    """The dialog's close button: forget the flag, or the dialog would reopen on the next rerun."""
    panel = st.session_state.get("ops.dialog_panel")
    if panel:
        st.session_state[_k(panel, "confirm")] = False


@st.dialog("Confirm the change", width="large", on_dismiss=_dismissed)
def confirm_dialog(panel: str, plan: Any) -> None:
    verb = VERBS.get(plan.kind, "Change")
    n = plan.count
    st.markdown(f"**{ui.md_escape(plan.confirmation_text(), limit=1000)}**")
    for warning in plan.warnings:
        st.warning(ui.md_escape(warning, limit=2000), icon=":material/sync_problem:")
    reason = st.text_area("Reason (required; recorded in the audit log)", key=_k(panel, "reason"),
                          placeholder="e.g. left the company, ticket 4711", max_chars=1000)
    a, b = st.columns(2)
    go = a.button(f"{verb} {count(n, 'person', 'people')}", key=_k(panel, "confirm_go"), type="primary",
                  icon=":material/check:")
    cancel = b.button("Cancel", key=_k(panel, "confirm_cancel"))
    if cancel:
        st.session_state[_k(panel, "confirm")] = False
        st.rerun()
    if go:
        if not (reason or "").strip():
            st.error("A reason is required for every manual change. Say why, e.g. “left the company, ticket 4711”.",
                     icon=":material/edit_note:")
            return
        st.session_state[_k(panel, "run_reason")] = reason.strip()
        st.session_state[_k(panel, "confirm")] = False
        st.rerun()


def _preview(panel: str, plan: Any) -> None:
    st.markdown(f"#### Preview: {ui.md_escape(plan.label)}")
    changed, skipped = plan.count, len(plan.skipped)
    c1, c2 = st.columns(2)
    c1.metric("Will change", f"{changed:,}")
    c2.metric("Skipped", f"{skipped:,}")
    if plan.resolved_from == "snapshot" and plan.resolved_at is not None:
        st.caption(f"Directory snapshot of {ui.fmt_time(plan.resolved_at)}.")
    for note in plan.notes:  # notes and warnings quote uploaded values and group names
        st.caption(ui.md_escape(note, limit=1000))
    for warning in plan.warnings:
        st.warning(ui.md_escape(warning, limit=2000), icon=":material/sync_problem:")
    rows = pd.DataFrame(plan.rows(), columns=["user", "name", "email", "change", "from", "to", "why skipped"])
    shown = rows.assign(change=rows["change"].map({"yes": "changes", "skip": "skipped"}).fillna(rows["change"]))
    same_email = bool((rows["email"].fillna("").str.lower() == rows["user"].fillna("").str.lower()).all())
    st.dataframe(ui.plain_table(shown), hide_index=True, width="stretch", key=_k(panel, "preview_table"),
                 height=min(38 + 35 * max(len(rows), 1), 420),
                 column_order=[c for c in rows.columns if not (c == "email" and same_email)],
                 column_config={"user": st.column_config.TextColumn("User", width=220),
                                "name": st.column_config.TextColumn("Name", width=140),
                                "email": st.column_config.TextColumn("E-mail", width=180),
                                "change": st.column_config.TextColumn("Will it change?", width=110),
                                "from": st.column_config.TextColumn("Now", width=120),
                                "to": st.column_config.TextColumn("After", width=120),
                                "why skipped": st.column_config.TextColumn("Why skipped", width=180)})
    ui.csv_download("Download the preview (CSV)", rows, "preview", key=_k(panel, "preview_csv"))
    a, b = st.columns([1, 1])
    if changed == 0:
        st.info("Nothing to change: everyone listed is skipped (see why above). Nothing will be sent to 6clicks.",
                icon=":material/info:")
    if a.button(f"Continue: {VERBS.get(plan.kind, 'change')} {count(changed, 'person', 'people')}…",
                key=_k(panel, "continue"), type="primary", disabled=changed == 0, icon=":material/arrow_forward:"):
        st.session_state[_k(panel, "confirm")] = True
    if b.button("Cancel", key=_k(panel, "cancel")):
        clear(panel)
        st.rerun()


def _run(panel: str, conn: Any, plan: Any, reason: str) -> None:
    ops = _ops()
    label = ui.md_escape(plan.label)
    bar = st.progress(0.0, text=f"{label}: starting…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"{label}: {done:,} of {total:,}")

    result = ops.execute(ui.context(), conn, plan, reason, ui.operator(), source="ui", progress=progress)
    st.session_state[_k(panel, "result")] = result.batch_id
    st.session_state.pop(_k(panel, "plan"), None)
    st.session_state.pop(_k(panel, "reason"), None)
    ui.page_state(f"ops.{panel}.")


def show_result(panel: str, conn: Any, batch_id: int) -> None:
    ops = _ops()
    result = ops.batch_result(ui.context(), batch_id)
    summary = ui.md_escape(result.summary(), limit=2000)
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
    st.dataframe(ui.plain_table(items), hide_index=True, width="stretch", key=_k(panel, "result_table"),
                 height=min(38 + 35 * max(len(items), 1), 420), column_config=RESULT_COLUMNS,
                 column_order=result_columns(items))
    ui.csv_download("Download the results (CSV)", items, f"batch-{batch_id}", key=_k(panel, "result_csv"))
    a, b, c = st.columns(3, vertical_alignment="center")
    failed = result.counts.get("failed", 0)
    if failed and result.state == "completed" and a.button(f"Retry the {failed:,} failed", key=_k(panel, "retry"),
                                                           icon=":material/replay:"):
        bar = st.progress(0.0, text="Retrying…")
        ops.retry_failed(ui.context(), conn, batch_id, ui.operator(),
                         progress=lambda d, t: bar.progress(d / t if t else 1.0, text=f"Retrying: {d} of {t}"))
        st.rerun()
    if result.state == "stopped" and not result.defects and a.button("Resume", key=_k(panel, "resume"),
                                                                     icon=":material/play_arrow:"):
        bar = st.progress(0.0, text="Resuming…")
        ops.resume(ui.context(), conn, batch_id, ui.operator(),
                   progress=lambda d, t: bar.progress(d / t if t else 1.0, text=f"Resuming: {d} of {t}"))
        st.rerun()
    b.page_link("pages/activity.py", label=f"Action {batch_id} in Activity", icon=":material/history:")
    if c.button("Done", key=_k(panel, "done")):
        clear(panel)
        st.session_state[_k(panel, "close")] = True  # the panel folds on the next run (its state is set already)
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
    from console.operations.audit import ITEM_RESULT_WORDS, ITEM_STATE_WORDS, words

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


def flow(panel: str, conn: Any) -> None:
    """Render this panel's preview / confirmation / run / result, whichever applies now."""
    plan = st.session_state.get(_k(panel, "plan"))
    reason = st.session_state.pop(_k(panel, "run_reason"), None)
    if plan is not None and reason:
        try:
            _run(panel, conn, plan, reason)
        except ConsoleError as exc:
            ui.show_error(exc)
            return
        st.rerun()
    if plan is not None:
        _preview(panel, plan)
        if st.session_state.get(_k(panel, "confirm")):
            st.session_state["ops.dialog_panel"] = panel
            confirm_dialog(panel, plan)
        return
    batch_id = st.session_state.get(_k(panel, "result"))
    if batch_id is not None:
        show_result(panel, conn, int(batch_id))


def unfinished_notice(conn: Any) -> None:
    """A warning when an action of this connection was interrupted or stopped (resumed on Activity)."""
    try:
        rows = [u for u in _ops().unfinished_batches(ui.context(), conn) if not u.live]
    except ConsoleError as exc:
        ui.show_error(exc)
        return
    if rows:
        st.warning(f"**{count(len(rows), 'unfinished action')}** on {ui.md_escape(conn.name)} (interrupted or "
                   "stopped half-way). Resume or abandon on the Activity page.", icon=":material/pending_actions:")
        st.page_link("pages/activity.py", label="Open Activity", icon=":material/history:")


def _plan_or_error(make: Any) -> Any | None:
    try:
        return make()
    except ConsoleError as exc:
        ui.show_error(exc)
    except Exception as exc:  # a scim_client error while resolving live (no snapshot): show with remedy
        ui.log_exception(exc)
        ui.show_error(exc, what="preparing the preview")
    return None


# --- Users page ---------------------------------------------------------------------------------------------

SOURCE_SELECTED = "Selected people"
SOURCE_CSV = "People in a CSV file"


def users_panel_label(n: int, source: str) -> str:
    """The change panel's heading for the way people are chosen (a CSV list is not "the selected people")."""
    if source == SOURCE_CSV:
        return "Change the people listed in a CSV file"
    if n:
        return f"Change the {count(n, 'selected person', 'selected people')}"
    return "Change people (select them in the table, or use a CSV file)"


def _forget_if_other(panel: str, subject: tuple[str, ...]) -> None:
    """Before the panel is drawn: a preview or result belongs to the people (or group) it was made for, so
    choosing others drops it and folds the panel; so does "Done"."""
    made_for = st.session_state.get(_k(panel, "for"))
    if subject and made_for is not None and tuple(made_for) != subject:
        clear(panel)
        st.session_state[_k(panel, "close")] = True
    if st.session_state.pop(_k(panel, "close"), False):
        st.session_state[_k(panel, "open")] = False


def _inputs(*parts: Any) -> str:
    """A fingerprint of what a preview is made from: who (the selection, the file's bytes, typed lines), what
    and where to."""
    import hashlib

    digest = hashlib.sha256()
    for part in parts:
        if hasattr(part, "getvalue"):          # an uploaded file: its name and bytes
            part = (getattr(part, "name", ""), hashlib.sha256(part.getvalue()).hexdigest())
        digest.update(repr(part).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _forget_if_changed(panel: str, inputs: str) -> None:
    """A preview (not yet run) belongs to the inputs it was made from: another file, other typed names, another
    action or destination drops it, so "Continue" can never run a list the operator has already replaced."""
    plan_key = _k(panel, "plan")
    if st.session_state.get(plan_key) is None or st.session_state.get(_k(panel, "result")) is not None:
        return
    if st.session_state.get(_k(panel, "inputs")) != inputs:
        for name in ("plan", "confirm", "run_reason", "reason"):
            st.session_state.pop(_k(panel, name), None)
        st.caption("The preview was dropped because what it was made from changed: press Preview again.")


def users_actions(conn: Any, selected: list[str]) -> None:
    """Deactivate / reactivate / add to / remove from / move between groups or roles, for the selected users
    or a CSV of userNames or e-mails. Collapsed until the operator opens it; no action is preselected."""
    with ui.guard("preparing the operation"):
        unfinished_notice(conn)
        panel = "users"
        ui.page_state(f"ops.{panel}.")
        source = st.session_state.get(_k(panel, "source")) or SOURCE_SELECTED
        _forget_if_other(panel, tuple(selected) if source == SOURCE_SELECTED else ())
        n = len(selected)
        made_for = st.session_state.get(_k(panel, "for")) or ()
        if not n and source == SOURCE_SELECTED and active(panel):
            # the run's new snapshot cleared the table's selection (its rows may list other people now): the
            # panel keeps the heading it was opened with, or Streamlit would fold it over the result
            n = len(made_for)
        with st.expander(users_panel_label(n, source), key=_k(panel, "open"), on_change="rerun",
                         icon=":material/manage_accounts:"):
            source = st.segmented_control("Who", [SOURCE_SELECTED, SOURCE_CSV], key=_k(panel, "source"),
                                          default=SOURCE_SELECTED) or SOURCE_SELECTED
            targets: Any = None
            if source == SOURCE_CSV:
                # any type: a workbook gets the decoder's remedy ("save it as CSV UTF-8"), not Streamlit's
                # "files are not allowed"
                upload = st.file_uploader("CSV with one userName or e-mail per row (header optional)",
                                          key=_k(panel, "csv"))
                if upload is not None:
                    try:
                        targets = read_upload(upload)
                        st.caption(f"{count(len(targets.values), 'person', 'people')} in the file. "
                                   + ui.md_escape(" ".join(targets.notes), limit=1000, empty=""))
                    except InvalidInput as exc:
                        ui.show_error(exc)
            else:
                targets = list(selected) or None
                if not selected:
                    st.caption("Select people in the table above, or choose “People in a CSV file”.")
            label = st.selectbox("What to do", list(USER_KINDS), index=None, key=_k(panel, "kind"),
                                 placeholder="Choose an action")
            kind = USER_KINDS.get(label) if label else None
            params = group_params(conn, kind, panel) if kind else None
            ready = targets is not None and params is not None
            inputs = _inputs(source, tuple(selected) if source == SOURCE_SELECTED else upload, kind, params)
            _forget_if_changed(panel, inputs)
            if st.button("Preview", key=_k(panel, "preview"), disabled=not ready, icon=":material/preview:",
                         help="Shows who would change and who is skipped. Nothing is sent to 6clicks yet."):
                ops = _ops()
                plan = _plan_or_error(lambda: ops.plan(ui.context(), conn, kind, targets, **(params or {})))
                if plan is not None:
                    start(panel, plan)
                    st.session_state[_k(panel, "for")] = tuple(selected) if source == SOURCE_SELECTED else ()
                    st.session_state[_k(panel, "inputs")] = inputs
            flow(panel, conn)


# --- Groups & roles page ------------------------------------------------------------------------------------

GROUP_ACTIONS = ["Add people", "Remove members", "Move members"]


def groups_actions(conn: Any, group_ids: list[str], member_ids: list[str] | None = None) -> None:
    """For one selected group or role: add people (by name or CSV), remove or move members. ``member_ids``:
    members selected in the group's member table, offered as the members to remove or move. Collapsed until the
    operator opens it; no action is preselected."""
    with ui.guard("preparing the operation"):
        unfinished_notice(conn)
        panel = "groups"
        ui.page_state(f"ops.{panel}.")
        if not group_ids:
            if active(panel):
                with st.container(border=True):
                    flow(panel, conn)
            return
        d = ui.directory(conn)
        if d is None:
            return
        gid = group_ids[0]
        _forget_if_other(panel, (gid,))
        row = d.groups[d.groups["id"] == gid]
        if row.empty:
            st.warning("That group is no longer in the latest snapshot; refresh the directory.")
            return
        name = ui.md_escape(row.iloc[0]["label"], empty="") or ui.md_escape(gid)  # a label: text only
        kind_word = ui.md_escape(row.iloc[0]["kind"])
        with st.expander(f"Change the members of {kind_word} {name}", key=_k(panel, "open"), on_change="rerun",
                         icon=":material/group_add:"):
            if len(group_ids) > 1:
                st.caption(f"{len(group_ids):,} selected; acting on the first, {name}.")
            action = st.segmented_control("What to do", GROUP_ACTIONS, key=_k(panel, "action"))
            members = d.users[d.users["id"].isin(d.member_ids(gid))]
            targets: Any = None
            params: dict[str, str] | None = {"group": gid}
            kind: str | None = None
            if action in ("Remove members", "Move members"):
                kind = "remove" if action == "Remove members" else "move"
                labels = member_options(members)
                if len(labels) > 2000:
                    st.caption(f"{len(labels):,} members: type or upload the ones to change instead of picking.")
                    chosen_text = st.text_area("userNames or e-mails, one per line", key=_k(panel, "typed"))
                    targets = [v for v in chosen_text.splitlines() if v.strip()] or None
                else:
                    picked = tuple(member_ids or ())
                    if picked != st.session_state.get(_k(panel, "picked")):  # the members selected above
                        st.session_state[_k(panel, "picked")] = picked
                        st.session_state[_k(panel, "members")] = [t for t, uid in labels.items() if uid in picked]
                    chosen = st.multiselect("Members", sorted(labels, key=str.lower), key=_k(panel, "members"),
                                            placeholder="Choose members (or select them in the table above)")
                    targets = [labels[c] for c in chosen if c in labels] or None
                if kind == "move":
                    params = group_params(conn, "move", panel, fixed_group=gid)
            elif action == "Add people":
                kind = "add"
                # any type: a workbook gets the decoder's remedy ("save it as CSV UTF-8"), not Streamlit's
                # "files are not allowed"
                upload = st.file_uploader("CSV with one userName or e-mail per row (header optional)",
                                          key=_k(panel, "csv"))
                typed = st.text_area("…or type userNames or e-mails, one per line", key=_k(panel, "add_typed"))
                values = [v for v in typed.splitlines() if v.strip()]
                if upload is not None:
                    try:
                        csv_targets = read_upload(upload)
                        csv_targets.values = values + csv_targets.values
                        targets = csv_targets
                        st.caption(f"{count(len(csv_targets.values), 'person', 'people')} listed. "
                                   + ui.md_escape(" ".join(csv_targets.notes), limit=1000, empty=""))
                    except InvalidInput as exc:
                        ui.show_error(exc)
                elif values:
                    targets = values
            else:
                st.caption("Choose what to do.")
            ready = kind is not None and targets is not None and params is not None
            inputs = _inputs(gid, action, kind, params, upload if action == "Add people" else None,
                             targets if not hasattr(targets, "values") else tuple(targets.values))
            _forget_if_changed(panel, inputs)
            if st.button("Preview", key=_k(panel, "preview"), disabled=not ready, icon=":material/preview:",
                         help="Shows who would change and who is skipped. Nothing is sent to 6clicks yet."):
                ops = _ops()
                plan = _plan_or_error(lambda: ops.plan(ui.context(), conn, kind, targets, **(params or {})))
                if plan is not None:
                    start(panel, plan)
                    st.session_state[_k(panel, "for")] = (gid,)
                    st.session_state[_k(panel, "inputs")] = inputs
            flow(panel, conn)
