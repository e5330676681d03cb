"""The change panels under the Users table (deactivate, reactivate, add to / remove from / move between groups
or roles, for the selected people or a CSV list) and under the Groups & roles table (add people, remove or move
members), both folded until opened, with no action chosen. They run through ``pages._ui.ops_flow``."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

import streamlit as st

from console.connections import Connection
from console.errors import InvalidInput
from console.i18n import N_, _, count, fmt_number
from console.operations import CsvTargets
from console.operations.wording import shown
from pages._ui import dircache, errors, shell
from pages._ui.ops_flow import (
    USER_KINDS,
    active,
    clear,
    flow,
    group_params,
    make_plan,
    member_options,
    plan_or_error,
    read_upload,
    start,
    state_key,
    unfinished_notice,
)
from pages._ui.text import md_escape

# --- Users page ---------------------------------------------------------------------------------------------

# the ways people are chosen: English (the widget's value), shown translated
SOURCE_SELECTED = N_("Selected people")
SOURCE_CSV = N_("People in a CSV file")


def users_panel_label(n: int, source: str) -> str:
    """The change panel's heading for the way people are chosen (a CSV list is not "the selected people")."""
    if source == SOURCE_CSV:
        return _("Change the people listed in a CSV file")
    if n:
        return count(n, "Change the {n} selected person", "Change the {n} selected people")
    return _("Change people (select them in the table, or use a CSV file)")


def _forget_if_other(panel: str, subject: tuple[str, ...]) -> None:
    """Before the panel is drawn: a preview or result belongs to the people (or group) it was made for, so
    choosing others drops it and folds the panel; so does "Done"."""
    made_for = st.session_state.get(state_key(panel, "for"))
    if subject and made_for is not None and tuple(made_for) != subject:
        clear(panel)
        st.session_state[state_key(panel, "close")] = True
    if st.session_state.pop(state_key(panel, "close"), False):
        st.session_state[state_key(panel, "open")] = False


def _inputs(*parts: Any) -> str:
    """A fingerprint of what a preview is made from: who (the selection, the file's bytes, typed lines), what
    and where to."""
    digest = hashlib.sha256()
    for part in parts:
        if hasattr(part, "getvalue"):          # an uploaded file: its name and bytes
            part = (getattr(part, "name", ""), hashlib.sha256(part.getvalue()).hexdigest())
        digest.update(repr(part).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _forget_if_changed(panel: str, inputs: str) -> None:
    """A preview (not yet run) belongs to the inputs it was made from: another file, other typed names, another
    action or destination drops it, so "Continue" can never run a list the operator has already replaced."""
    plan_key = state_key(panel, "plan")
    if st.session_state.get(plan_key) is None or st.session_state.get(state_key(panel, "result")) is not None:
        return
    if st.session_state.get(state_key(panel, "inputs")) != inputs:
        for name in ("plan", "confirm", "run_reason", "reason"):
            st.session_state.pop(state_key(panel, name), None)
        st.caption(_("The preview was dropped because what it was made from changed: press Preview again."))


def _preview_button(panel: str, conn: Connection, kind: str | None, targets: list[str] | CsvTargets | None,
                    params: dict[str, str], *, ready: bool, inputs: str, subject: tuple[str, ...]) -> None:
    """The Preview button: the plan of ``kind`` for ``targets``, kept with the people (or group) it is for and a
    fingerprint of what it was made from (``_forget_if_other``, ``_forget_if_changed``)."""
    if st.button(_("Preview"), key=state_key(panel, "preview"), disabled=not ready, icon=":material/preview:",
                 help=_("Shows who would change and who is skipped. Nothing is sent to 6clicks yet.")) \
            and kind is not None and targets is not None:
        plan = plan_or_error(partial(make_plan, conn, kind, targets, params))
        if plan is not None:
            start(panel, plan)
            st.session_state[state_key(panel, "for")] = subject
            st.session_state[state_key(panel, "inputs")] = inputs


def users_actions(conn: Connection, selected: list[str]) -> None:
    """Deactivate / reactivate / add to / remove from / move between groups or roles, for the selected users
    or a CSV of userNames or e-mails. Collapsed until the operator opens it; no action is preselected."""
    with errors.guard(_("preparing the operation")):
        unfinished_notice(conn)
        panel = "users"
        shell.page_state(f"ops.{panel}.")
        source = st.session_state.get(state_key(panel, "source")) or SOURCE_SELECTED
        _forget_if_other(panel, tuple(selected) if source == SOURCE_SELECTED else ())
        n = len(selected)
        made_for = st.session_state.get(state_key(panel, "for")) or ()
        if not n and source == SOURCE_SELECTED and active(panel):
            # the run's new snapshot cleared the table's selection (its rows may list other people now): the
            # panel keeps the heading it was opened with, or Streamlit would fold it over the result
            n = len(made_for)
        with st.expander(users_panel_label(n, source), key=state_key(panel, "open"), on_change="rerun",
                         icon=":material/manage_accounts:"):
            source = st.segmented_control(_("Who"), [SOURCE_SELECTED, SOURCE_CSV], key=state_key(panel, "source"),
                                          default=SOURCE_SELECTED, format_func=_) or SOURCE_SELECTED
            targets: list[str] | CsvTargets | None = None
            if source == SOURCE_CSV:
                # any type: a workbook gets the decoder's remedy ("save it as CSV UTF-8"), not Streamlit's
                # "files are not allowed"
                upload = st.file_uploader(_("CSV with one userName or e-mail per row (header optional)"),
                                          key=state_key(panel, "csv"))
                if upload is not None:
                    try:
                        targets = read_upload(upload)
                        st.caption(count(len(targets.values), "{n} person in the file.", "{n} people in the file.")
                                   + " " + md_escape(" ".join(shown(n) for n in targets.notes), limit=1000, empty=""))
                    except InvalidInput as exc:
                        errors.show_error(exc)
            else:
                targets = list(selected) or None
                if not selected:
                    st.caption(_("Select people in the table above, or choose “{csv}”.").format(csv=_(SOURCE_CSV)))
            label = st.selectbox(_("What to do"), list(USER_KINDS), index=None, key=state_key(panel, "kind"),
                                 placeholder=_("Choose an action"), format_func=_)
            kind = USER_KINDS.get(label) if label else None
            params = group_params(conn, kind, panel) if kind else None
            ready = targets is not None and params is not None
            inputs = _inputs(source, tuple(selected) if source == SOURCE_SELECTED else upload, kind, params)
            _forget_if_changed(panel, inputs)
            _preview_button(panel, conn, kind, targets, params or {}, ready=ready, inputs=inputs,
                            subject=tuple(selected) if source == SOURCE_SELECTED else ())
            flow(panel, conn)


# --- Groups & roles page ------------------------------------------------------------------------------------

#: the Groups panel's actions: English (the widget's value), shown translated
GROUP_ACTIONS = [N_("Add people"), N_("Remove members"), N_("Move members")]


def groups_actions(conn: Connection, group_ids: list[str], member_ids: list[str] | None = None) -> None:
    """For one selected group or role: add people (by name or CSV), remove or move members. ``member_ids``:
    members selected in the group's member table, offered as the members to remove or move. Collapsed until the
    operator opens it; no action is preselected."""
    with errors.guard(_("preparing the operation")):
        unfinished_notice(conn)
        panel = "groups"
        shell.page_state(f"ops.{panel}.")
        if not group_ids:
            if active(panel):
                with st.container(border=True):
                    flow(panel, conn)
            return
        d = dircache.directory(conn)
        if d is None:
            return
        gid = group_ids[0]
        _forget_if_other(panel, (gid,))
        row = d.groups[d.groups["id"] == gid]
        if row.empty:
            st.warning(_("That group is no longer in the latest snapshot; refresh the directory."))
            return
        name = md_escape(row.iloc[0]["label"], empty="") or md_escape(gid)  # a label: text only
        heading = (_("Change the members of role {name}") if row.iloc[0]["kind"] == "role"
                   else _("Change the members of group {name}"))
        with st.expander(heading.format(name=name), key=state_key(panel, "open"), on_change="rerun",
                         icon=":material/group_add:"):
            if len(group_ids) > 1:
                st.caption(_("{n} selected; acting on the first, {name}.").format(n=fmt_number(len(group_ids)),
                                                                                  name=name))
            action = st.segmented_control(_("What to do"), GROUP_ACTIONS, key=state_key(panel, "action"),
                                          format_func=_)
            members = d.users[d.users["id"].isin(d.member_ids(gid))]
            targets: list[str] | CsvTargets | None = None
            params: dict[str, str] | None = {"group": gid}
            kind: str | None = None
            if action in ("Remove members", "Move members"):
                kind = "remove" if action == "Remove members" else "move"
                labels = member_options(members)
                if len(labels) > 2000:
                    st.caption(_("{n} members: type or upload the ones to change instead of picking.").format(
                        n=fmt_number(len(labels))))
                    chosen_text = st.text_area(_("userNames or e-mails, one per line"), key=state_key(panel, "typed"))
                    targets = [v for v in chosen_text.splitlines() if v.strip()] or None
                else:
                    picked = tuple(member_ids or ())
                    if picked != st.session_state.get(state_key(panel, "picked")):  # the members selected above
                        st.session_state[state_key(panel, "picked")] = picked
                        st.session_state[state_key(panel, "members")] = [t for t, uid in labels.items() if uid in picked]
                    chosen = st.multiselect(_("Members"), sorted(labels, key=str.lower), key=state_key(panel, "members"),
                                            placeholder=_("Choose members (or select them in the table above)"))
                    targets = [labels[c] for c in chosen if c in labels] or None
                if kind == "move":
                    params = group_params(conn, "move", panel, fixed_group=gid)
            elif action == "Add people":
                kind = "add"
                # any type: a workbook gets the decoder's remedy ("save it as CSV UTF-8"), not Streamlit's
                # "files are not allowed"
                upload = st.file_uploader(_("CSV with one userName or e-mail per row (header optional)"),
                                          key=state_key(panel, "csv"))
                typed = st.text_area(_("…or type userNames or e-mails, one per line"),
                                     key=state_key(panel, "add_typed"))
                values = [v for v in typed.splitlines() if v.strip()]
                if upload is not None:
                    try:
                        csv_targets = read_upload(upload)
                        csv_targets.values = values + csv_targets.values
                        targets = csv_targets
                        st.caption(count(len(csv_targets.values), "{n} person listed.", "{n} people listed.") + " "
                                   + md_escape(" ".join(shown(n) for n in csv_targets.notes), limit=1000, empty=""))
                    except InvalidInput as exc:
                        errors.show_error(exc)
                elif values:
                    targets = values
            else:
                st.caption(_("Choose what to do."))
            ready = kind is not None and targets is not None and params is not None
            inputs = _inputs(gid, action, kind, params, upload if action == "Add people" else None,
                             tuple(targets.values) if isinstance(targets, CsvTargets) else targets)
            _forget_if_changed(panel, inputs)
            _preview_button(panel, conn, kind, targets, params or {}, ready=ready, inputs=inputs, subject=(gid,))
            flow(panel, conn)
