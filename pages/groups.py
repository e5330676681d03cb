"""Groups & roles: every SCIM group of the latest snapshot, classified group/role by the connection's rule
(editable on the Connection & token page), with member counts and externalId; selecting one shows its members,
selecting members shows who they are (and opens them on the Users page); the change panel (``pages/_ui/ops_panels.py``)
stays folded below the details until the operator opens it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from console.connections import Connection
from console.directory.people import is_active
from console.directory.roles import rule_text
from console.directory.view import Directory, group_names_for
from console.i18n import N_, _, count, fmt_number, pgettext
from console.text import as_text
from pages._ui import banners, dircache, ops_panels, session, shell
from pages._ui import format as fmt
from pages._ui.text import md_escape, plain_table

#: the kind filter: English (the widget's value), shown translated
KINDS = [N_("All"), N_("Groups"), N_("Roles")]


def group_table(conn: Connection, d: Directory) -> list[str]:
    a, b = st.columns([3, 2])
    query = a.text_input(_("Search"), key="groups.q", placeholder=_("group or role name, externalId"),
                         icon=":material/search:")
    kind = b.segmented_control(_("Kind"), KINDS, key="groups.kind", default="All", format_func=_) or "All"
    groups = d.groups
    mask = pd.Series(True, index=groups.index)
    if query:
        hay = (groups["displayName"].fillna("").astype(str) + "\x1f"
               + groups["externalId"].fillna("").astype(str)).str.lower()
        for word in query.lower().split():
            mask &= hay.str.contains(word, regex=False)
    if kind == "Groups":
        mask &= groups["kind"] == "group"
    elif kind == "Roles":
        mask &= groups["kind"] == "role"
    view = groups[mask].sort_values(["kind", "displayName"], key=lambda s: s.astype(str).str.lower())
    view = view[["id", "displayName", "kind", "member_count", "externalId"]].reset_index(drop=True)
    st.caption(_("{shown} of {total} · roles are {rule} (change the rule on Connection & token)").format(
        shown=fmt_number(len(view)), total=fmt_number(len(groups)), rule=md_escape(rule_text(conn))))
    if view.empty:
        st.info(_("Nothing matches. Clear the search or the kind filter."), icon=":material/filter_alt_off:")
        return []
    kinds = {"group": pgettext("kind", "group"), "role": pgettext("kind", "role")}
    shown = view.assign(kind=view["kind"].map(kinds).fillna(view["kind"]))
    event = st.dataframe(
        plain_table(shown), key=f"groups.table.{kind}.{query}", hide_index=True, width="stretch", on_select="rerun",
        selection_mode="multi-row", height=min(38 + 35 * len(view), 460),
        column_order=["displayName", "kind", "member_count", "externalId"],
        column_config={"displayName": st.column_config.TextColumn(_("Name"), width=280),
                       "kind": st.column_config.TextColumn(_("Kind"), width=70),
                       "member_count": st.column_config.NumberColumn(_("Members"), format="%d", width=80),
                       "externalId": st.column_config.TextColumn(_("External id (Entra object id)"), width=300)})
    rows = list(event.selection.rows) if event is not None else []
    selected = [str(view["id"].iloc[r]) for r in rows if 0 <= r < len(view)]
    st.session_state[session.KEY_SELECTED_GROUPS] = selected
    if selected:
        st.session_state[session.KEY_GROUP_DETAIL] = selected[0]
    else:
        st.caption(_("Select a group or role to see its members."))
    return selected


def group_detail(d: Directory, group_id: str) -> list[str]:
    """The group's members; returns the ids of the members selected in its table."""
    row = d.groups[d.groups["id"] == group_id]
    if row.empty:
        st.warning(_("That group is not in the latest snapshot (deleted or renamed since)."))
        return []
    group = row.iloc[0]
    # a role without its rule's marker: the heading already says "Role"
    heading = _("Role: {name}") if group["kind"] == "role" else _("Group: {name}")
    st.subheader(heading.format(name=md_escape(as_text(group["label"]) or group_id)), divider="gray")
    members_n = int(group.get("member_count") or 0)
    st.caption(_("{name} in 6clicks · SCIM id {id} · externalId {external} · {members} · as of {when}").format(
        name=md_escape(as_text(group["displayName"]) or group_id), id=md_escape(group_id),
        external=md_escape(group.get("externalId")), members=count(members_n, "{n} member", "{n} members"),
        when=fmt.fmt_time(d.taken_at)))
    members = d.users[d.users["id"].isin(d.member_ids(group_id))]
    if members.empty:
        st.caption(_("No members."))
        return []
    q = st.text_input(_("Filter members"), key=f"groups.members_q.{group_id}", icon=":material/search:")
    if q:
        mask = pd.Series(True, index=members.index)
        for word in q.lower().split():
            mask &= members["search"].str.contains(word, regex=False)
        members = members[mask]
    members = members.sort_values("userName", key=lambda s: s.astype(str).str.lower())
    shown = members.head(500)
    members_key = f"groups.members.{group_id}.{q}.{d.snapshot_id}"  # rows move after a change: a new selection
    st.session_state["groups.members_key"] = members_key
    event = st.dataframe(plain_table(shown[["id", "userName", "email", "label", "active"]].reset_index(drop=True)),
                         key=members_key, hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="multi-row",
                         column_order=["userName", "email", "label", "active"],
                         column_config={"userName": st.column_config.TextColumn(_("User name"), width=260),
                                        "email": st.column_config.TextColumn(_("E-mail"), width=230),
                                        "label": st.column_config.TextColumn(_("Name"), width=170),
                                        "active": st.column_config.CheckboxColumn(_("Active"), width=60)})
    if len(members) > len(shown):
        st.caption(_("Showing the first {shown} of {total} members; filter to narrow down.").format(
            shown=fmt_number(len(shown)), total=fmt_number(len(members))))
    exported = members[[c for c in ("id", "userName", "email", "givenName", "familyName", "displayName", "active",
                                    "externalId") if c in members.columns]]
    dircache.csv_download(count(len(members), "Download the {n} member (CSV)", "Download the {n} members (CSV)"),
                          exported, f"{group['displayName']}-members", key=f"groups.members_csv.{group_id}")
    rows = list(event.selection.rows) if event is not None else []
    picked = [str(shown["id"].iloc[r]) for r in rows if 0 <= r < len(shown)]
    if picked:
        member_details(d, picked)
    else:
        st.caption(_("Select members to see who they are, open them on the Users page, or change them below."))
    return picked


def member_details(d: Directory, user_ids: list[str]) -> None:
    """Who the selected members are: name, status, their groups and roles; one opens on the Users page."""
    people = d.users[d.users["id"].isin(user_ids)].set_index("id").reindex(user_ids).dropna(how="all").reset_index()
    groups = group_names_for(d, people["id"], "group")
    roles = group_names_for(d, people["id"], "role")
    with st.container(border=True):
        if len(people) == 1:
            person = people.iloc[0]
            st.markdown(f"**{md_escape(person['label'])}** · {md_escape(person['userName'])} · "
                        f"{_('Active') if is_active(person['active']) else _('Inactive')}")
            st.caption(_("Groups: {groups} · Roles: {roles}").format(
                groups=md_escape(groups.get(person["id"]), empty=_("none")),
                roles=md_escape(roles.get(person["id"]), empty=_("none"))))
            if st.button(_("Open on the Users page"), key="groups.open_user", icon=":material/person:",
                         help=_("Attributes, all groups and roles, history and the raw SCIM resource")):
                open_user(str(person["id"]))
            return
        st.markdown("**" + count(len(people), "{n} member selected", "{n} members selected") + "**")
        view = pd.DataFrame({"label": people["label"], "userName": people["userName"], "active": people["active"],
                             "groups": [groups.get(i, "") for i in people["id"]],
                             "roles": [roles.get(i, "") for i in people["id"]]})
        st.dataframe(plain_table(view), hide_index=True, width="stretch", key="groups.picked_table",
                     height=min(38 + 35 * len(view), 290),
                     column_config={"label": st.column_config.TextColumn(_("Name"), width=150),
                                    "userName": st.column_config.TextColumn(_("User name"), width=240),
                                    "active": st.column_config.CheckboxColumn(_("Active"), width=60),
                                    "groups": st.column_config.TextColumn(_("Groups"), width=150),
                                    "roles": st.column_config.TextColumn(_("Roles"), width=150)})


def open_user(user_id: str) -> None:
    st.session_state[session.KEY_USER_DETAIL] = user_id
    st.session_state[session.KEY_SELECTED_USERS] = []
    st.switch_page("pages/users.py")


def main() -> None:
    conn = session.connection()
    st.title(_("Groups & roles"))
    banners.demo_label(conn)
    d = dircache.directory(conn)
    if d is None:
        dircache.no_snapshot_screen(conn)
        return
    if d.groups.empty:
        st.info(_("**No groups or roles in this directory yet.** Assign groups to the Entra enterprise app and let a "
                  "provisioning cycle run, then refresh the directory."), icon=":material/group_off:")
        return
    selected = group_table(conn, d)
    detail = st.session_state.get(session.KEY_GROUP_DETAIL)
    picked: list[str] = []
    if detail:
        picked = group_detail(d, str(detail))
    shown = [str(detail)] if detail and (d.groups["id"] == str(detail)).any() else []
    ops_panels.groups_actions(conn, selected or shown, picked)


shell.run_page(main, _("showing groups and roles"))
