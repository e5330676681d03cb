"""Graph reads of the simulated tenant, for reconciliation: users (``$select``, ``$top``, ``@odata.nextLink``),
``/users/delta`` and ``/groups/delta`` (with ``members@delta``) with delta links, a group and its
``transitiveMembers``, and the enterprise app's ``appRoleAssignedTo``.

``/groups/delta?$select=displayName,members``: the first round returns every group with its members; a group with
more members than a page holds (``MEMBERS_PER_PAGE``) continues on the next page, as Graph splits large member
lists. A later round returns only the groups changed since, each with ``members@delta`` listing the members
added and, with ``"@removed"``, those removed; a deleted group comes as ``{"id", "@removed"}``.

Soft-deleted users are in Entra's recycle bin: absent from ``/users`` and ``transitiveMembers``, and reported by
a delta round as ``{"id", "@removed": {"reason": "changed"}}`` (``"deleted"`` once hard-deleted). Paging is by
object id (a ``$skiptoken`` names the last id returned), so it stays exact while the tenant changes. A delta
link's ``$deltatoken`` is the position in the tenant's change log when the round began: the next round returns
only users changed after it. Throttling (429 + ``Retry-After``) comes from the server's fault injection
(``paths`` ``^/graph``), as for every Graph route.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
from collections.abc import Collection
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .graph import GRAPH, _authorize, _sim, graph_error
from .records import APP_NAME, det_uuid

READ_USERS = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
READ_GROUPS = ("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
               "Directory.ReadWrite.All")
READ_APPS = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
DEFAULT_TOP = 100
MAX_TOP = 999
USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                "preferredLanguage", "surname", "userPrincipalName", "id")
USER_PROPS = set(USER_DEFAULT) | {"accountEnabled", "department", "userType", "mailNickname"}
GROUP_PROPS = {"id", "displayName", "members", "description"}
#: members per page of a first groups/delta round (env ``SANDBOX_GRAPH_MEMBERS_PER_PAGE`` lowers it for tests)
MEMBERS_PER_PAGE = max(1, int(os.environ.get("SANDBOX_GRAPH_MEMBERS_PER_PAGE", "2000") or 2000))
DEFAULT_ROLE = "00000000-0000-0000-0000-000000000000"  # "Default Access"
_USERS_SQL = ("SELECT u.*, g.display_name AS dept_name FROM src_users u LEFT JOIN src_groups g "
              "ON g.object_id = u.department")


class _Bad(ValueError):
    pass


def _user(row: Any, select: tuple[str, ...]) -> dict[str, Any]:
    upn = row["upn"]
    full = {"id": row["object_id"], "businessPhones": [], "displayName": row["display_name"],
            "givenName": row["given_name"], "jobTitle": None, "mail": row["mail"], "mobilePhone": None,
            "officeLocation": None, "preferredLanguage": None, "surname": row["surname"], "userPrincipalName": upn,
            "accountEnabled": True, "department": row["dept_name"], "mailNickname": str(upn).split("@")[0],
            "userType": "Guest" if "#EXT#" in str(upn).upper() else "Member"}
    return {k: full[k] for k in select}


def _select(request: Request, props: Collection[str] | None = None, kind: str = "user",
            default: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The ``$select`` names (Graph's error for an unknown one); the users' by default."""
    props, default = (USER_PROPS, USER_DEFAULT) if props is None else (props, default or tuple(props))
    raw = request.query_params.get("$select")
    if raw is None:
        return default
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in props]
    if unknown or not names:
        raise _Bad(f"Could not find a property named '{(unknown or [raw])[0]}' on type 'microsoft.graph.{kind}'. "
                   f"Select from: {', '.join(sorted(props))}.")
    return names


def _top(request: Request) -> int:
    raw = request.query_params.get("$top")
    if raw is None:
        return DEFAULT_TOP
    try:
        top = int(raw)
    except ValueError:
        raise _Bad(f"Invalid value for $top: {raw!r}; give a number from 1 to {MAX_TOP}.") from None
    if not 1 <= top <= MAX_TOP:
        raise _Bad(f"$top must be between 1 and {MAX_TOP}, not {top}.")
    return top


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise _Bad(f"The {what} is not valid: follow @odata.nextLink / @odata.deltaLink exactly as returned.") \
            from None
    if not isinstance(value, dict) or not all(_STATE_CHECKS.get(k, _never)(v) for k, v in value.items()):
        raise _Bad(f"The {what} is not valid: follow @odata.nextLink / @odata.deltaLink exactly as returned.")
    return value


def _position(v: Any) -> bool:
    return type(v) is int and 0 <= v < 2**62


def _never(_v: Any) -> bool:
    return False


# what each field of a paging state may hold (a crafted token with anything else is Graph's 400, not a 500)
_STATE_CHECKS = {"a": lambda v: isinstance(v, str), "k": lambda v: isinstance(v, str),
                 "g": lambda v: isinstance(v, str), "u": lambda v: v is None or isinstance(v, str),
                 "d": _position, "since": lambda v: v is None or _position(v)}


def _link(request: Request, path: str, params: dict[str, str]) -> str:
    keep = {k: v for k, v in request.query_params.items() if k in ("$select", "$top")}
    return f"{str(request.base_url).rstrip('/')}{GRAPH}{path}?" + urlencode({**keep, **params})


def _unsupported(request: Request) -> None:
    for key in ("$filter", "$orderby", "$search", "$expand"):
        if key in request.query_params:
            raise _Bad(f"The sandbox's Graph does not support {key} here; page with $top and @odata.nextLink.")


def _guard(needed: tuple[str, ...]) -> Any:
    def wrap(handler: Any) -> Any:
        async def route(request: Request) -> Response:
            denied = _authorize(request, needed)
            if denied:
                return denied
            try:
                _unsupported(request)
                return await handler(request)
            except _Bad as exc:
                return graph_error(400, "BadRequest", str(exc))
        return route
    return wrap


def _not_found(what: str, oid: str) -> Response:
    return graph_error(404, "Request_ResourceNotFound", f"Resource '{oid}' does not exist or one of its queried "
                       f"reference-property objects are not present ({what}).")


@_guard(READ_USERS)
async def users(request: Request) -> Response:
    select, top = _select(request), _top(request)
    token = request.query_params.get("$skiptoken")
    after = str(_decode(token, "$skiptoken").get("a", "")) if token else ""
    rows = await asyncio.to_thread(_sim(request).db.query, f"{_USERS_SQL} WHERE NOT u.soft_deleted AND NOT "
                                   "u.hard_deleted AND u.object_id > ? ORDER BY u.object_id LIMIT ?", (after, top + 1))
    body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                            "value": [_user(r, select) for r in rows[:top]]}
    if len(rows) > top:
        body["@odata.nextLink"] = _link(request, "/users", {"$skiptoken": _encode({"a": rows[top - 1]["object_id"]})})
    return JSONResponse(body)


@_guard(READ_USERS)
async def user(request: Request) -> Response:
    select = _select(request)
    oid = request.path_params["id"]
    rows = await asyncio.to_thread(_sim(request).db.query, f"{_USERS_SQL} WHERE (u.object_id = ? OR lower(u.upn) = "
                                   "lower(?)) AND NOT u.soft_deleted AND NOT u.hard_deleted", (oid, oid))
    if not rows:
        return _not_found("user", oid)
    return JSONResponse({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                         **_user(rows[0], select)})


@_guard(READ_USERS)
async def users_delta(request: Request) -> Response:
    select, top = _select(request), _top(request)
    if "id" not in select:
        select = ("id", *select)
    db = _sim(request).db
    q = request.query_params
    if "$deltatoken" in q:
        state = _decode(q["$deltatoken"], "$deltatoken")
        since = state.get("d")
        if not isinstance(since, int):
            raise _Bad("The $deltatoken is not valid.")
        state = {"a": "", "since": since}
    elif "$skiptoken" in q:
        state = _decode(q["$skiptoken"], "$skiptoken")
    else:
        state = {"a": "", "since": None}
    if "d" not in state or "$deltatoken" in q:
        head = db.one("SELECT coalesce(max(seq), 0) AS n FROM dir_changes")
        state["d"] = int(head["n"]) if head else 0
    after, since, upto = str(state.get("a", "")), state.get("since"), state["d"]
    if since is None:
        rows = await asyncio.to_thread(db.query, f"{_USERS_SQL} WHERE NOT u.soft_deleted AND NOT u.hard_deleted "
                                       "AND u.object_id > ? ORDER BY u.object_id LIMIT ?", (after, top + 1))
    else:
        rows = await asyncio.to_thread(db.query, f"{_USERS_SQL} WHERE u.object_id IN (SELECT object_id FROM "
                                       "dir_changes WHERE seq > ? AND seq <= ?) AND u.object_id > ? "
                                       "ORDER BY u.object_id LIMIT ?", (since, upto, after, top + 1))
    value = []
    for r in rows[:top]:
        if r["hard_deleted"] or r["soft_deleted"]:
            value.append({"@odata.type": "#microsoft.graph.user", "id": r["object_id"],
                          "@removed": {"reason": "deleted" if r["hard_deleted"] else "changed"}})
        else:
            value.append({"@odata.type": "#microsoft.graph.user", **_user(r, select)})
    body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": value}
    if len(rows) > top:
        nxt = {"a": rows[top - 1]["object_id"], "since": since, "d": upto}
        body["@odata.nextLink"] = _link(request, "/users/delta", {"$skiptoken": _encode(nxt)})
    else:
        body["@odata.deltaLink"] = _link(request, "/users/delta", {"$deltatoken": _encode({"d": upto})})
    return JSONResponse(body)


def _group_row(request: Request) -> Any:
    return _sim(request).db.one("SELECT * FROM src_groups WHERE object_id = ? AND NOT deleted",
                                (request.path_params["id"],))


@_guard(READ_GROUPS)
async def group(request: Request) -> Response:
    row = await asyncio.to_thread(_group_row, request)
    if row is None:
        return _not_found("group", request.path_params["id"])
    return JSONResponse({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups/$entity",
                         "id": row["object_id"], "displayName": row["display_name"], "description": None,
                         "groupTypes": [], "mail": None, "mailEnabled": False, "securityEnabled": True,
                         "mailNickname": row["display_name"].replace(" ", "")})


@_guard(READ_GROUPS)
async def transitive_members(request: Request) -> Response:
    select, top = _select(request), _top(request)
    gid = request.path_params["id"]
    if await asyncio.to_thread(_group_row, request) is None:
        return _not_found("group", gid)
    token = request.query_params.get("$skiptoken")
    after = str(_decode(token, "$skiptoken").get("a", "")) if token else ""
    rows = await asyncio.to_thread(_sim(request).db.query, f"{_USERS_SQL} WHERE u.object_id IN (SELECT user_id FROM "
                                   "src_members WHERE group_id = ?) AND NOT u.soft_deleted AND NOT u.hard_deleted "
                                   "AND u.object_id > ? ORDER BY u.object_id LIMIT ?", (gid, after, top + 1))
    body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
                            "value": [{"@odata.type": "#microsoft.graph.user", **_user(r, select)}
                                      for r in rows[:top]]}
    if len(rows) > top:
        body["@odata.nextLink"] = _link(request, f"/groups/{gid}/transitiveMembers",
                                        {"$skiptoken": _encode({"a": rows[top - 1]["object_id"]})})
    return JSONResponse(body)


def _group_select(request: Request) -> set[str]:
    raw = request.query_params.get("$select")
    names = {n.strip() for n in (raw or "displayName,members").split(",") if n.strip()}
    unknown = sorted(names - GROUP_PROPS)
    if unknown or not names:
        raise _Bad(f"Could not find a property named '{(unknown or [raw])[0]}' on type 'microsoft.graph.group'. "
                   f"Select from: {', '.join(sorted(GROUP_PROPS))}.")
    return names


def _member(uid: str, removed: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"@odata.type": "#microsoft.graph.user", "id": uid}
    if removed:
        item["@removed"] = {"reason": "deleted"}
    return item


def _group_item(row: Any, select: set[str], members: list[dict[str, Any]] | None) -> dict[str, Any]:
    item: dict[str, Any] = {"@odata.type": "#microsoft.graph.group", "id": row["object_id"]}
    if "displayName" in select:
        item["displayName"] = row["display_name"]
    if "description" in select:
        item["description"] = None
    if "members" in select and members is not None:
        item["members@delta"] = members
    return item


def _groups_full_page(db: Any, select: set[str], top: int, state: dict[str, Any]
                      ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A page of the first round: up to ``top`` groups and ``MEMBERS_PER_PAGE`` members; the state to go on from
    (None at the end). ``state``: ``g`` the group to resume in (with ``u`` its last member sent) or to go past."""
    group, last_user = str(state.get("g", "")), state.get("u")
    op = ">=" if last_user is not None else ">"
    rows = db.query(f"SELECT * FROM src_groups WHERE NOT deleted AND object_id {op} ? ORDER BY object_id LIMIT ?",
                    (group, top + 1))
    value: list[dict[str, Any]] = []
    budget = MEMBERS_PER_PAGE
    for index, row in enumerate(rows[:top]):
        after = str(last_user) if last_user is not None and row["object_id"] == group else ""
        members = [] if "members" not in select else [r["user_id"] for r in db.query(
            "SELECT m.user_id FROM src_members m JOIN src_users u ON u.object_id = m.user_id WHERE m.group_id = ? "
            "AND m.user_id > ? AND NOT u.soft_deleted AND NOT u.hard_deleted ORDER BY m.user_id LIMIT ?",
            (row["object_id"], after, budget + 1))]
        if len(members) > budget:  # the rest of this group's members on the next page
            value.append(_group_item(row, select, [_member(u) for u in members[:budget]]))
            return value, {"g": row["object_id"], "u": members[budget - 1]}
        value.append(_group_item(row, select, [_member(u) for u in members]))
        budget -= len(members)
        more = index + 1 < len(rows)
        if budget <= 0 and more:
            return value, {"g": row["object_id"]}
    if len(rows) > top:
        return value, {"g": rows[top - 1]["object_id"]}
    return value, None


def _groups_delta_page(db: Any, select: set[str], top: int, state: dict[str, Any]
                       ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A page of a later round: the groups changed after ``since`` up to ``d``, past group ``g``."""
    since, upto, after = int(state["since"]), int(state["d"]), str(state.get("g", ""))
    changed = db.query("SELECT DISTINCT group_id FROM group_changes WHERE seq > ? AND seq <= ? AND group_id > ? "
                       "ORDER BY group_id LIMIT ?", (since, upto, after, top + 1))
    value: list[dict[str, Any]] = []
    for c in changed[:top]:
        gid = c["group_id"]
        row = db.one("SELECT * FROM src_groups WHERE object_id = ?", (gid,))
        if row is None or row["deleted"]:
            value.append({"@odata.type": "#microsoft.graph.group", "id": gid, "@removed": {"reason": "deleted"}})
            continue
        net: dict[str, bool] = {}
        for r in db.query("SELECT member_id, removed FROM group_changes WHERE group_id = ? AND seq > ? AND seq <= ? "
                          "AND member_id IS NOT NULL ORDER BY seq", (gid, since, upto)):
            net[r["member_id"]] = bool(r["removed"])
        value.append(_group_item(row, select, [_member(u, gone) for u, gone in sorted(net.items())]))
    if len(changed) > top:
        return value, {"g": changed[top - 1]["group_id"], "since": since, "d": upto}
    return value, None


@_guard(READ_GROUPS)
async def groups_delta(request: Request) -> Response:
    select, top = _group_select(request), _top(request)
    db = _sim(request).db
    q = request.query_params
    if "$deltatoken" in q:
        since = _decode(q["$deltatoken"], "$deltatoken").get("d")
        if not isinstance(since, int):
            raise _Bad("The $deltatoken is not valid.")
        state: dict[str, Any] = {"since": since}
    elif "$skiptoken" in q:
        state = _decode(q["$skiptoken"], "$skiptoken")
    else:
        state = {}
    if "d" not in state:
        head = db.one("SELECT coalesce(max(seq), 0) AS n FROM group_changes")
        state["d"] = int(head["n"]) if head else 0
    if state.get("since") is None:
        value, nxt = await asyncio.to_thread(_groups_full_page, db, select, top, state)
        if nxt is not None:
            nxt["d"] = state["d"]
    else:
        value, nxt = await asyncio.to_thread(_groups_delta_page, db, select, top, state)
    body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups", "value": value}
    if nxt is not None:
        body["@odata.nextLink"] = _link(request, "/groups/delta", {"$skiptoken": _encode(nxt)})
    else:
        body["@odata.deltaLink"] = _link(request, "/groups/delta", {"$deltatoken": _encode({"d": state["d"]})})
    return JSONResponse(body)


@_guard(READ_APPS)
async def app_role_assigned_to(request: Request) -> Response:
    sim = _sim(request)
    sp = request.path_params["sp"]
    if sp != sim.ids.service_principal_id:
        return _not_found("servicePrincipal", sp)
    select = _select(request, ASSIGNMENT_PROPS, "appRoleAssignment")
    top = _top(request)
    token = request.query_params.get("$skiptoken")
    state = _decode(token, "$skiptoken") if token else {"k": "", "a": ""}
    kind, after = str(state.get("k", "")), str(state.get("a", ""))
    rows = await asyncio.to_thread(_assignments_page, sim.db, kind, after, top + 1)
    value = [_assignment(sim.seed, sp, r, select) for r in rows[:top]]
    body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals('"
                            f"{sp}')/appRoleAssignedTo", "value": value}
    if len(rows) > top:
        last = rows[top - 1]
        body["@odata.nextLink"] = _link(request, f"/servicePrincipals/{sp}/appRoleAssignedTo",
                                        {"$skiptoken": _encode({"k": last["kind"], "a": last["object_id"]})})
    return JSONResponse(body)


# groups first, then users, each in object id order: one indexed range read per kind (a UNION sorted as a whole
# re-sorted the tenant on every page)
_ASSIGNED = (("Group", "SELECT 'Group' AS kind, object_id, display_name FROM src_groups WHERE object_id > ? AND "
                       "assigned AND NOT deleted ORDER BY object_id LIMIT ?"),
             ("User", "SELECT 'User' AS kind, object_id, display_name FROM src_users WHERE object_id > ? AND assigned "
                      "AND NOT soft_deleted AND NOT hard_deleted ORDER BY object_id LIMIT ?"))


def _assignments_page(db: Any, kind: str, after: str, limit: int) -> list[Any]:
    rows: list[Any] = []
    for name, sql in _ASSIGNED:
        if name < kind or len(rows) >= limit:
            continue
        rows.extend(db.query(sql, (after if name == kind else "", limit - len(rows))))
    return rows


ASSIGNMENT_PROPS = ("id", "appRoleId", "createdDateTime", "deletedDateTime", "principalDisplayName", "principalId",
                    "principalType", "resourceDisplayName", "resourceId")


def _assignment(seed: int, sp: str, row: Any, select: tuple[str, ...]) -> dict[str, Any]:
    """One appRoleAssignment with the ``$select``ed properties (``id`` always, as Graph returns it)."""
    values = {"appRoleId": DEFAULT_ROLE, "createdDateTime": None, "deletedDateTime": None,
              "principalDisplayName": row["display_name"], "principalId": row["object_id"],
              "principalType": row["kind"], "resourceDisplayName": APP_NAME, "resourceId": sp}
    out = {"id": _assignment_id(seed, row["object_id"])}
    out.update((k, values[k]) for k in select if k != "id")
    return out


def _assignment_id(seed: int, principal: str) -> str:
    """appRoleAssignment ids are base64url strings in Graph; derived from the principal so they are stable."""
    raw = det_uuid(seed, "app-role-assignment", principal).replace("-", "")
    return base64.urlsafe_b64encode(bytes.fromhex(raw) * 2).decode().rstrip("=")[:43]


def routes() -> list[BaseRoute]:
    return [
        Route(GRAPH + "/users", users, methods=["GET"]),
        Route(GRAPH + "/users/delta", users_delta, methods=["GET"]),
        Route(GRAPH + "/users/delta()", users_delta, methods=["GET"]),
        Route(GRAPH + "/users/{id}", user, methods=["GET"]),
        Route(GRAPH + "/groups/delta", groups_delta, methods=["GET"]),
        Route(GRAPH + "/groups/delta()", groups_delta, methods=["GET"]),
        Route(GRAPH + "/groups/{id}", group, methods=["GET"]),
        Route(GRAPH + "/groups/{id}/transitiveMembers", transitive_members, methods=["GET"]),
        Route(GRAPH + "/servicePrincipals/{sp}/appRoleAssignedTo", app_role_assigned_to, methods=["GET"]),
    ]
