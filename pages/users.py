"""Users: the whole directory from the latest snapshot; search, filters, sort, pages, CSV export, details.

Only the visible page goes to ``st.dataframe``; filtering is vectorised pandas on a cached, prepared frame,
so 100,000 users stay responsive. Selecting people shows their details first; the change panel
(``pages/_ui/ops_panels.py``) stays folded below them until the operator opens it, with no action chosen. The ids of the
selected rows are kept in ``st.session_state["users.selected_ids"]`` for that panel.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import pandas as pd
import streamlit as st

from console.connections import Connection
from console.directory.people import display_label, is_active
from console.directory.view import (
    USER_SORTS,
    Directory,
    filter_users,
    group_names_for,
    page_count,
    page_slice,
    sort_users,
    users_csv,
)
from console.i18n import N_, _, count, fmt_number, language, use_language
from console.text import as_text
from pages import _history as hist
from pages import _ondemand
from pages._history import KEY_OPEN_HISTORY
from pages._ui import banners, dircache, errors, ops_panels, session, shell
from pages._ui import format as fmt
from pages._ui.text import md_escape, plain, plain_table

PAGE_SIZES = [25, 50, 100, 250, 500]
#: the status filter: English (the widget's value and ``filter_users``'s argument), shown translated
STATUSES = [N_("All"), N_("Active"), N_("Inactive")]
KEY_DETAIL_OF = "users.detail_of"
KEY_TABLE_SNAPSHOT = "users.table_snapshot"  # the snapshot the table's selection was made on


def _names_to_ids(groups: pd.DataFrame, kind: str) -> dict[str, str]:
    """``{option text: group id}`` for a multiselect (its options are plain text: ``plain``); roles are named
    without the role rule's marker (the filter says "roles")."""
    subset = groups[groups["kind"] == kind]
    ids = subset["id"].astype(str).tolist()
    labels = pd.Series([plain(name, empty="") or plain(gid) for name, gid
                        in zip(subset["label"].tolist(), ids, strict=True)], dtype=object)
    # display names are unique in 6clicks; fall back to "name (id)" if a snapshot has duplicates
    dupes = labels.duplicated(keep=False)
    labels = labels.where(~dupes, labels + " (" + pd.Series(ids, dtype=object) + ")")
    pairs = sorted(zip(labels, ids, strict=True), key=lambda pair: pair[0].lower())
    return dict(pairs)


def filters(d: Directory) -> dict[str, Any]:
    a, b = st.columns([3, 2])
    query = a.text_input(_("Search"), key="users.q", placeholder=_("userName, e-mail or name"),
                         icon=":material/search:")
    active = b.segmented_control(_("Status"), STATUSES, key="users.active", default="All",
                                 format_func=_)
    group_map = _names_to_ids(d.groups, "group")
    role_map = _names_to_ids(d.groups, "role")
    c, e = st.columns(2)
    groups = c.multiselect(_("In any of these groups"), list(group_map), key="users.groups",
                           placeholder=_("Any group"))
    roles = e.multiselect(_("With any of these roles"), list(role_map), key="users.roles",
                          placeholder=_("Any role"))
    return {"query": query or "", "active": active or "All",
            "group_ids": [group_map[g] for g in groups if g in group_map],
            "role_ids": [role_map[r] for r in roles if r in role_map]}


def _widths(same_email: bool) -> dict[str, int]:
    """Column widths that fit the content area of a 1280-px window beside the sidebar (about 820 px)."""
    if same_email:
        return {"userName": 250, "email": 0, "label": 150, "active": 60, "groups_list": 150, "roles_list": 150}
    return {"userName": 190, "email": 165, "label": 120, "active": 55, "groups_list": 130, "roles_list": 130}


def table(d: Directory, matched: pd.DataFrame, view_key: str) -> pd.DataFrame:
    a, b, _rest = st.columns([2, 1, 1])
    sort_by = a.selectbox(_("Sort by"), list(USER_SORTS), key="users.sort", format_func=_)
    descending = b.toggle(_("Descending"), key="users.desc")
    size = int(st.session_state.get("users.size") or 50)
    pages = page_count(len(matched), size)
    if st.session_state.get("users.page", 1) > pages:
        st.session_state["users.page"] = pages
    page = int(st.session_state.get("users.page") or 1)
    ordered = sort_users(matched, sort_by, descending)
    visible = page_slice(ordered, page, size)
    view = visible[["id", "userName", "email", "label", "active"]].copy()
    group_names = group_names_for(d, visible["id"], "group")
    role_names = group_names_for(d, visible["id"], "role")
    view["groups_list"] = [group_names.get(i, "") for i in view["id"]]
    view["roles_list"] = [role_names.get(i, "") for i in view["id"]]
    # Entra usually maps mail and userPrincipalName to the same value: one column is enough then
    same_email = bool((view["email"].fillna("").astype(str).str.lower()
                       == view["userName"].fillna("").astype(str).str.lower()).all())
    width = _widths(same_email)
    # a new key per view (filters, page, sort) and per snapshot, so a selection never points at rows of another
    # view: after a change the new snapshot may list other people in those rows (a move out of a filtered
    # group), so the selection starts afresh and the details stay on the first person who was selected
    table_key = f"users.table.{view_key}.{page}.{size}.{sort_by}.{descending}.{d.snapshot_id}"
    if st.session_state.get(KEY_TABLE_SNAPSHOT, d.snapshot_id) != d.snapshot_id:
        before = st.session_state.get(session.KEY_SELECTED_USERS) or []
        if before:
            st.session_state[session.KEY_USER_DETAIL] = str(before[0])
    st.session_state[KEY_TABLE_SNAPSHOT] = d.snapshot_id
    st.session_state["users.table_key"] = table_key
    event = st.dataframe(
        plain_table(view), key=table_key, hide_index=True,
        width="stretch", on_select="rerun", selection_mode="multi-row",
        column_order=[c for c in ("userName", "email", "label", "active", "groups_list", "roles_list")
                      if not (c == "email" and same_email)],
        column_config={"userName": st.column_config.TextColumn(_("User name (= e-mail)") if same_email
                                                               else _("User name"), width=width["userName"]),
                       "email": st.column_config.TextColumn(_("E-mail"), width=width["email"] or None),
                       "label": st.column_config.TextColumn(
                           _("Name"), width=width["label"],
                           help=_("Display name, else given and family name (Entra's mapping for 6clicks sends no "
                                  "display name), else user name.")),
                       "active": st.column_config.CheckboxColumn(_("Active"), width=width["active"]),
                       "groups_list": st.column_config.TextColumn(_("Groups"), width=width["groups_list"]),
                       "roles_list": st.column_config.TextColumn(_("Roles"), width=width["roles_list"])})
    rows = list(event.selection.rows) if event is not None else []
    selected = [str(view["id"].iloc[r]) for r in rows if 0 <= r < len(view)]
    st.session_state[session.KEY_SELECTED_USERS] = selected
    c, e, f = st.columns([3, 1, 1], vertical_alignment="bottom")
    c.caption(_("Showing {shown} of {matching} ({total} in the directory). Select a row to see the person's details; "
                "select several to change them together.").format(
        shown=fmt_number(len(visible)), total=fmt_number(len(d.users)),
        matching=count(len(matched), "{n} matching user", "{n} matching users")))
    e.selectbox(_("Rows per page"), PAGE_SIZES, index=1, key="users.size")
    f.number_input(_("Page (of {pages})").format(pages=fmt_number(pages)), min_value=1, max_value=pages, step=1,
                   key="users.page")
    return ordered


def selection_summary(d: Directory, selected: list[str]) -> str | None:
    """Several people selected: a short table of them, and which one's details to show (returns its id)."""
    people = d.users[d.users["id"].isin(selected)].set_index("id").reindex(selected).dropna(how="all")
    people = people.reset_index()
    st.subheader(count(len(people), "{n} person selected", "{n} people selected"), divider="gray")
    groups = group_names_for(d, people["id"], "group")
    roles = group_names_for(d, people["id"], "role")
    view = pd.DataFrame({"label": people["label"], "userName": people["userName"], "active": people["active"],
                         "groups": [groups.get(i, "") for i in people["id"]],
                         "roles": [roles.get(i, "") for i in people["id"]]})
    st.dataframe(plain_table(view), hide_index=True, width="stretch", key="users.selected_table",
                 height=min(38 + 35 * len(view), 290),
                 column_config={"label": st.column_config.TextColumn(_("Name"), width=150),
                                "userName": st.column_config.TextColumn(_("User name"), width=250),
                                "active": st.column_config.CheckboxColumn(_("Active"), width=60),
                                "groups": st.column_config.TextColumn(_("Groups"), width=150),
                                "roles": st.column_config.TextColumn(_("Roles"), width=150)})
    options = {str(i): plain(label) for i, label in zip(people["id"], people["label"], strict=True)}
    if st.session_state.get(KEY_DETAIL_OF) not in options:
        st.session_state[KEY_DETAIL_OF] = next(iter(options), None)
    return st.selectbox(_("Show the details of"), list(options), key=KEY_DETAIL_OF,
                        format_func=lambda i: options.get(i, i))


def user_detail(conn: Connection, d: Directory, user_id: str, *, heading: bool = True) -> None:
    row = d.users[d.users["id"] == user_id]
    if row.empty:
        st.warning(_("That person is not in the latest snapshot (deleted since, or another connection)."))
        return

    user = row.iloc[0].to_dict()
    label = display_label(cast("dict[str, Any]", user))
    if heading:
        st.subheader(md_escape(label), divider="gray")
    status = _("Active") if is_active(user.get("active")) else _("Inactive")
    user_name = as_text(user.get("userName"))
    st.caption(" · ".join([*([md_escape(user_name)] if user_name and user_name != label else []), status,
                           _("SCIM id {id}").format(id=md_escape(user_id)),
                           _("as of {when} ({ago})").format(when=fmt.fmt_time(d.taken_at), ago=fmt.ago(d.taken_at))]))

    external = as_text(user.get("externalId"))
    if external and conn.entra is not None and conn.entra.can_manage_job:
        with st.expander(_("Provision on demand (ask Entra to provision this person now)"), icon=":material/bolt:"):
            _ondemand.panel(conn, key=f"users.ondemand.{user_id}", object_id=external, label=label)

    # opened from a provisioning record on Sync history ("details and history"): on the History tab
    tab_names = [_("Attributes"), _("Groups & roles"), _("History"), _("Raw SCIM JSON")]
    tabs = st.tabs(tab_names, default=tab_names[2] if st.session_state.get(KEY_OPEN_HISTORY) == user_id else None)
    with tabs[0]:
        # any attribute may be absent (the guide's Entra mapping sends no display name), null or of another type
        attrs = {_("Name (as shown)"): label, _("User name"): user.get("userName"), _("E-mail"): user.get("email"),
                 _("Given name"): user.get("givenName"), _("Family name"): user.get("familyName"),
                 _("Display name"): user.get("displayName"),
                 _("Active"): _("yes") if is_active(user.get("active")) else _("no"),
                 _("External id (Entra object id)"): user.get("externalId"),
                 _("Created"): fmt.fmt_time(user.get("created")),
                 _("Last modified"): fmt.fmt_time(user.get("lastModified")), _("SCIM id"): user_id}
        st.dataframe(plain_table(pd.DataFrame({"Attribute": list(attrs),
                                                  "Value": [as_text(v) or "" for v in attrs.values()]})),
                     hide_index=True, width="stretch", height=38 + 35 * len(attrs),  # every row, no scrolling
                     column_config={"Attribute": st.column_config.TextColumn(_("Attribute"), width=200),
                                    "Value": st.column_config.TextColumn(_("Value"), width=560)})
    with tabs[1]:
        gids = d.user_group_ids(user_id)
        member_of = d.groups[d.groups["id"].isin(gids)]
        if member_of.empty:
            st.caption(_("Not a member of any group or role."))
        for kind, title in (("role", _("Roles")), ("group", _("Groups"))):
            part = member_of[member_of["kind"] == kind].sort_values(
                "label", key=lambda s: s.astype(str).str.lower())
            if part.empty:
                continue
            st.markdown(f"**{title}**")
            for _i, g in part.iterrows():
                name = as_text(g["label"]) or str(g["id"])  # a role without the rule's marker: it says "Roles"
                if st.button(md_escape(name), key=f"users.open_group.{g['id']}", type="tertiary",
                             icon=":material/groups:", help=_("Open it on Groups & roles")):
                    st.session_state[session.KEY_GROUP_DETAIL] = str(g["id"])
                    st.switch_page("pages/groups.py")
    with tabs[2]:
        history(conn, user_id)
    with tabs[3]:
        raw = None
        try:
            raw = d.snapshot.raw_user(user_id)
        except Exception as exc:
            errors.log_exception(exc)
        if raw:
            st.json(json.loads(json.dumps(raw, default=str)), expanded=True)
        else:
            st.caption(_("The raw SCIM resource is not stored for this snapshot."))


def history(conn: Connection, user_id: str) -> None:
    """The person's History: what the directory snapshots saw change and what Entra's provisioning did to
    them (``console.timeline.person_timeline``), newest first, in plain words."""
    timeline = hist.person_timeline(conn, user_id)
    if timeline.empty:
        st.caption(_("Nothing recorded for this person yet: no change between directory snapshots and no Entra "
                     "provisioning record names them. Entra's records appear after **{fetch}** on Sync history (or "
                     "an import); changes appear when the directory is refreshed again.").format(
            fetch=_("Fetch new logs now")))
        return
    failures = int((timeline["outcome"] == "failure").sum())
    entries = count(len(timeline), "{n} entry", "{n} entries")
    if failures:
        text = _("{entries}, newest first; {failures}. Directory changes are dated by the snapshot that saw them; "
                 "Entra's records by when Entra acted.").format(
            entries=entries, failures=count(failures, "{n} failed provisioning record", "{n} failed provisioning records"))
    else:
        text = _("{entries}, newest first. Directory changes are dated by the snapshot that saw them; Entra's records "
                 "by when Entra acted.").format(entries=entries)
    st.caption(text)
    with st.container(height=460 if len(timeline) > 8 else "content", border=True):
        st.markdown(hist.timeline_markdown(timeline))
    dircache.csv_download(_("Download this history (CSV, times in UTC)"), hist.timeline_csv(timeline),
                    f"{conn.name}-history-{user_id}", key=f"users.history_csv.{user_id}")


def main() -> None:
    conn = session.connection()
    st.title(_("Users"))
    banners.demo_label(conn)
    d = dircache.directory(conn)
    if d is None:
        dircache.no_snapshot_screen(conn)
        return
    if d.users.empty:
        st.info(_("**No users in this directory yet.** Entra has not provisioned anyone, or every user was deleted. "
                  "Check the provisioning job on Sync history, then refresh the directory."),
                icon=":material/person_off:")
        return
    chosen = filters(d)
    matched = filter_users(d, **chosen)
    view_key = hashlib.sha256(repr(sorted(chosen.items())).encode()).hexdigest()[:10]
    if matched.empty:
        st.info(_("No user matches the search and filters. Clear the search or pick fewer groups or roles."),
                icon=":material/filter_alt_off:")
        st.session_state[session.KEY_SELECTED_USERS] = []
        return
    ordered = table(d, matched, view_key)
    selected = st.session_state.get(session.KEY_SELECTED_USERS, [])
    english = dircache.english_headers("users.csv.english")
    lang = language()

    def users_file() -> bytes:  # made on the click, outside this run: in this run's language
        with use_language(lang):
            return users_csv(d, ordered, english=english)

    st.download_button(_("Download CSV"), data=users_file,
                       file_name=f"{conn.name}-users.csv".replace(" ", "_"), mime="text/csv",
                       icon=":material/download:", key="users.csv",
                       help=_("All {matching} in this order, with the names of their groups and roles.").format(
                           matching=count(len(ordered), "{n} matching user", "{n} matching users")))
    # details first: looking at people is not acting on them
    if len(selected) > 1:
        detail_id = selection_summary(d, selected)
        if detail_id:
            user_detail(conn, d, str(detail_id))
    elif selected or st.session_state.get(session.KEY_USER_DETAIL):
        user_detail(conn, d, str(selected[0] if selected else st.session_state[session.KEY_USER_DETAIL]))
    ops_panels.users_actions(conn, selected)


shell.run_page(main, _("showing the users"))
