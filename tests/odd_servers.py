"""Purpose-built odd SCIM servers for tests: real HTTP on 127.0.0.1, in memory, each defect a named switch.

``OddScim`` is a small, otherwise correct SCIM 2.0 service provider (Users, Groups, filters on the attributes the
console uses, paging, ``attributes``/``excludedAttributes``, bearer tokens from a 6clicks-style API-key exchange)
whose defects are the ones real servers have:

- ``rmw_projection``: PATCH is read-modify-write, and the resource it reads honours the request's ``attributes``
  / ``excludedAttributes``. ``PATCH /Groups/{id}?excludedAttributes=members`` therefore writes the group back
  without its members: the classic wipe (adding two people to a 10-member group leaves 2).
- ``sloppy_add``: "add members" replaces the member list with the people added (collateral loss without any
  query parameter).
- ``write_answer``: what a successful write answers: ``"resource"`` (200/201 with the resource), ``"empty"``
  (200/201 without a body), ``"none"`` (204) or ``"junk"`` (200/201 with JSON that is not a resource).
- ``ignore_active``: PATCHes of ``active`` succeed without being stored; with ``echo_active`` the answer even
  shows the asked value (a body that lies).
- ``ignore_removes``: "remove members" succeeds without removing anyone.
- ``fail_group_reads``: ``GET /Groups/{id}`` answers 500 (writes still work), to test read-backs that fail;
  ``group_reads_left=N`` does the same after N successful reads.
- ``no_id_filter``: a filter on ``id`` is refused (400), as some servers do.
- ``busy_writes``: every PATCH answers 503 with ``Retry-After: 0`` (an overloaded server: reads work, writes never
  get through), to count the attempts a client makes.

It has the sandbox's process contract where tests need it: ``api_url``, ``scim_url``, ``api_key``, ``token()``.
``requests`` records every request (method, path, query, JSON body) so tests can check what was sent.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.scim_client.peers import Served

SCIM = "application/scim+json"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
ALWAYS = {"id", "schemas", "meta"}


class ScimFailure(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def make_token(days: int = 365) -> str:
    """A JWT-shaped bearer token with an ``exp`` claim (the console reads the expiry from it)."""
    now = int(time.time())
    return ".".join([_b64({"alg": "HS256", "typ": "JWT"}),
                     _b64({"sub": "odd", "iat": now, "exp": now + days * 86400, "jti": secrets.token_hex(8)}),
                     secrets.token_urlsafe(24)])


def _ci(doc: dict[str, Any], name: str) -> Any:
    for k, v in doc.items():
        if k.lower() == name.lower():
            return v
    return None


def project(doc: dict[str, Any], attributes: str | None, excluded: str | None) -> dict[str, Any]:
    """RFC 7644 §3.9 on top-level attributes (case-insensitive)."""
    if attributes:
        keep = {a.strip().lower() for a in attributes.split(",") if a.strip()}
        return {k: v for k, v in doc.items() if k.lower() in keep or k in ALWAYS}
    if excluded:
        drop = {a.strip().lower() for a in excluded.split(",") if a.strip()}
        return {k: v for k, v in doc.items() if k.lower() not in drop or k in ALWAYS}
    return doc


class OddScim:
    """An in-memory SCIM server with switchable defects (see the module docstring)."""

    def __init__(self, *, users: int = 0, groups: list[tuple[str, list[int]]] | None = None,
                 rmw_projection: bool = False, sloppy_add: bool = False, write_answer: str = "resource",
                 ignore_active: bool = False, echo_active: bool = False, ignore_removes: bool = False,
                 fail_group_reads: bool = False, group_reads_left: int | None = None,
                 no_id_filter: bool = False, busy_writes: bool = False) -> None:
        self.rmw_projection = rmw_projection
        self.sloppy_add = sloppy_add
        self.write_answer = write_answer
        self.ignore_active = ignore_active
        self.echo_active = echo_active
        self.ignore_removes = ignore_removes
        self.fail_group_reads = fail_group_reads
        self.group_reads_left = group_reads_left
        self.no_id_filter = no_id_filter
        self.busy_writes = busy_writes
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.api_key = "odd_" + secrets.token_hex(12)
        self._token = make_token()
        for i in range(users):
            self.add_user(f"person{i:03d}@odd.example", given=f"Given{i}", family=f"Family{i}",
                          active=i % 7 != 6)
        ids = sorted(self.users, key=lambda k: self.users[k]["userName"])
        for name, members in groups or []:
            self.add_group(name, [ids[i] for i in members])
        self.served: Served | None = None

    # -- seeding and inspection (direct, no HTTP) ------------------------------------------------------------
    def add_user(self, user_name: str, *, given: str | None = None, family: str | None = None,
                 active: bool = True) -> str:
        uid = uuid.uuid4().hex
        doc: dict[str, Any] = {"schemas": [USER_URN], "id": uid, "userName": user_name, "active": active,
                               "emails": [{"value": user_name, "type": "work", "primary": True}],
                               "externalId": str(uuid.uuid4()),
                               "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z",
                                        "lastModified": "2026-01-01T00:00:00Z"}}
        if given or family:
            doc["name"] = {"givenName": given, "familyName": family}
        with self.lock:
            self.users[uid] = doc
        return uid

    def add_group(self, name: str, member_ids: list[str]) -> str:
        gid = uuid.uuid4().hex
        with self.lock:
            self.groups[gid] = {"schemas": [GROUP_URN], "id": gid, "displayName": name,
                                "members": [{"value": m} for m in member_ids],
                                "meta": {"resourceType": "Group", "created": "2026-01-01T00:00:00Z",
                                         "lastModified": "2026-01-01T00:00:00Z"}}
        return gid

    def member_ids(self, group_id: str) -> set[str]:
        with self.lock:
            return {m["value"] for m in self.groups[group_id].get("members") or []}

    def group_id(self, name: str) -> str:
        with self.lock:
            return next(g for g, d in self.groups.items() if d["displayName"] == name)

    def user_id(self, user_name: str) -> str:
        with self.lock:
            return next(u for u, d in self.users.items() if d["userName"] == user_name)

    def writes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["method"] in ("POST", "PUT", "PATCH", "DELETE")
                    and r["path"].startswith("/scim/")]

    # -- the sandbox-like contract ---------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        assert self.served is not None, "start() first"
        return self.served.url

    @property
    def scim_url(self) -> str:
        return self.api_url + "/scim"

    def token(self, long_lived: bool = True, *, fresh: bool = False) -> str:
        return self._token

    def start(self) -> OddScim:
        self.served = Served(self.app())
        return self

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()
            self.served = None

    # -- HTTP -----------------------------------------------------------------------------------------------
    def app(self) -> Starlette:
        async def token(request: Request) -> Response:
            body = await _json(request)
            if not isinstance(body, dict) or body.get("apiKey") != self.api_key:
                return _error(401, "Invalid API key")
            return Response(orjson.dumps({"accessToken": self._token}), media_type="application/json")

        async def scim(request: Request) -> Response:
            body = await _json(request)
            rest = request.path_params["rest"].strip("/")
            with self.lock:
                self.requests.append({"method": request.method, "path": request.url.path,
                                      "query": dict(request.query_params), "body": body})
            if request.headers.get("authorization") != f"Bearer {self._token}":
                return _error(401, "The bearer token is missing or not valid.")
            try:
                return self.handle(request.method, rest, dict(request.query_params), body)
            except ScimFailure as exc:
                return _error(exc.status, exc.detail, exc.scim_type)

        return Starlette(routes=[Route("/auth-api/1.0/auth/token", token, methods=["POST"]),
                                 Route("/scim/{rest:path}", scim, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])

    def handle(self, method: str, rest: str, q: dict[str, str], body: Any) -> Response:
        parts = rest.split("/")
        kind = parts[0]
        if kind == "ServiceProviderConfig":
            return _ok({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                        "patch": {"supported": True}, "filter": {"supported": True, "maxResults": 200}})
        if kind not in ("Users", "Groups") or len(parts) > 2:
            raise ScimFailure(404, f"No such endpoint: {rest}")
        store = self.users if kind == "Users" else self.groups
        with self.lock:
            if len(parts) == 1:
                if method == "GET":
                    return self._list(kind, store, q)
                if method == "POST":
                    return self._create(kind, store, body)
                raise ScimFailure(405, "method not allowed")
            rid = parts[1]
            doc = store.get(rid)
            if doc is None:
                raise ScimFailure(404, f"{kind[:-1]} {rid} not found")
            if method == "GET":
                if kind == "Groups" and self.group_reads_left is not None:
                    self.fail_group_reads = self.fail_group_reads or self.group_reads_left <= 0
                    self.group_reads_left -= 1
                if kind == "Groups" and self.fail_group_reads:
                    raise ScimFailure(500, "group reads are failing")
                return _ok(project(doc, q.get("attributes"), q.get("excludedAttributes")))
            if method == "DELETE":
                del store[rid]
                if kind == "Users":
                    for g in self.groups.values():
                        g["members"] = [m for m in g.get("members") or [] if m["value"] != rid]
                return self._written(None, 204)
            if method == "PATCH":
                if self.busy_writes:
                    response = _error(503, "the service is overloaded; try again later")
                    response.headers["Retry-After"] = "0"
                    return response
                return self._patch(kind, store, rid, q, body)
            if method == "PUT":
                if not isinstance(body, dict):
                    raise ScimFailure(400, "a PUT needs the whole resource")
                new = {**body, "id": rid, "meta": doc["meta"], "schemas": doc["schemas"]}
                store[rid] = new
                return self._written(new, 200)
        raise ScimFailure(405, "method not allowed")

    def _list(self, kind: str, store: dict[str, dict[str, Any]], q: dict[str, str]) -> Response:
        docs = sorted(store.values(), key=lambda d: d.get("userName") or d.get("displayName") or "")
        if q.get("filter"):
            if self.no_id_filter and any(t.lower() == "id" for t in q["filter"].replace("(", " ").split()):
                raise ScimFailure(400, "filtering on id is not supported", "invalidFilter")
            test = _compile(q["filter"])
            docs = [d for d in docs if test(d)]
        start = max(1, int(q.get("startIndex", "1") or 1))
        count = max(0, min(200, int(q.get("count", "100") or 100)))
        page = [project(d, q.get("attributes"), q.get("excludedAttributes"))
                for d in docs[start - 1:start - 1 + count]]
        return _ok({"schemas": [LIST_URN], "totalResults": len(docs), "startIndex": start,
                    "itemsPerPage": len(page), "Resources": page})

    def _create(self, kind: str, store: dict[str, dict[str, Any]], body: Any) -> Response:
        if not isinstance(body, dict):
            raise ScimFailure(400, "a JSON object is required")
        key = "userName" if kind == "Users" else "displayName"
        if not body.get(key):
            raise ScimFailure(400, f"{key} is required")
        if any(str(d.get(key)).lower() == str(body[key]).lower() for d in store.values()):
            raise ScimFailure(409, f"{key} already exists", "uniqueness")
        rid = uuid.uuid4().hex
        doc = {**body, "id": rid, "meta": {"resourceType": kind[:-1], "created": "2026-01-01T00:00:00Z",
                                           "lastModified": "2026-01-01T00:00:00Z"}}
        if kind == "Users":
            doc.setdefault("active", True)
        else:
            doc["members"] = [{"value": m["value"]} for m in body.get("members") or []]
        store[rid] = doc
        return self._written(doc, 201)

    def _patch(self, kind: str, store: dict[str, dict[str, Any]], rid: str, q: dict[str, str], body: Any) -> Response:
        ops = _ci(body, "Operations") if isinstance(body, dict) else None
        if not isinstance(ops, list) or not ops:
            raise ScimFailure(400, "a PatchOp needs Operations")
        stored = store[rid]
        # What a careful server does: apply to the stored resource. The rmw defect: apply to the resource as read
        # with the request's attributes/excludedAttributes, then store that whole.
        base = project(stored, q.get("attributes"), q.get("excludedAttributes")) if self.rmw_projection else stored
        doc = json.loads(json.dumps(base))
        asked_active: bool | None = None
        for op in ops:
            name = str(_ci(op, "op") or "").lower()
            path = _ci(op, "path")
            value = _ci(op, "value")
            if kind == "Users":
                asked_active = self._patch_user(doc, name, path, value, asked_active)
            else:
                self._patch_group(doc, name, path, value)
        answer = doc
        if kind == "Users" and self.ignore_active and asked_active is not None:
            doc["active"] = stored.get("active", True)        # not stored...
            if self.echo_active:                             # ...and, with echo_active, not admitted either
                answer = {**doc, "active": asked_active}
        store[rid] = doc
        return self._written(answer, 200)

    @staticmethod
    def _patch_user(doc: dict[str, Any], name: str, path: Any, value: Any, asked: bool | None) -> bool | None:
        if path is None and isinstance(value, dict):
            for k, v in value.items():
                if k.lower() == "active":
                    asked = v if isinstance(v, bool) else str(v).lower() == "true"
                    doc["active"] = asked
                else:
                    doc[k] = v
            return asked
        if not isinstance(path, str):
            raise ScimFailure(400, "path must be a string", "invalidPath")
        if path.lower() == "active":
            if name not in ("replace", "add"):
                raise ScimFailure(400, "active can only be replaced", "invalidPath")
            asked = value if isinstance(value, bool) else str(value).lower() == "true"
            doc["active"] = asked
            return asked
        if name == "remove":
            doc.pop(path, None)
        else:
            doc[path] = value
        return asked

    def _patch_group(self, doc: dict[str, Any], name: str, path: Any, value: Any) -> None:
        members: list[dict[str, Any]] = list(doc.get("members") or [])
        present = {m["value"] for m in members}
        if isinstance(path, str) and path.lower().startswith("members["):
            if name != "remove":
                raise ScimFailure(400, "a members[...] path is only supported with remove", "invalidPath")
            if self.ignore_removes:
                return
            test = _compile(path[len("members["):-1])
            doc["members"] = [m for m in members if not test(m)]
            return
        if isinstance(path, str) and path.lower() == "members":
            values = [str(_ci(v, "value")) for v in value or [] if isinstance(v, dict)]
            unknown = [v for v in values if v not in self.users]
            if unknown:
                raise ScimFailure(400, f"not a user: {unknown[0]}", "invalidValue")
            if name == "add" and self.sloppy_add:
                doc["members"] = [{"value": v} for v in dict.fromkeys(values)]
            elif name == "add":
                doc["members"] = members + [{"value": v} for v in dict.fromkeys(values) if v not in present]
            elif name == "replace":
                doc["members"] = [{"value": v} for v in dict.fromkeys(values)]
            elif name == "remove" and self.ignore_removes:
                pass
            elif name == "remove":
                if value is None:
                    doc["members"] = []
                else:
                    doc["members"] = [m for m in members if m["value"] not in set(values)]
            else:
                raise ScimFailure(400, f"unknown op {name}", "invalidSyntax")
            return
        if isinstance(path, str) and path.lower() in ("displayname", "externalid"):
            doc["displayName" if path.lower() == "displayname" else "externalId"] = value
            return
        if path is None and isinstance(value, dict):
            for k, v in value.items():
                doc[k] = v
            return
        raise ScimFailure(400, f"unsupported path {path!r}", "invalidPath")

    def _written(self, doc: dict[str, Any] | None, status: int) -> Response:
        mode = self.write_answer
        if doc is None or mode == "none":
            return Response(status_code=204)
        code = 201 if status == 201 else 200
        if mode == "empty":
            return Response(status_code=code)
        if mode == "junk":
            return _ok({"status": "ok", "message": "done"}, code)
        return _ok(doc, code)


# -- filters ------------------------------------------------------------------------------------------------


def _compile(text: str) -> Any:
    from scim2_models import ScimFilter

    try:
        ast = ScimFilter(text).ast
    except Exception as exc:
        raise ScimFailure(400, f"bad filter: {exc}", "invalidFilter") from None
    return lambda doc: _eval(ast, doc)


def _values(doc: Any, attr: str, sub: str | None) -> list[Any]:
    value = _ci(doc, attr) if isinstance(doc, dict) else None
    items = value if isinstance(value, list) else [value]
    if sub:
        return [_ci(v, sub) for v in items if isinstance(v, dict)]
    return items


def _eval(node: Any, doc: Any) -> bool:
    kind = type(node).__name__
    if kind == "LogicalExpr":
        results = [_eval(t, doc) for t in node.terms]
        return any(results) if str(node.op.value) == "or" else all(results)
    if kind == "Not":
        return not _eval(node.expr, doc)
    if kind == "Present":
        return any(v not in (None, "", []) for v in _values(doc, node.attr_path.attr, node.attr_path.sub_attr))
    if kind == "ValuePath":
        items = _ci(doc, node.attr_path.attr) or []
        return any(_eval(node.val_filter, item) for item in items if isinstance(item, dict))
    if kind == "Comparison":
        op = str(node.op.value)
        want = node.value
        for have in _values(doc, node.attr_path.attr, node.attr_path.sub_attr):
            if isinstance(have, str) and isinstance(want, str):
                a, b = have.lower(), want.lower()
            else:
                a, b = have, want
            if (op == "eq" and a == b) or (op == "ne" and a != b) or (
                    op == "sw" and isinstance(a, str) and a.startswith(b)) or (
                    op == "co" and isinstance(a, str) and b in a):
                return True
        return False
    raise ScimFailure(400, f"unsupported filter {kind}", "invalidFilter")


# -- helpers ------------------------------------------------------------------------------------------------


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _ok(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=SCIM)


def _error(status: int, detail: str, scim_type: str | None = None) -> Response:
    body: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return Response(orjson.dumps(body), status_code=status, media_type=SCIM)


@contextmanager
def odd_server(**options: Any) -> Iterator[OddScim]:
    """``with odd_server(users=12, groups=[("Finance", [0, 1, 2])], sloppy_add=True) as srv: ...``"""
    server = OddScim(**options).start()
    try:
        yield server
    finally:
        server.stop()
