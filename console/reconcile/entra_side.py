"""Entra's side of a reconciliation, read through Microsoft Graph: who is assigned to the enterprise app (users
directly, and the transitive members of assigned groups) and the attributes the guide maps.

Users come from ``/users/delta``: the first run reads every user and keeps Graph's ``@odata.deltaLink``; later
runs call that link and apply only what changed to the cached copy (table ``entra_users``), so a second
reconciliation reads the changes, not the tenant. Assignments and group members are read again each run (an
assignment is not a user change, so delta does not report it). Any page that fails ends the run with an error:
a reconciliation never goes on with part of a directory (it would report everyone else as orphans).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pandas as pd

from console.connections import Connection, connection_id
from console.context import Context
from console.graph import GraphClient, GraphError, permissions_for

log = logging.getLogger(__name__)

USER_SELECT = "id,userPrincipalName,mail,givenName,surname,accountEnabled,userType"
USER_COLUMNS = ["id", "upn", "mail", "givenName", "surname", "enabled", "guest"]
PAGE = "999"
GROUP_READERS = 8
MAX_TEXT = 256


@dataclass
class EntraSide:
    users: pd.DataFrame            # USER_COLUMNS, one row per Entra user (the whole tenant)
    assigned_users: set[str]       # user ids assigned directly
    groups: pd.DataFrame           # id, displayName: the groups assigned to the app
    members: pd.DataFrame          # group_id, user_id: transitive members (users) of the assigned groups
    mode: str                      # "full" (every user read) or "delta" (changes applied to the cached copy)
    changes: int = 0               # users changed since the last run (delta mode)
    requests: int = 0              # Graph pages read
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0           # wall time of the Entra read

    @property
    def in_scope(self) -> set[str]:
        return self.assigned_users | set(self.members["user_id"])


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value)[:MAX_TEXT]
    return text or None


def _user_row(u: dict[str, Any]) -> tuple[Any, ...] | None:
    uid = _text(u.get("id"))
    if not uid:
        return None
    upn = _text(u.get("userPrincipalName"))
    enabled = u.get("accountEnabled")
    guest = str(u.get("userType") or "").lower() == "guest" or "#ext#" in (upn or "").lower()
    return (uid, upn, _text(u.get("mail")), _text(u.get("givenName")), _text(u.get("surname")),
            enabled if isinstance(enabled, bool) else None, guest)


def _pages(graph: GraphClient, path: str, what: str, params: dict[str, str] | None = None,
           counter: list[int] | None = None) -> Iterator[dict[str, Any]]:
    for page in graph.iter_pages(path, what=what, permission=permissions_for("directory"), params=params):
        if counter is not None:
            counter[0] += 1
        yield page


def _read_users(ctx: Context, conn: Connection, graph: GraphClient, counter: list[int], *,
                full: bool) -> tuple[pd.DataFrame, str, int]:
    cid = connection_id(ctx, conn)
    row = ctx.store.query_one("SELECT delta_link FROM entra_delta WHERE connection_id = ?", (cid,))
    link = None if full or row is None else row["delta_link"]
    mode = "delta" if link else "full"
    changed: dict[str, tuple[Any, ...] | None] = {}
    delta_link = None
    for page in _pages(graph, link or "users/delta", "read the tenant's users",
                       None if link else {"$select": USER_SELECT, "$top": PAGE}, counter):
        for u in page["value"]:
            if not isinstance(u, dict):
                continue
            uid = _text(u.get("id"))
            if not uid:
                continue
            changed[uid] = None if "@removed" in u else _user_row(u)
        found = page.get("@odata.deltaLink")
        if isinstance(found, str) and found:
            delta_link = found
    if delta_link is None:
        raise GraphError("Graph's user listing ended without a delta link, so it may have ended early.",
                         "Run the reconciliation again; if it persists, run it with --full.", code="NoDeltaLink")
    with ctx.store.transaction() as db:
        if mode == "full":
            db.execute("DELETE FROM entra_users WHERE connection_id = ?", (cid,))
        gone = [(cid, uid) for uid, rowv in changed.items() if rowv is None]
        db.executemany("DELETE FROM entra_users WHERE connection_id = ? AND id = ?", gone)
        db.executemany("INSERT OR REPLACE INTO entra_users (connection_id, id, upn, mail, given_name, surname, "
                       "enabled, guest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(cid, *rowv) for rowv in changed.values() if rowv is not None])
        db.execute("INSERT INTO entra_delta (connection_id, delta_link, at) VALUES (?, ?, ?) ON CONFLICT "
                   "(connection_id) DO UPDATE SET delta_link = excluded.delta_link, at = excluded.at",
                   (cid, delta_link, ctx.now().isoformat()))
    rows = ctx.store.query("SELECT id, upn, mail, given_name, surname, enabled, guest FROM entra_users "
                           "WHERE connection_id = ?", (cid,))
    users = pd.DataFrame([tuple(r) for r in rows], columns=USER_COLUMNS)
    users["enabled"] = users["enabled"].astype("boolean")
    users["guest"] = users["guest"].astype(bool)
    return users, mode, len(changed)


def read_entra(ctx: Context, conn: Connection, graph: GraphClient, *, full: bool = False) -> EntraSide:
    """Everything the comparison needs from Entra. Raises GraphError (with its remedy) when Graph refuses."""
    counter = [0]
    users_counter = [0]
    started = time.perf_counter()
    # the users' delta chain (one page after another) runs beside the assignments and group members
    reader = ThreadPoolExecutor(max_workers=1)
    users_future = reader.submit(_read_users, ctx, conn, graph, users_counter, full=full)
    try:
        side = _read_assignments(graph, counter)
    finally:
        reader.shutdown(wait=True)
    users, mode, changes = users_future.result()  # re-raises the users read's error
    counter[0] += users_counter[0]
    assigned_users, groups, members = side
    warnings: list[str] = []
    no_mail = int(users["mail"].isna().sum())
    if no_mail:
        warnings.append(f"{no_mail} Entra user(s) have no mail: they cannot be matched by e-mail, only by "
                        "externalId (objectId).")
    guests = int(users["guest"].sum())
    if guests:
        warnings.append(f"{guests} guest user(s) (#EXT# userPrincipalName): compared like members; their mail is "
                        "their home organisation's.")
    return EntraSide(users, assigned_users, pd.DataFrame(groups, columns=["id", "displayName"]),
                     pd.DataFrame(members, columns=["group_id", "user_id"]).drop_duplicates(),
                     mode, changes, counter[0], warnings, round(time.perf_counter() - started, 2))


def _read_assignments(graph: GraphClient, counter: list[int]
                      ) -> tuple[set[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """(users assigned directly, assigned groups (id, name), their transitive members (group id, user id))."""
    sp = quote(graph.service_principal_id, safe="")
    assigned_users: set[str] = set()
    groups: list[tuple[str, str]] = []
    for page in _pages(graph, f"servicePrincipals/{sp}/appRoleAssignedTo", "read the app's assignments",
                       {"$top": PAGE}, counter):
        for a in page["value"]:
            if not isinstance(a, dict):
                continue
            pid, kind = _text(a.get("principalId")), str(a.get("principalType") or "")
            if pid and kind == "User":
                assigned_users.add(pid)
            elif pid and kind == "Group":
                groups.append((pid, _text(a.get("principalDisplayName")) or pid))
    members: list[tuple[str, str]] = []
    unique = list(dict.fromkeys(groups))

    def group_members(item: tuple[str, str]) -> tuple[list[tuple[str, str]], int]:
        gid, name = item
        pages = [0]
        found = []
        path = f"groups/{quote(gid, safe='')}/transitiveMembers"
        for page in _pages(graph, path, f"read the members of the group {name}", {"$select": "id", "$top": PAGE},
                           pages):
            for m in page["value"]:
                if isinstance(m, dict) and _text(m.get("id")) and \
                        str(m.get("@odata.type", "#microsoft.graph.user")).endswith(".user"):
                    found.append((gid, str(m["id"])[:MAX_TEXT]))
        return found, pages[0]

    # groups are read concurrently (as the SCIM client pages): at 50 ms a request, 1,000 assigned groups one
    # after the other would take a minute; any failure ends the run (``map`` re-raises it)
    with ThreadPoolExecutor(max_workers=GROUP_READERS) as pool:
        for found, pages in pool.map(group_members, unique):
            members.extend(found)
            counter[0] += pages
    return assigned_users, unique, members
