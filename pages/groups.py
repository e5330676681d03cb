"""Groups & roles: every SCIM group of the latest snapshot, classified group/role by the connection's rule
(editable on the Connection & token page), with member counts and externalId; a detail view with members
that link to the Users page's detail."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from console.text import as_text
from pages import _ui as ui


def operations_panel(conn: Any, group_ids: list[str]) -> None:
    """>>> Operations hook: the operations engineer's group action panel (pages/_ops_ui.py). <<<"""
    ops = ui.ops_module()
    actions = getattr(ops, "groups_actions", None) if ops is not None else None
    if actions is not None:
        actions(conn, group_ids)


def group_table(conn: Any, d: ui.Directory) -> list[str]:
    a, b = st.columns([3, 1])
    query = a.text_input("Search", key="groups.q", placeholder="group or role name, externalId",
                         icon=":material/search:")
    kind = b.segmented_control("Kind", ["All", "Groups", "Roles"], key="groups.kind", default="All") or "All"
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
    st.caption(f"{len(view):,} of {len(groups):,} · role rule: “{ui.md_escape(conn.role_rule)}” (change it on "
               "Connection & token)")
    if view.empty:
        st.info("Nothing matches. Clear the search or the kind filter.", icon=":material/filter_alt_off:")
        return []
    event = st.dataframe(
        ui.plain_table(view), key=f"groups.table.{kind}.{query}", hide_index=True, width="stretch", on_select="rerun",
        selection_mode="multi-row", height=min(38 + 35 * len(view), 740),
        column_order=["displayName", "kind", "member_count", "externalId"],
        column_config={"displayName": "Name", "kind": "Kind",
                       "member_count": st.column_config.NumberColumn("Members", format="%d"),
                       "externalId": "External id (Entra object id)"})
    rows = list(event.selection.rows) if event is not None else []
    selected = [str(view["id"].iloc[r]) for r in rows if 0 <= r < len(view)]
    st.session_state[ui.KEY_SELECTED_GROUPS] = selected
    if selected:
        st.session_state[ui.KEY_GROUP_DETAIL] = selected[0]
    return selected


def group_detail(d: ui.Directory, group_id: str) -> None:
    row = d.groups[d.groups["id"] == group_id]
    if row.empty:
        st.warning("That group is not in the latest snapshot (deleted or renamed since).")
        return
    group = row.iloc[0]
    label = "Role" if group["kind"] == "role" else "Group"
    st.subheader(f"{label}: {ui.md_escape(as_text(group['displayName']) or group_id)}", divider="gray")
    count = as_text(group.get("member_count"))
    st.caption(f"SCIM id {ui.md_escape(group_id)} · externalId {ui.md_escape(group.get('externalId'))} · "
               f"{ui.md_escape(count or '0')} members")
    members = d.users[d.users["id"].isin(d.member_ids(group_id))]
    if members.empty:
        st.caption("No members.")
        return
    q = st.text_input("Filter members", key=f"groups.members_q.{group_id}", icon=":material/search:")
    if q:
        mask = pd.Series(True, index=members.index)
        for word in q.lower().split():
            mask &= members["search"].str.contains(word, regex=False)
        members = members[mask]
    members = members.sort_values("userName", key=lambda s: s.astype(str).str.lower())
    shown = members.head(500)
    members_key = f"groups.members.{group_id}.{q}"
    st.session_state["groups.members_key"] = members_key
    event = st.dataframe(ui.plain_table(shown[["id", "userName", "email", "label", "active"]].reset_index(drop=True)),
                         key=members_key, hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="single-row",
                         column_order=["userName", "email", "label", "active"],
                         column_config={"userName": "User name", "email": "E-mail",
                                        "label": "Name",
                                        "active": st.column_config.CheckboxColumn("Active")})
    if len(members) > len(shown):
        st.caption(f"Showing the first {len(shown):,} of {len(members):,} members; filter to narrow down.")
    exported = members[[c for c in ("id", "userName", "email", "givenName", "familyName", "displayName", "active",
                                    "externalId") if c in members.columns]]
    ui.csv_download(f"Download the {len(members):,} members (CSV)", exported,
                    f"{group['displayName']}-members", key=f"groups.members_csv.{group_id}")
    rows = list(event.selection.rows) if event is not None else []
    if rows:
        user_id = str(shown["id"].iloc[rows[0]])
        if st.button("Open this user", key="groups.open_user", type="primary", icon=":material/person:"):
            open_user(user_id)
    else:
        st.caption("Select a member to open it on the Users page.")


def open_user(user_id: str) -> None:
    st.session_state[ui.KEY_USER_DETAIL] = user_id
    st.session_state[ui.KEY_SELECTED_USERS] = []
    st.switch_page("pages/users.py")


def main() -> None:
    conn = ui.connection()
    st.title("Groups & roles")
    ui.demo_label(conn)
    d = ui.directory(conn)
    if d is None:
        ui.no_snapshot_screen(conn)
        return
    if d.groups.empty:
        st.info("**No groups or roles in this directory yet.** Assign groups to the Entra enterprise app and "
                "let a provisioning cycle run, then refresh the directory.", icon=":material/group_off:")
        return
    selected = group_table(conn, d)
    operations_panel(conn, selected)
    detail = st.session_state.get(ui.KEY_GROUP_DETAIL)
    if detail:
        group_detail(d, str(detail))


ui.run_page(main, "showing groups and roles")
