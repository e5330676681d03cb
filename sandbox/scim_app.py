"""The SCIM 2.0 endpoints under /scim: Users, Groups, .search and the discovery documents.

Reads are served from the stored JSON; writes are validated (scim2-models) and committed in one transaction.
Every handler authenticates first, then checks the 6clicks permission the operation needs, before it validates
the body or looks the resource up: an unpermitted caller gets 403 whatever it sends (the console's setup check
probes the six permissions with requests a permitted caller gets 400/404 for). The tolerances in
``state.policy`` (``sandbox.policy.Tolerances``) decide how Entra's request shapes are read.
"""

from __future__ import annotations

import sqlite3
import sys
import traceback
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import group_doc, user_doc
from .auth import PERMISSIONS, AuthError, PermissionError_
from .filters import compile_filter
from .httpio import (
    MAX_START_INDEX,
    check_query_text,
    error_response,
    full_doc,
    int_param,
    note,
    read_json,
    scim_response,
    with_location,
)
from .projection import project, wants_members
from .scim import LIST_URN, ScimHTTPError, bad_request, ci_get, list_response
from .store import StoreConflict, StoreNotFound

if TYPE_CHECKING:
    from .server import SandboxState

GROUP_PERMISSIONS = ("manage-groups", "manage-group-members")


class ScimApp:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def principal(self, request: Request, permission: str = "integrations") -> Any:
        try:
            p = self.state.auth.authenticate(request.headers.get("authorization"))
        except AuthError as exc:
            raise ScimHTTPError(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="6clicks-sandbox"'}
                                ) from None
        note(request, key=p.key.name)
        self._require(p, "integrations")
        if permission != "integrations":
            self._require(p, permission)
        return p

    @staticmethod
    def _require(p: Any, permission: str) -> None:
        try:
            p.require(permission)
        except PermissionError_ as exc:
            raise ScimHTTPError(403, str(exc)) from None

    @staticmethod
    def _require_any(p: Any, permissions: tuple[str, ...]) -> None:
        """403 unless the caller holds one of ``permissions`` (which one a request needs is in its body)."""
        if not any(perm in p.key.permissions for perm in permissions):
            names = " or ".join(f'"{PERMISSIONS[perm]}" ({perm})' for perm in permissions)
            raise ScimHTTPError(403, f"The API key's user lacks the 6clicks permission {names}. Grant it to the "
                                     "key's user in 6clicks (sandbox: python -m sandbox keys permissions).")

    async def handle(self, request: Request) -> Response:
        try:
            return await self.dispatch(request)
        except ScimHTTPError as exc:
            return error_response(request, exc)
        except StoreConflict as exc:
            return error_response(request, ScimHTTPError(409, str(exc), "uniqueness"))
        except RecursionError:  # a nesting read_json's depth check did not see (e.g. a value built later)
            return error_response(request, bad_request("The request nests too deeply.", "invalidSyntax"))
        except sqlite3.OperationalError as exc:  # e.g. the database is locked by another process
            return error_response(request, ScimHTTPError(
                503, f"The store is busy ({exc}); retry shortly. Nothing was changed.",
                headers={"Retry-After": "1"}))
        except Exception as exc:  # a defect: answer a SCIM 500, keep the traceback for developers on stderr
            traceback.print_exc(file=sys.stderr)
            return error_response(request, ScimHTTPError(
                500, f"Internal error ({type(exc).__name__}); the request changed nothing. See the server's stderr."))

    async def dispatch(self, request: Request) -> Response:
        check_query_text(request)
        parts = [p for p in request.path_params.get("rest", "").split("/") if p]
        method = request.method
        if not parts:
            raise ScimHTTPError(404, "Unknown SCIM endpoint; use /scim/Users or /scim/Groups.")
        kind = parts[0].lower()
        if kind in ("users", "groups"):
            if len(parts) == 2 and parts[1].lower() == ".search" and method == "POST":
                params = await self._search_params(request)
                return self.list_users(request, params) if kind == "users" else self.list_groups(request, params)
            if len(parts) == 1:
                if method == "GET":
                    params = dict(request.query_params)
                    return self.list_users(request, params) if kind == "users" else self.list_groups(request, params)
                if method == "POST":
                    if kind == "users":
                        return await self.create_user(request)
                    return await self.create_group(request)
            elif len(parts) == 2:
                rid = parts[1]
                handler = {
                    ("users", "GET"): self.get_user, ("users", "PUT"): self.put_user,
                    ("users", "PATCH"): self.patch_user, ("users", "DELETE"): self.delete_user,
                    ("groups", "GET"): self.get_group, ("groups", "PUT"): self.put_group,
                    ("groups", "PATCH"): self.patch_group, ("groups", "DELETE"): self.delete_group,
                }.get((kind, method))
                if handler is not None:
                    return await handler(request, rid)
            if len(parts) <= 2:
                raise ScimHTTPError(405, f"{method} is not supported on this endpoint.")
            raise ScimHTTPError(404, "Unknown SCIM endpoint.")
        if kind == ".search" and len(parts) == 1 and method == "POST":
            return self.search_all(request, await self._search_params(request))
        if method != "GET":
            raise ScimHTTPError(405, f"{method} is not supported on this endpoint.")
        self.principal(request)
        disc = self.state.discovery
        if kind == "serviceproviderconfig" and len(parts) == 1:
            return scim_response(disc["spc"])
        if kind in ("schemas", "resourcetypes"):
            items = disc["schemas"] if kind == "schemas" else disc["resource_types"]
            if len(parts) == 1:
                return scim_response(list_response(items))
            wanted = "/".join(parts[1:]).lower()
            for item in items:
                if str(item["id"]).lower() == wanted:
                    return scim_response(item)
            raise ScimHTTPError(404, f"No {parts[0]} with id {parts[1]!r}.")
        raise ScimHTTPError(404, "Unknown SCIM endpoint; use /scim/Users or /scim/Groups.")

    def _paging(self, q: dict[str, Any]) -> tuple[int, int]:
        """RFC 7644 §3.4.2.4: startIndex < 1 means 1, a negative count means 0, a count above the maximum
        gets the maximum. A startIndex beyond 2^31 - 1 is refused rather than handed to SQLite."""
        start = max(int_param(q, "startIndex", 1), 1)
        if start > MAX_START_INDEX:
            raise bad_request(f"startIndex must be at most {MAX_START_INDEX}.", "invalidValue")
        count = int_param(q, "count", self.state.max_page_size)
        return start, min(max(count, 0), self.state.max_page_size)

    async def _search_params(self, request: Request) -> dict[str, Any]:
        """POST .../.search body (SearchRequest) -> the same parameters as a GET query string."""
        self.principal(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("A search request must be a JSON object.", "invalidSyntax")
        out: dict[str, Any] = {}
        for key in ("filter", "startIndex", "count", "attributes", "excludedAttributes"):
            _, v = ci_get(body, key)
            if v is None:
                continue
            if key in ("startIndex", "count"):
                if isinstance(v, bool) or not isinstance(v, int | str):
                    raise bad_request(f"{key} must be an integer.", "invalidValue")
                out[key] = v
            elif key == "filter":
                if not isinstance(v, str):
                    raise bad_request("filter must be a string.", "invalidFilter")
                out[key] = v
            else:  # RFC 7644 §3.4.3: multi-valued lists of strings
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise bad_request(f"{key} must be a list of attribute names, e.g. [\"userName\"].",
                                      "invalidValue")
                out[key] = ",".join(v)
        _, schemas = ci_get(body, "schemas")
        if schemas is not None and (not isinstance(schemas, list) or not all(isinstance(x, str) for x in schemas)):
            raise bad_request("schemas must be a list of schema URIs, e.g. "
                              "[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"].", "invalidSyntax")
        return out

    def search_all(self, request: Request, q: dict[str, Any]) -> Response:
        """POST /scim/.search: users then groups. A filter on an attribute one type lacks matches none of it."""
        start, count = self._paging(q)
        store = self.state.store
        wheres: dict[str, tuple[str | None, list[Any]] | None] = {}
        errors = []
        for kind in ("users", "groups"):
            if q.get("filter"):
                try:
                    wheres[kind] = compile_filter(q["filter"], kind)
                except ScimHTTPError as exc:
                    wheres[kind] = None
                    errors.append(exc)
            else:
                wheres[kind] = (None, [])
        if len(errors) == 2:
            raise errors[0]
        attrs, excl = q.get("attributes"), q.get("excludedAttributes")
        base = self.state.base_url
        resources: list[dict[str, Any]] = []
        total = 0
        offset = start - 1
        uw = wheres["users"]
        if uw is not None:
            utotal, udocs = store.list_users(uw[0], uw[1], start, count)
            total += utotal
            resources += [project(full_doc(orjson.loads(d), base), attrs, excl) for d in udocs]
            offset = max(0, offset - utotal)
        gw = wheres["groups"]
        if gw is not None:
            left = count - len(resources)
            gtotal, grows = store.list_groups(gw[0], gw[1], offset + 1, left)
            total += gtotal
            resources += self._group_docs(grows, attrs, excl)
        return scim_response({"schemas": [LIST_URN], "totalResults": total, "startIndex": start,
                              "itemsPerPage": len(resources), "Resources": resources})

    # ------------------------------------------------------------------ users
    def list_users(self, request: Request, q: dict[str, Any]) -> Response:
        self.principal(request)
        start, count = self._paging(q)
        where, params = (None, [])
        filt = q.get("filter")
        if filt:
            where, params = compile_filter(filt, "users")
        total, docs = self.state.store.list_users(where, params, start, count)
        attrs, excl = q.get("attributes"), q.get("excludedAttributes")
        base = self.state.base_url
        if attrs or excl:
            items = orjson.dumps([project(full_doc(orjson.loads(d), base), attrs, excl) for d in docs])
        else:
            items = with_location(b"[" + b",".join(docs) + b"]", base)
        head = orjson.dumps({"schemas": [LIST_URN], "totalResults": total, "startIndex": start,
                             "itemsPerPage": len(docs)})
        return scim_response(head[:-1] + b',"Resources":' + items + b"}")

    async def get_user(self, request: Request, rid: str) -> Response:
        self.principal(request)
        raw = self.state.store.get_user_raw(rid)
        if raw is None:
            raise ScimHTTPError(404, f"User {rid} not found.")
        q = request.query_params
        attrs, excl = q.get("attributes"), q.get("excludedAttributes")
        if attrs or excl:
            return scim_response(project(full_doc(orjson.loads(raw), self.state.base_url), attrs, excl))
        return scim_response(with_location(raw, self.state.base_url))

    async def create_user(self, request: Request) -> Response:
        self.principal(request, "create-users")
        body, unknown = user_doc.normalise_user_body(await read_json(request), self.state.policy)
        self._note_unknown(request, unknown)
        doc = user_doc.validate_user(body, "create")
        doc = self.state.store.create_user(_ordered(doc))
        return scim_response(full_doc(doc, self.state.base_url), 201,
                             {"Location": f"{self.state.base_url}/scim/Users/{doc['id']}"})

    async def put_user(self, request: Request, rid: str) -> Response:
        self.principal(request, "edit-users")
        body, unknown = user_doc.normalise_user_body(await read_json(request), self.state.policy)
        self._note_unknown(request, unknown)
        old = self.state.store.get_user(rid)
        if old is None:
            raise ScimHTTPError(404, f"User {rid} not found.")
        doc = user_doc.validate_user(body, "replace")
        user_doc.keep_immutable(old, doc, self.state.policy)  # tolerance ignored-immutable
        doc["id"] = rid
        doc = self.state.store.replace_user(_ordered(doc))
        return scim_response(full_doc(doc, self.state.base_url))

    async def patch_user(self, request: Request, rid: str) -> Response:
        self.principal(request, "edit-users")
        body = await read_json(request)
        old = self.state.store.get_user(rid)
        if old is None:
            raise ScimHTTPError(404, f"User {rid} not found.")
        new, ignored, unknown = user_doc.apply_user_patch(old, body, self.state.policy)
        if ignored:
            note(request, detail="ignored (6clicks keeps userName/e-mails): " + ", ".join(ignored)[:200])
        self._note_unknown(request, unknown)
        if new is not old:
            new["id"] = rid
            old = self.state.store.replace_user(_ordered(new))
        return scim_response(full_doc(old, self.state.base_url))

    @staticmethod
    def _note_unknown(request: Request, unknown: list[str]) -> None:
        if unknown:
            note(request, detail="ignored attributes outside the User schema: " + ", ".join(unknown)[:200])

    async def delete_user(self, request: Request, rid: str) -> Response:
        self.principal(request, "delete-users")
        if not self.state.store.delete_user(rid):
            raise ScimHTTPError(404, f"User {rid} not found.")
        return Response(status_code=204)

    # ------------------------------------------------------------------ groups
    def _group_docs(self, rows: list[tuple[int, bytes]], attrs: str | None, excl: str | None
                    ) -> list[dict[str, Any]]:
        base = self.state.base_url
        members = self.state.store.members_of([pk for pk, _ in rows]) if wants_members(attrs, excl) else None
        out = []
        for pk, raw in rows:
            doc = full_doc(orjson.loads(raw), base)
            if members is not None:
                doc = _with_members(doc, members[pk], base)
            if attrs or excl:
                doc = project(doc, attrs, excl)
            out.append(doc)
        return out

    def list_groups(self, request: Request, q: dict[str, Any]) -> Response:
        self.principal(request)
        start, count = self._paging(q)
        where, params = (None, [])
        if q.get("filter"):
            where, params = compile_filter(q["filter"], "groups")
        total, rows = self.state.store.list_groups(where, params, start, count)
        docs = self._group_docs(rows, q.get("attributes"), q.get("excludedAttributes"))
        return scim_response({"schemas": [LIST_URN], "totalResults": total, "startIndex": start,
                              "itemsPerPage": len(docs), "Resources": docs})

    def _load_group(self, rid: str) -> tuple[int, dict[str, Any]]:
        row = self.state.store.group_row(rid)
        if row is None:
            raise ScimHTTPError(404, f"Group {rid} not found.")
        return row

    def _group_out(self, rid: str, request: Request | None = None) -> dict[str, Any]:
        row = self.state.store.query("SELECT pk, doc FROM groups_ WHERE id = ?", (rid,))
        if not row:
            raise ScimHTTPError(404, f"Group {rid} not found.")
        q = request.query_params if request is not None else {}
        return self._group_docs([(row[0][0], row[0][1])], q.get("attributes"), q.get("excludedAttributes"))[0]

    async def get_group(self, request: Request, rid: str) -> Response:
        self.principal(request)
        return scim_response(self._group_out(rid, request))

    async def create_group(self, request: Request) -> Response:
        p = self.principal(request, "manage-groups")
        doc, members, displays = group_doc.normalise_group_body(await read_json(request), self.state.policy)
        if members:
            self._require(p, "manage-group-members")
        try:
            doc = self.state.store.create_group(doc, members, displays)
        except StoreNotFound as exc:
            raise bad_request(f"Member {exc} is not a user of this tenant.") from None
        return scim_response(self._group_out(doc["id"]), 201,
                             {"Location": f"{self.state.base_url}/scim/Groups/{doc['id']}"})

    async def put_group(self, request: Request, rid: str) -> Response:
        p = self.principal(request)
        self._require_any(p, GROUP_PERMISSIONS)  # permission before validation and existence
        doc, members, displays = group_doc.normalise_group_body(await read_json(request), self.state.policy)
        self._require(p, "manage-group-members")  # a PUT replaces the members
        _, old = self._load_group(rid)
        if doc["displayName"] != old.get("displayName") or doc.get("externalId") != old.get("externalId"):
            self._require(p, "manage-groups")
        try:
            self.state.store.update_group(rid, doc, replace_members=members, displays=displays)
        except StoreNotFound as exc:
            raise bad_request(f"Member {exc} is not a user of this tenant.") from None
        return scim_response(self._group_out(rid, request))

    async def patch_group(self, request: Request, rid: str) -> Response:
        p = self.principal(request)
        if not any(perm in p.key.permissions for perm in GROUP_PERMISSIONS):
            # Permission before validation and existence: a caller with neither group permission gets 403; the
            # one its body needs is named when the body can be read (a members-only PATCH: "Manage group
            # members"), both otherwise.
            try:
                change = group_doc.plan_group_patch(await read_json(request), self.state.policy)
            except ScimHTTPError:
                self._require_any(p, GROUP_PERMISSIONS)
                raise
            self._require(p, "manage-groups" if change.doc_changes else "manage-group-members")
        body = await read_json(request)
        change = group_doc.plan_group_patch(body, self.state.policy)
        if change.doc_changes:
            self._require(p, "manage-groups")
        if change.touches_members:
            self._require(p, "manage-group-members")
        _, old = self._load_group(rid)
        doc = None
        if change.doc_changes:
            doc = dict(old)
            for k, v in change.doc_changes.items():
                if v is None:
                    doc.pop(k, None)
                else:
                    doc[k] = v
        try:
            self.state.store.update_group(rid, doc, add=change.add, remove=change.remove,
                                          replace_members=change.replace_members, displays=change.displays)
        except StoreNotFound as exc:
            if str(exc) == rid:
                raise ScimHTTPError(404, f"Group {rid} not found.") from None
            raise bad_request(f"Member {exc} is not a user of this tenant.") from None
        return Response(status_code=204)

    async def delete_group(self, request: Request, rid: str) -> Response:
        self.principal(request, "manage-groups")
        if not self.state.store.delete_group(rid):
            raise ScimHTTPError(404, f"Group {rid} not found.")
        return Response(status_code=204)


def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
    head = {k: doc[k] for k in ("schemas", "id") if k in doc}
    return {**head, **{k: v for k, v in doc.items() if k not in head}}


def _with_members(doc: dict[str, Any], members: list[tuple[str, str]], base: str) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "meta"}
    out["members"] = [{"value": uid, "$ref": f"{base}/scim/Users/{uid}", "display": disp, "type": "User"}
                      for uid, disp in members]
    out["meta"] = doc.get("meta")
    return out

