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
from pages import _ui as ui

USER_KINDS = {
    "Deactivate": "deactivate",
    "Reactivate": "reactivate",
    "Add to a group or role": "add",
    "Remove from a group or role": "remove",
    "Move to another group or role": "move",
}
VERBS = {"deactivate": "Deactivate", "reactivate": "Reactivate", "add": "Add", "remove": "Remove", "move": "Move"}


def _k(panel: str, name: str) -> str:
    return f"ops.{panel}.{name}"


def _ops() -> Any:
    from console import operations

    return operations


# --- shared pieces ------------------------------------------------------------------------------------------


def group_options(conn: Any) -> dict[str, str]:
    """``{"Finance (group)": id, "Role - Auditor (role)": id}`` from the latest snapshot, sorted by name."""
    d = ui.directory(conn)
    if d is None or d.groups.empty:
        return {}
    groups = d.groups.sort_values("displayName", key=lambda s: s.astype(str).str.lower())
    # selectbox options are shown verbatim by Streamlit: ui.plain bounds them and makes control characters visible
    labels = pd.Series([f"{ui.plain(name, empty='') or ui.plain(gid)} ({ui.plain(kind)})" for name, gid, kind
                        in zip(groups["displayName"], groups["id"], groups["kind"], strict=True)], dtype=object)
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
    from console.people import display_label

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
    """Show ``plan`` as this panel's preview (replacing any earlier preview or result)."""
    st.session_state[_k(panel, "plan")] = plan
    st.session_state[_k(panel, "confirm")] = False
    st.session_state.pop(_k(panel, "result"), None)
    st.session_state.pop(_k(panel, "run_reason"), None)


def clear(panel: str) -> None:
    for name in ("plan", "confirm", "result", "run_reason", "reason"):
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
    go = a.button(f"{verb} {n} {'person' if n == 1 else 'people'}", key=_k(panel, "confirm_go"), type="primary",
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
    for note in plan.notes:  # notes and warnings quote uploaded values and group names
        st.caption(ui.md_escape(note, limit=1000))
    for warning in plan.warnings:
        st.warning(ui.md_escape(warning, limit=2000), icon=":material/sync_problem:")
    rows = pd.DataFrame(plan.rows(), columns=["user", "name", "email", "change", "from", "to", "why skipped"])
    st.dataframe(ui.plain_table(rows), hide_index=True, width="stretch", key=_k(panel, "preview_table"),
                 height=min(38 + 35 * max(len(rows), 1), 420),
                 column_config={"user": "User", "name": "Name", "email": "E-mail", "change": "Changes?", "from": "From",
                                "to": "To", "why skipped": "Why skipped"})
    ui.csv_download("Download the preview (CSV)", rows, "preview", key=_k(panel, "preview_csv"))
    a, b = st.columns([1, 1])
    if changed == 0:
        st.info("Nothing to change: everyone listed is skipped (see why above). Nothing will be sent to 6clicks.",
                icon=":material/info:")
    if a.button(f"Continue: {VERBS.get(plan.kind, 'change')} {changed:,}…", key=_k(panel, "continue"),
                type="primary", disabled=changed == 0, icon=":material/arrow_forward:"):
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
    items = pd.DataFrame([{"#": i.seq, "user": i.user_name or i.user_id, "state": i.state,
                           "result": i.outcome or "", "note": i.note or "", "attempts": i.attempts,
                           "error": i.error or "", "what to do": i.remedy or ""} for i in result.items])
    st.dataframe(ui.plain_table(items), hide_index=True, width="stretch", key=_k(panel, "result_table"),
                 height=min(38 + 35 * max(len(items), 1), 420))
    ui.csv_download("Download the results (CSV)", items, f"batch-{batch_id}", key=_k(panel, "result_csv"))
    a, b, c = st.columns(3)
    failed = result.counts.get("failed", 0)
    if failed and result.state == "completed" and a.button(f"Retry the {failed} failed", key=_k(panel, "retry"),
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
        st.rerun()


DEFECT_TEXT = ("The server answered success but removed group members it was not asked to remove. This action "
               "was stopped at once and the lost members were put back{restored}. The report below shows what "
               "happened, the request and the server's answer.")
DEFECT_TODO = ("What to do: send the report to the service provider. Do not resume this action until they have fixed "
               "it; make the change in Entra ID instead. It stays in Activity with the same report.")


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
        st.warning(f"**{len(rows)} unfinished action{'s' if len(rows) != 1 else ''}** on {ui.md_escape(conn.name)} (interrupted "
                   "or stopped half-way). Resume or abandon on the Activity page.", icon=":material/pending_actions:")
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


def users_actions(conn: Any, selected: list[str]) -> None:
    """Deactivate / reactivate / add to / remove from / move between groups or roles, for the selected users
    or a CSV of userNames or e-mails."""
    with ui.guard("preparing the operation"):
        unfinished_notice(conn)
        panel = "users"
        n = len(selected)
        title = f"Change the {n} selected user{'s' if n != 1 else ''}" if n else "Change users (select rows or upload a CSV)"
        with st.expander(title, expanded=bool(n) or active(panel), icon=":material/manage_accounts:"):
            source = st.segmented_control("Who", ["Selected users", "CSV file"], key=_k(panel, "source"),
                                          default="Selected users") or "Selected users"
            targets: Any = None
            if source == "CSV file":
                upload = st.file_uploader("CSV with one userName or e-mail per row (header optional)",
                                          type=["csv", "txt"], key=_k(panel, "csv"))
                if upload is not None:
                    try:
                        targets = read_upload(upload)
                        st.caption(f"{len(targets.values):,} people in the file. "
                                   + ui.md_escape(" ".join(targets.notes), limit=1000, empty=""))
                    except InvalidInput as exc:
                        ui.show_error(exc)
            else:
                targets = list(selected) or None
                if not selected:
                    st.caption("Select users in the table above, or switch to CSV file.")
            label = st.selectbox("Action", list(USER_KINDS), key=_k(panel, "kind"))
            kind = USER_KINDS[label]
            params = group_params(conn, kind, panel)
            ready = targets is not None and params is not None
            if st.button("Preview", key=_k(panel, "preview"), type="primary", disabled=not ready,
                         icon=":material/preview:"):
                ops = _ops()
                plan = _plan_or_error(lambda: ops.plan(ui.context(), conn, kind, targets, **(params or {})))
                if plan is not None:
                    start(panel, plan)
            flow(panel, conn)


# --- Groups & roles page ------------------------------------------------------------------------------------


def groups_actions(conn: Any, group_ids: list[str]) -> None:
    """For one selected group or role: remove chosen members, add people (by name or CSV), move members."""
    with ui.guard("preparing the operation"):
        unfinished_notice(conn)
        panel = "groups"
        if not group_ids:
            if active(panel):
                flow(panel, conn)
            return
        d = ui.directory(conn)
        if d is None:
            return
        gid = group_ids[0]
        row = d.groups[d.groups["id"] == gid]
        if row.empty:
            st.warning("That group is no longer in the latest snapshot; refresh the directory.")
            return
        name = ui.md_escape(row.iloc[0]["displayName"], empty="") or ui.md_escape(gid)  # a label: text only
        kind_word = ui.md_escape(row.iloc[0]["kind"])
        with st.expander(f"Change the members of {kind_word} {name}", expanded=active(panel),
                         icon=":material/group_add:"):
            if len(group_ids) > 1:
                st.caption(f"{len(group_ids)} selected; acting on the first, {name}.")
            action = st.segmented_control("Action", ["Remove members", "Add people", "Move members"],
                                          key=_k(panel, "action"), default="Remove members") or "Remove members"
            members = d.users[d.users["id"].isin(d.member_ids(gid))]
            targets: Any = None
            params: dict[str, str] | None = {"group": gid}
            kind = "remove"
            if action in ("Remove members", "Move members"):
                kind = "remove" if action == "Remove members" else "move"
                labels = member_options(members)
                if len(labels) > 2000:
                    st.caption(f"{len(labels):,} members: type or upload the ones to change instead of picking.")
                    chosen_text = st.text_area("userNames or e-mails, one per line", key=_k(panel, "typed"))
                    targets = [v for v in chosen_text.splitlines() if v.strip()] or None
                else:
                    chosen = st.multiselect("Members", sorted(labels, key=str.lower), key=_k(panel, "members"))
                    targets = [labels[c] for c in chosen] or None
                if kind == "move":
                    params = group_params(conn, "move", panel, fixed_group=gid)
            else:
                kind = "add"
                upload = st.file_uploader("CSV with one userName or e-mail per row (header optional)",
                                          type=["csv", "txt"], key=_k(panel, "csv"))
                typed = st.text_area("…or type userNames or e-mails, one per line", key=_k(panel, "add_typed"))
                values = [v for v in typed.splitlines() if v.strip()]
                if upload is not None:
                    try:
                        csv_targets = read_upload(upload)
                        csv_targets.values = values + csv_targets.values
                        targets = csv_targets
                        st.caption(f"{len(csv_targets.values):,} people listed. "
                                   + ui.md_escape(" ".join(csv_targets.notes), limit=1000, empty=""))
                    except InvalidInput as exc:
                        ui.show_error(exc)
                elif values:
                    targets = values
            ready = targets is not None and params is not None
            if st.button("Preview", key=_k(panel, "preview"), type="primary", disabled=not ready,
                         icon=":material/preview:"):
                ops = _ops()
                plan = _plan_or_error(lambda: ops.plan(ui.context(), conn, kind, targets, **(params or {})))
                if plan is not None:
                    start(panel, plan)
            flow(panel, conn)
