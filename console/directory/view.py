"""The pages' read model of one directory snapshot (pandas, no Streamlit): ``Directory`` is a prepared,
read-only view (search haystack, display labels, membership counts, groups classified by the connection's
current role rule), and the pure table functions the Users and Groups pages and their exports are built on
(filter, sort, page, names of a person's groups, the Users CSV). Vectorised, so 100,000 users stay responsive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from console.connections import Connection
from console.csvsafe import to_csv_bytes
from console.directory.people import display_labels
from console.directory.roles import role_label
from console.directory.store import Snapshot
from console.i18n import N_, _
from console.text import as_text

#: the Users table's sort orders: English label (the widget's value; shown translated with ``_``) -> column
USER_SORTS = {N_("User name"): "userName", N_("E-mail"): "email", N_("Name"): "label",
              N_("Family name"): "familyName", N_("Last modified"): "lastModified", N_("Created"): "created",
              N_("Number of groups and roles"): "groups"}

#: the Users export's columns: the SCIM names are its English header (what scripts read), and each is a message
#: for the header in the operator's language (also the members export of Groups & roles)
USERS_CSV_COLUMNS = [N_("id"), N_("userName"), N_("email"), N_("givenName"), N_("familyName"), N_("displayName"),
                     N_("active"), N_("externalId"), N_("groups"), N_("roles"), N_("created"), N_("lastModified")]

_SEARCHED = ("userName", "email", "givenName", "familyName", "displayName")


@dataclass(frozen=True)
class Directory:
    """A read-only, prepared view of one snapshot, shared by all sessions (never mutate its frames)."""

    snapshot_id: int
    taken_at: datetime
    users: pd.DataFrame        # snapshot users + "search" (lower-case haystack), "label" (display label),
    #                            "groups" (number of groups and roles)
    groups: pd.DataFrame       # snapshot groups (kind, member_count) + "label" (roles without the rule's marker)
    memberships: pd.DataFrame  # group_id, user_id
    snapshot: Snapshot

    def member_ids(self, group_id: str) -> pd.Index:
        return pd.Index(self.memberships.loc[self.memberships["group_id"] == group_id, "user_id"].unique())

    def user_group_ids(self, user_id: str) -> list[str]:
        return list(self.memberships.loc[self.memberships["user_id"] == user_id, "group_id"].tolist())


def build_directory(snap: Snapshot, conn: Connection) -> Directory:
    """Prepare a snapshot for the pages: a lower-case search haystack and membership counts per user, and
    groups classified by the connection's current role rule."""
    users = snap.users.copy()
    for column in (*_SEARCHED, "externalId"):
        if column not in users.columns:
            users[column] = None
    haystack = users["userName"].fillna("").astype(str)
    for column in _SEARCHED[1:]:
        haystack = haystack + "\x1f" + users[column].fillna("").astype(str)
    users["search"] = haystack.str.lower()
    users["label"] = display_labels(users)  # the one display name (console.directory.people; displayName is often absent)
    memberships = snap.memberships
    counts = memberships.groupby("user_id").size() if len(memberships) else pd.Series(dtype="int64")
    users["groups"] = users["id"].map(counts).fillna(0).astype("int64")
    users = users.reset_index(drop=True)
    groups = snap.groups.copy()
    if len(groups):  # the rule may have been edited since the snapshot: classify with the current one
        groups["kind"] = ["role" if conn.is_role(str(n)) else "group" for n in groups["displayName"]]
    elif "kind" not in groups.columns:
        groups["kind"] = pd.Series(dtype="object")
    # the name where the context already says group or role: a role without its rule's marker (console.directory.roles)
    groups["label"] = pd.Series([(role_label(conn, n) if k == "role" else as_text(n)) or str(i) for n, k, i
                                 in zip(groups["displayName"], groups["kind"], groups["id"], strict=True)],
                                index=groups.index, dtype=object)
    snap.__dict__.pop("users", None)  # the prepared copy above replaces the snapshot's lazily loaded frame
    return Directory(snapshot_id=snap.id, taken_at=snap.taken_at, users=users, groups=groups,
                     memberships=memberships, snapshot=snap)


def filter_users(d: Directory, *, query: str = "", active: str = "All", group_ids: list[str] | None = None,
                 role_ids: list[str] | None = None) -> pd.DataFrame:
    """Users of ``d`` matching the search (userName / e-mail / names, case-insensitive, all words), the
    active filter ("All" | "Active" | "Inactive") and membership of any of ``group_ids`` and any of ``role_ids``."""
    users = d.users
    mask = pd.Series(True, index=users.index)
    for word in query.lower().split():
        mask &= users["search"].str.contains(word, regex=False)
    if active == "Active":
        mask &= users["active"].fillna(False).astype(bool)
    elif active == "Inactive":
        mask &= ~users["active"].fillna(False).astype(bool)
    for ids in (group_ids, role_ids):
        if ids:
            members = d.memberships.loc[d.memberships["group_id"].isin(ids), "user_id"]
            mask &= users["id"].isin(members)
    return users[mask]


def sort_users(users: pd.DataFrame, by: str, descending: bool = False) -> pd.DataFrame:
    """``users`` sorted by a ``USER_SORTS`` label (or a column name): text case-insensitively (a missing
    text as empty), other values with missing ones last."""
    column = USER_SORTS.get(by, by)
    if column not in users.columns:
        return users
    if users[column].dtype == object or str(users[column].dtype).startswith("str"):
        return users.sort_values(column, ascending=not descending, na_position="last",
                                 key=lambda s: s.fillna("").astype(str).str.lower(), kind="stable")
    return users.sort_values(column, ascending=not descending, na_position="last", kind="stable")


def page_count(total: int, size: int) -> int:
    return max(1, -(-total // size))


def page_slice(frame: pd.DataFrame, page: int, size: int) -> pd.DataFrame:
    """Rows of page ``page`` (from 1, clamped to the pages there are) of ``size`` rows."""
    page = min(max(page, 1), page_count(len(frame), size))
    return frame.iloc[(page - 1) * size: page * size]


def group_names_for(d: Directory, user_ids: pd.Series | list[str], kind: str, *, full: bool = False,
                    separator: str = ", ") -> dict[str, str]:
    """``{user_id: "Finance, Sales"}`` for the given users and group kind (a visible page, or every user of an
    export). Roles are named without the role rule's marker ("Auditor", not "Role - Auditor") unless ``full``
    (the name as 6clicks has it, for exports)."""
    ids = pd.Index(user_ids)
    m = d.memberships[d.memberships["user_id"].isin(ids)]
    if m.empty:
        return {}
    column = "displayName" if full else "label"
    names = d.groups.set_index("id")
    m = m.join(names[[column, "kind"]], on="group_id")
    m = m[(m["kind"] == kind) & m[column].notna()]
    if m.empty:
        return {}
    m = m.assign(name=m[column].astype(str))
    m = m.sort_values("name", key=lambda s: s.str.lower(), kind="stable")
    joined = m.groupby("user_id", sort=False)["name"].agg(separator.join)
    return {str(user): str(text) for user, text in joined.items()}


def users_csv(d: Directory, frame: pd.DataFrame, *, english: bool = True) -> bytes:
    """The Users export of ``frame`` (rows of ``d.users``): the SCIM attributes, then the names of each person's
    groups and roles as 6clicks has them ("Finance; Sales"), then created / last modified (UTC, ISO 8601).
    Formula-neutralised UTF-8 CSV with a BOM (``console.csvsafe``). The header is the SCIM names (what scripts
    read; the command line's), or with ``english=False`` the same columns named in the current language."""
    out = frame[[c for c in USERS_CSV_COLUMNS if c in frame.columns and c != "groups"]].copy()
    ids = frame["id"]
    for kind, column in (("group", "groups"), ("role", "roles")):
        names = group_names_for(d, ids, kind, full=True, separator="; ")
        out[column] = [names.get(i, "") for i in ids]
    for column in ("created", "lastModified"):
        if column in out.columns:
            times = pd.to_datetime(out[column], utc=True, errors="coerce")
            out[column] = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(times.notna(), "")
    out = out[[c for c in USERS_CSV_COLUMNS if c in out.columns]]
    return to_csv_bytes(out if english else out.rename(columns=lambda c: _(str(c))))
