"""Entra's side of a reconciliation, read through Microsoft Graph: who is assigned to the enterprise app (users
directly, and the members of assigned groups) and the attributes the guide maps.

Scope follows Entra's assignment-based scoping: a user is in scope when assigned directly or a *direct* member of
an assigned group. Entra does not provision the members of groups nested in an assigned group (nested groups are
not supported for assignment); those people are expanded here anyway, so the run can name them ("reaches the app
only through a nested group") instead of leaving an admin to wonder why they never arrive or were disabled.

Users come from ``/users/delta`` and groups with their direct members from ``/groups/delta`` (``members@delta``):
the first run reads the tenant and keeps Graph's ``@odata.deltaLink`` of each; later runs call those links and
apply only what changed to the cached copies (tables ``entra_users``, ``entra_groups``, ``entra_group_members``),
so a second reconciliation reads the changes, not the tenant. The members of the assigned groups, direct and
through nested groups, are computed here from the cached direct members (cycles cut). The app's assignments are read
again each run (an assignment is neither a user nor a group change; it is a page or two). Any page that fails
ends the run with an error: a reconciliation never goes on with part of a directory (it would report everyone
else as orphans).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from console.connections import Connection, connection_id
from console.context import Context
from console.graph import GraphClient, GraphError, permissions_for
from console.i18n import _, count
from console.reconcile.compare import arrow_text

log = logging.getLogger(__name__)

USER_SELECT = "id,userPrincipalName,mail,givenName,surname,accountEnabled,userType"
USER_COLUMNS = ["id", "upn", "mail", "givenName", "surname", "enabled", "guest"]
PAGE = "999"
MAX_TEXT = 256
_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins valid pairs: only lone halves are left


@dataclass
class EntraSide:
    users: pd.DataFrame            # USER_COLUMNS + in_scope + nested_only, one row per Entra user (the tenant)
    groups: pd.DataFrame           # id, displayName: the groups assigned to the app
    members: pd.DataFrame          # group_id, user_id: direct members (users) of the assigned groups
    nested: pd.DataFrame           # group_id, user_id: members only through a group nested in an assigned one
    mode: str                      # "full" (every user read) or "delta" (changes applied to the cached copy)
    changes: int = 0               # users changed since the last run (delta mode)
    requests: int = 0              # Graph pages read
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0           # wall time of the Entra read
    group_changes: int = 0         # groups reported by the groups' delta round (all of them on a full read)

    @cached_property
    def in_scope(self) -> set[str]:
        """Entra object ids of the users in the app's scope (assigned directly or through a group): the
        ``in_scope`` column as a set, for lookups one by one."""
        return set(self.users.loc[self.users["in_scope"], "id"].astype(object))


def _text(value: Any) -> str | None:
    """A Graph value as bounded text: None for what is not a scalar; a lone surrogate (JSON allows ``"\\ud800"``,
    SQLite and Arrow refuse it) becomes U+FFFD instead of ending the run."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = _SURROGATE.sub("\ufffd", str(value)[:MAX_TEXT])
    return text or None


def _enabled(value: Any) -> bool | None:
    """``accountEnabled``: a boolean, or its JSON text from a sloppy server; anything else is unknown (None)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str) else ""
    return {"true": True, "false": False}.get(text)


def _entries(page: dict[str, Any], listing: str) -> list[dict[str, Any]]:
    """A page's ``value``, every entry an object: anything else ends the run (skipping it would report the
    person as an orphan)."""
    value = page.get("value")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _garbled(listing)
    return value


def _garbled(listing: str) -> GraphError:
    return GraphError(_("Graph's {listing} answered with an entry that is not an object with an id, so the "
                        "directory cannot be read whole.").format(listing=listing),
                      _("Run the reconciliation again; if it persists, check the Graph base URL (what answers "
                        "there is not Microsoft Graph as the console knows it)."), code="BadResponse")


def _user_row(u: dict[str, Any]) -> tuple[Any, ...] | None:
    uid = _text(u.get("id"))
    if not uid:
        return None
    upn = _text(u.get("userPrincipalName"))
    enabled = _enabled(u.get("accountEnabled"))
    guest = str(u.get("userType") or "").lower() == "guest" or "#ext#" in (upn or "").lower()
    return (uid, upn, _text(u.get("mail")), _text(u.get("givenName")), _text(u.get("surname")),
            enabled, guest)


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
        for u in _entries(page, "users/delta"):
            uid = _text(u.get("id"))
            if not uid:
                raise _garbled("users/delta")
            changed[uid] = None if "@removed" in u else _user_row(u)
        found = page.get("@odata.deltaLink")
        if isinstance(found, str) and found:
            delta_link = found
    count = len(changed)
    if delta_link is None:
        raise GraphError(_("Graph's user listing ended without a delta link, so it may have ended early."),
                         _("Run the reconciliation again; if it persists, run it with --full."), code="NoDeltaLink")
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
    del changed
    cols = ctx.store.columns("SELECT id, upn, mail, given_name, surname, enabled, guest FROM entra_users "
                             "WHERE connection_id = ?", (cid,))
    users = _frame(dict(zip(USER_COLUMNS, cols or [[] for _ in USER_COLUMNS], strict=True)),
                   text=("id", "upn", "mail", "givenName", "surname"))
    users["enabled"] = users["enabled"].astype("boolean")
    users["guest"] = users["guest"].astype(bool)
    return users, mode, count


def read_entra(ctx: Context, conn: Connection, graph: GraphClient, *, full: bool = False) -> EntraSide:
    """Everything the comparison needs from Entra. Raises GraphError (with its remedy) when Graph refuses."""
    counter, users_counter, groups_counter = [0], [0], [0]
    started = time.perf_counter()
    # the users' and the groups' delta chains (each one page after another) run beside the assignments
    with ThreadPoolExecutor(max_workers=2) as reader:
        users_future = reader.submit(_renewing, _read_users, ctx, conn, graph, users_counter, full=full)
        groups_future = reader.submit(_renewing, _read_groups, ctx, conn, graph, groups_counter, full=full)
        assigned, groups = _read_assignments(graph, counter)  # on an error, the pool waits for the others
    (users, mode, changes), users_renewed = users_future.result()  # re-raises the read's error
    group_changes, groups_renewed = groups_future.result()
    counter[0] += users_counter[0] + groups_counter[0]
    known = pc.utf8_lower(arrow_text(users["id"]))
    reached = _cached_members(ctx, conn, [gid for gid, _name in groups])
    # people deleted in Entra are in no scope, whatever a cached membership says
    reached_ids = pc.utf8_lower(arrow_text(reached["user_id"]))
    alive = np.asarray(pc.is_in(reached_ids, value_set=known).to_numpy(zero_copy_only=False), dtype=bool)
    direct = reached["direct"].to_numpy(dtype=bool)
    members = reached.loc[alive & direct, ["group_id", "user_id"]].reset_index(drop=True)
    nested = reached.loc[alive & ~direct, ["group_id", "user_id"]].reset_index(drop=True)
    scope = pa.concat_arrays([pc.utf8_lower(assigned), reached_ids.filter(pa.array(alive & direct))])
    users["in_scope"] = np.asarray(pc.is_in(known, value_set=scope).to_numpy(zero_copy_only=False), dtype=bool)
    via_nested = reached_ids.filter(pa.array(alive & ~direct))
    users["nested_only"] = np.asarray(pc.is_in(known, value_set=via_nested).to_numpy(zero_copy_only=False),
                                      dtype=bool) & ~users["in_scope"].to_numpy()
    warnings: list[str] = []
    if users_renewed or groups_renewed:
        warnings.append(_("Graph no longer knew the last run's delta link (Microsoft Graph forgets them after about "
                          "seven days), so Entra's users and groups were read in full this time."))
    nested_only = int(users["nested_only"].sum())
    if nested_only:
        warnings.append(count(
            nested_only,
            "{n} Entra user reaches the app only through a group nested in an assigned group: Entra provisions "
            "direct members only, so they are out of scope. Assign their own group to the app (or them directly) "
            "if they should have access.",
            "{n} Entra users reach the app only through a group nested in an assigned group: Entra provisions "
            "direct members only, so they are out of scope. Assign their own group to the app (or them directly) "
            "if they should have access."))
    no_mail = int(users["mail"].isna().sum())
    if no_mail:
        warnings.append(count(
            no_mail, "{n} Entra user has no mail: they can be matched by externalId (objectId) only, not by e-mail.",
            "{n} Entra users have no mail: they can be matched by externalId (objectId) only, not by e-mail."))
    guests = int(users["guest"].sum())
    if guests:
        warnings.append(count(
            guests, "{n} guest user (#EXT# userPrincipalName): compared like members; their mail is their home "
            "organisation's.", "{n} guest users (#EXT# userPrincipalName): compared like members; their mail is "
            "their home organisation's."))
    return EntraSide(users, pd.DataFrame(groups, columns=["id", "displayName"]), members, nested,
                     mode, changes, counter[0], warnings, round(time.perf_counter() - started, 2),
                     group_changes)


def _read_assignments(graph: GraphClient, counter: list[int]) -> tuple[pa.Array, list[tuple[str, str]]]:
    """(users assigned directly, assigned groups (id, name)). The users' ids are kept page by page as Arrow
    strings, so 100,000 assignments leave no Python strings behind."""
    sp = quote(graph.service_principal_id, safe="")
    assigned: list[pa.Array] = []
    groups: dict[str, str] = {}  # a group listed twice (or a page served again) is kept once
    for page in _pages(graph, f"servicePrincipals/{sp}/appRoleAssignedTo", "read the app's assignments",
                       {"$top": PAGE, "$select": "principalId,principalType,principalDisplayName"}, counter):
        users = []
        for a in _entries(page, "appRoleAssignedTo"):
            pid, kind = _text(a.get("principalId")), str(a.get("principalType") or "").lower()
            if not pid:
                raise _garbled("appRoleAssignedTo")
            if kind == "user":
                users.append(pid)
            elif kind == "group":
                groups.setdefault(pid, _text(a.get("principalDisplayName")) or pid)
        assigned.append(pc.unique(pa.array(users, pa.string())))
    users_all = pc.unique(pa.concat_arrays(assigned)) if assigned else pa.array([], pa.string())
    return users_all, list(groups.items())


_T = TypeVar("_T")


def _renewing(read: Callable[..., _T], ctx: Context, conn: Connection, graph: GraphClient, counter: list[int], *,
              full: bool) -> tuple[_T, bool]:
    """``read`` from the stored delta link; when Graph refuses the link (400/410: it expired, about seven days
    after it was issued, or the tenant's sync state was reset), read in full instead. Returns (the result, whether
    it had to)."""
    try:
        return read(ctx, conn, graph, counter, full=full), False
    except GraphError as exc:
        if full or exc.status not in (400, 410):
            raise
        log.warning("Graph refused the stored delta link (%s %s): reading in full", exc.status, exc.code)
        return read(ctx, conn, graph, counter, full=True), True


def _read_groups(ctx: Context, conn: Connection, graph: GraphClient, counter: list[int], *, full: bool) -> int:
    """Bring the cached groups and direct members up to date through ``/groups/delta``; returns how many groups
    the round reported (every group on a first round, the changed ones after)."""
    cid = connection_id(ctx, conn)
    row = ctx.store.query_one("SELECT delta_link FROM entra_groups_delta WHERE connection_id = ?", (cid,))
    link = None if full or row is None else row["delta_link"]
    names: dict[str, str | None] = {}
    gone: set[str] = set()
    added: dict[tuple[str, str], int] = {}
    removed: set[tuple[str, str]] = set()
    delta_link = None
    for page in _pages(graph, link or "groups/delta", "read the tenant's groups and their members",
                       None if link else {"$select": "displayName,members", "$top": PAGE}, counter):
        for g in _entries(page, "groups/delta"):
            gid = _text(g.get("id"))
            if not gid:
                raise _garbled("groups/delta")
            if "@removed" in g:
                gone.add(gid)
                names.pop(gid, None)
                continue
            gone.discard(gid)
            names[gid] = _text(g.get("displayName")) or names.get(gid)
            members = g.get("members@delta")
            if members is not None and not isinstance(members, list):
                raise _garbled("groups/delta")
            for m in members or []:
                mid = _text(m.get("id")) if isinstance(m, dict) else None
                if not mid:
                    raise _garbled("groups/delta")
                kind = str(m.get("@odata.type") or "#microsoft.graph.user").lower()
                if not kind.endswith((".user", ".group")):
                    continue  # devices, service principals, contacts: not people
                key = (gid, mid)
                if "@removed" in m:
                    removed.add(key)
                    added.pop(key, None)
                else:
                    removed.discard(key)
                    added[key] = int(kind.endswith(".group"))
        found = page.get("@odata.deltaLink")
        if isinstance(found, str) and found:
            delta_link = found
    if delta_link is None:
        raise GraphError(_("Graph's group listing ended without a delta link, so it may have ended early."),
                         _("Run the reconciliation again; if it persists, run it with --full."), code="NoDeltaLink")
    with ctx.store.transaction() as db:
        if link is None:
            db.execute("DELETE FROM entra_group_members WHERE connection_id = ?", (cid,))
            db.execute("DELETE FROM entra_groups WHERE connection_id = ?", (cid,))
        db.executemany("DELETE FROM entra_group_members WHERE connection_id = ? AND group_id = ?",
                       [(cid, gid) for gid in gone])
        db.executemany("DELETE FROM entra_groups WHERE connection_id = ? AND id = ?", [(cid, gid) for gid in gone])
        db.executemany("INSERT INTO entra_groups (connection_id, id, display_name) VALUES (?, ?, ?) ON CONFLICT "
                       "(connection_id, id) DO UPDATE SET display_name = coalesce(excluded.display_name, "
                       "entra_groups.display_name)", [(cid, gid, name) for gid, name in names.items()])
        db.executemany("DELETE FROM entra_group_members WHERE connection_id = ? AND group_id = ? AND member_id = ?",
                       [(cid, gid, mid) for gid, mid in removed])
        db.executemany("INSERT OR REPLACE INTO entra_group_members (connection_id, group_id, member_id, "
                       "member_is_group) VALUES (?, ?, ?, ?)",
                       [(cid, gid, mid, nested) for (gid, mid), nested in added.items()])
        db.execute("INSERT INTO entra_groups_delta (connection_id, delta_link, at) VALUES (?, ?, ?) ON CONFLICT "
                   "(connection_id) DO UPDATE SET delta_link = excluded.delta_link, at = excluded.at",
                   (cid, delta_link, ctx.now().isoformat()))
    return len(names) + len(gone)


def _frame(columns: dict[str, list[Any]], text: tuple[str, ...]) -> pd.DataFrame:
    """A DataFrame from column lists, the ``text`` columns as Arrow strings (a tenth of Python objects' memory)."""
    return pd.DataFrame({name: pd.array(values, dtype="string[pyarrow]") if name in text else values
                         for name, values in columns.items()})


def _cached_members(ctx: Context, conn: Connection, roots: list[str]) -> pd.DataFrame:
    """The user members of ``roots`` (the assigned groups), direct and through nested groups, from the cached
    direct members, expanded in SQLite (a recursive query; ``UNION`` ends cycles), so only the pairs needed come
    into memory: group_id, user_id, direct (a direct member of that group, which is what puts a user in scope)."""
    if not roots:
        return pd.DataFrame({"group_id": pd.Series([], dtype="string[pyarrow]"),
                             "user_id": pd.Series([], dtype="string[pyarrow]"), "direct": pd.Series([], dtype=bool)})
    cid = connection_id(ctx, conn)
    cols = ctx.store.columns(
        "WITH RECURSIVE reach(root, gid) AS (SELECT value, value FROM json_each(?) UNION SELECT r.root, m.member_id "
        "FROM reach r JOIN entra_group_members m ON m.connection_id = ? AND m.group_id = r.gid AND m.member_is_group) "
        "SELECT r.root, m.member_id, MAX(r.gid = r.root) FROM reach r JOIN entra_group_members m "
        "ON m.connection_id = ? AND m.group_id = r.gid AND NOT m.member_is_group GROUP BY r.root, m.member_id",
        (json.dumps(roots), cid, cid))
    out = _frame(dict(zip(["group_id", "user_id", "direct"], cols or [[], [], []], strict=True)),
                 text=("group_id", "user_id"))
    out["direct"] = out["direct"].astype(bool)
    return out
