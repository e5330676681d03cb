"""The sandbox's ASGI application: 6clicks token exchange, SCIM 2.0 under /scim, admin routes, health.

Reads are served from the stored JSON; writes are validated (scim2-models) and committed in one transaction.
The outermost ASGI layer (``Edge``) applies fault injection and writes the request log.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import secrets
import sqlite3
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import scim
from .auth import (
    ALL_PERMISSIONS,
    PERMISSIONS,
    Auth,
    AuthError,
    PermissionError_,
    hash_key,
    normalise_permissions,
)
from .faults import Faults
from .requestlog import RequestLog, scrub_query
from .scim import SCIM_JSON, ScimHTTPError, bad_request
from .store import LOCATION_PREFIX, Store, StoreConflict, StoreNotFound

MAX_BODY = 1024 * 1024  # every route, enforced by Edge before any handler runs (413)
MAX_JSON_DEPTH = 64  # SCIM and admin bodies nest a handful of levels; deeper bodies are refused (400)
MAX_START_INDEX = 2**31 - 1  # larger startIndex values are refused (400); SQLite offsets are 64-bit
Scope = dict[str, Any]


@dataclass
class SandboxState:
    """Everything the server (and the Entra simulator, through its hooks) shares. See docs/sandbox.md."""

    config: argparse.Namespace
    data_dir: Path
    store: Store
    auth: Auth
    faults: Faults
    request_log: RequestLog
    admin_token: str
    max_page_size: int = 100
    base_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    _discovery: dict[str, Any] | None = None

    def issue_token(self, key_name: str, lifetime_seconds: float) -> str:
        """Mint an access token for the registered key ``key_name`` (raises AuthError if unknown)."""
        return self.auth.issue_token(key_name, lifetime_seconds)

    def register_api_key(self, key: str, name: str, permissions: list[str] | None = None) -> None:
        """Register ``key`` (stored hashed) under ``name`` with ``permissions`` (default: all six)."""
        self.auth.register_key(key, name, permissions)

    def is_admin(self, request: Request) -> bool:
        """True when the request comes from loopback with ``Authorization: Bearer <admin token>``."""
        client = request.client.host if request.client else ""
        try:
            if not ipaddress.ip_address(client).is_loopback:
                return False
        except ValueError:
            return False
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                                  self.admin_token.encode())

    @property
    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            self._discovery = scim.discovery(self.base_url, self.max_page_size)
        return self._discovery


# ------------------------------------------------------------------------------------------------ helpers
def scim_response(body: bytes | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    if isinstance(body, dict):
        body = orjson.dumps(body)
    return Response(body, status_code=status, media_type=SCIM_JSON, headers=headers)


def note(request: Request, **values: Any) -> None:
    info = request.scope.get("sandbox.log")
    if isinstance(info, dict):
        info.update(values)


def error_response(request: Request, exc: ScimHTTPError) -> Response:
    note(request, detail=exc.detail)
    return Response(exc.body(), status_code=exc.status, media_type=SCIM_JSON, headers=exc.headers)


async def read_json(request: Request) -> Any:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise ScimHTTPError(413, f"The request body is larger than {MAX_BODY} bytes (1 MiB).", "tooLarge")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ScimHTTPError(413, f"The request body is larger than {MAX_BODY} bytes (1 MiB).", "tooLarge")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise bad_request("The request body is empty; send a JSON object.", "invalidSyntax")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON ({exc}).", "invalidSyntax") from None
    if too_deep(value):
        raise bad_request(f"The request body nests deeper than {MAX_JSON_DEPTH} levels; SCIM resources and "
                          "requests need only a few.", "invalidSyntax")
    return value


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than ``limit`` (iterative: deep input cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def with_location(raw: bytes, base_url: str) -> bytes:
    return raw.replace(LOCATION_PREFIX, b'"location":"' + base_url.encode() + b"/scim/")


def full_doc(doc: dict[str, Any], base_url: str) -> dict[str, Any]:
    meta = doc.get("meta")
    if isinstance(meta, dict) and str(meta.get("location", "")).startswith("/"):
        doc = dict(doc)
        doc["meta"] = {**meta, "location": base_url + meta["location"]}
    return doc


def _int_param(q: Any, name: str, default: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise bad_request(f"{name} must be an integer.", "invalidValue")
    try:
        return int(raw)
    except ValueError:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise bad_request(f"{name} must be an integer (got {shown!r}).", "invalidValue") from None


def _check_query_text(request: Request) -> None:
    """Refuse a query string whose percent-escapes are not UTF-8 text (``%ED%A0%80`` encodes a lone surrogate):
    decoded leniently it would become U+FFFD and silently match nothing."""
    raw = request.scope.get("query_string", b"")
    if b"%" not in raw:
        return
    try:
        parse_qsl(raw.decode("latin-1"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        scim_type = "invalidFilter" if b"filter=" in raw.lower() else "invalidValue"
        raise bad_request("The query string is not UTF-8 text once percent-decoded (an escape such as %ED%A0%80 "
                          "is a lone surrogate or a broken sequence); encode parameters as UTF-8.", scim_type
                          ) from None


# ------------------------------------------------------------------------------------------------ SCIM
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
        _check_query_text(request)
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
                return scim_response(scim.list_response(items))
            wanted = "/".join(parts[1:]).lower()
            for item in items:
                if str(item["id"]).lower() == wanted:
                    return scim_response(item)
            raise ScimHTTPError(404, f"No {parts[0]} with id {parts[1]!r}.")
        raise ScimHTTPError(404, "Unknown SCIM endpoint; use /scim/Users or /scim/Groups.")

    def _paging(self, q: dict[str, Any]) -> tuple[int, int]:
        """RFC 7644 §3.4.2.4: startIndex < 1 means 1, a negative count means 0, a count above the maximum
        gets the maximum. A startIndex beyond 2^31 - 1 is refused rather than handed to SQLite."""
        start = max(_int_param(q, "startIndex", 1), 1)
        if start > MAX_START_INDEX:
            raise bad_request(f"startIndex must be at most {MAX_START_INDEX}.", "invalidValue")
        count = _int_param(q, "count", self.state.max_page_size)
        return start, min(max(count, 0), self.state.max_page_size)

    async def _search_params(self, request: Request) -> dict[str, Any]:
        """POST .../.search body (SearchRequest) -> the same parameters as a GET query string."""
        self.principal(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("A search request must be a JSON object.", "invalidSyntax")
        out: dict[str, Any] = {}
        for key in ("filter", "startIndex", "count", "attributes", "excludedAttributes"):
            _, v = scim._ci_get(body, key)
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
        _, schemas = scim._ci_get(body, "schemas")
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
                    wheres[kind] = scim.compile_filter(q["filter"], kind)
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
            resources += [scim.project(full_doc(orjson.loads(d), base), attrs, excl) for d in udocs]
            offset = max(0, offset - utotal)
        gw = wheres["groups"]
        if gw is not None:
            left = count - len(resources)
            gtotal, grows = store.list_groups(gw[0], gw[1], offset + 1, left)
            total += gtotal
            resources += self._group_docs(grows, attrs, excl)
        return scim_response({"schemas": [scim.LIST_URN], "totalResults": total, "startIndex": start,
                              "itemsPerPage": len(resources), "Resources": resources})

    # ------------------------------------------------------------------ users
    def list_users(self, request: Request, q: dict[str, Any]) -> Response:
        self.principal(request)
        start, count = self._paging(q)
        where, params = (None, [])
        filt = q.get("filter")
        if filt:
            where, params = scim.compile_filter(filt, "users")
        total, docs = self.state.store.list_users(where, params, start, count)
        attrs, excl = q.get("attributes"), q.get("excludedAttributes")
        base = self.state.base_url
        if attrs or excl:
            items = orjson.dumps([scim.project(full_doc(orjson.loads(d), base), attrs, excl) for d in docs])
        else:
            items = with_location(b"[" + b",".join(docs) + b"]", base)
        head = orjson.dumps({"schemas": [scim.LIST_URN], "totalResults": total, "startIndex": start,
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
            return scim_response(scim.project(full_doc(orjson.loads(raw), self.state.base_url), attrs, excl))
        return scim_response(with_location(raw, self.state.base_url))

    async def create_user(self, request: Request) -> Response:
        self.principal(request, "create-users")
        body = scim.normalise_user_body(await read_json(request))
        doc = scim.validate_user(body, "create")
        doc = self.state.store.create_user(_ordered(doc))
        return scim_response(full_doc(doc, self.state.base_url), 201,
                             {"Location": f"{self.state.base_url}/scim/Users/{doc['id']}"})

    async def put_user(self, request: Request, rid: str) -> Response:
        self.principal(request, "edit-users")
        body = scim.normalise_user_body(await read_json(request))
        old = self.state.store.get_user(rid)
        if old is None:
            raise ScimHTTPError(404, f"User {rid} not found.")
        doc = scim.validate_user(body, "replace")
        doc["userName"] = old["userName"]  # policy ignored-immutable
        if old.get("emails"):  # set once (immutable); a user created without e-mail may get one
            doc["emails"] = old["emails"]
        doc["id"] = rid
        doc = self.state.store.replace_user(_ordered(doc))
        return scim_response(full_doc(doc, self.state.base_url))

    async def patch_user(self, request: Request, rid: str) -> Response:
        self.principal(request, "edit-users")
        body = await read_json(request)
        old = self.state.store.get_user(rid)
        if old is None:
            raise ScimHTTPError(404, f"User {rid} not found.")
        new, ignored = scim.apply_user_patch(old, body)
        if ignored:
            note(request, detail="ignored (6clicks keeps userName/e-mails): " + ", ".join(ignored)[:200])
        if new is not old:
            new["id"] = rid
            old = self.state.store.replace_user(_ordered(new))
        return scim_response(full_doc(old, self.state.base_url))

    async def delete_user(self, request: Request, rid: str) -> Response:
        self.principal(request, "delete-users")
        if not self.state.store.delete_user(rid):
            raise ScimHTTPError(404, f"User {rid} not found.")
        return Response(status_code=204)

    # ------------------------------------------------------------------ groups
    def _group_docs(self, rows: list[tuple[int, bytes]], attrs: str | None, excl: str | None
                    ) -> list[dict[str, Any]]:
        base = self.state.base_url
        members = self.state.store.members_of([pk for pk, _ in rows]) if scim.wants_members(attrs, excl) else None
        out = []
        for pk, raw in rows:
            doc = full_doc(orjson.loads(raw), base)
            if members is not None:
                doc = _with_members(doc, members[pk], base)
            if attrs or excl:
                doc = scim.project(doc, attrs, excl)
            out.append(doc)
        return out

    def list_groups(self, request: Request, q: dict[str, Any]) -> Response:
        self.principal(request)
        start, count = self._paging(q)
        where, params = (None, [])
        if q.get("filter"):
            where, params = scim.compile_filter(q["filter"], "groups")
        total, rows = self.state.store.list_groups(where, params, start, count)
        docs = self._group_docs(rows, q.get("attributes"), q.get("excludedAttributes"))
        return scim_response({"schemas": [scim.LIST_URN], "totalResults": total, "startIndex": start,
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
        doc, members, displays = scim.normalise_group_body(await read_json(request))
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
        doc, members, displays = scim.normalise_group_body(await read_json(request))
        _, old = self._load_group(rid)
        if doc["displayName"] != old.get("displayName") or doc.get("externalId") != old.get("externalId"):
            self._require(p, "manage-groups")
        self._require(p, "manage-group-members")
        try:
            self.state.store.update_group(rid, doc, replace_members=members, displays=displays)
        except StoreNotFound as exc:
            raise bad_request(f"Member {exc} is not a user of this tenant.") from None
        return scim_response(self._group_out(rid, request))

    async def patch_group(self, request: Request, rid: str) -> Response:
        p = self.principal(request)
        change = scim.plan_group_patch(await read_json(request))
        _, old = self._load_group(rid)
        if change.doc_changes:
            self._require(p, "manage-groups")
        if change.touches_members:
            self._require(p, "manage-group-members")
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


# ------------------------------------------------------------------------------------------------ auth API
async def token_endpoint(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    try:
        body = await read_json(request)
    except ScimHTTPError as exc:
        note(request, detail=exc.detail)
        return _json({"error": exc.detail}, exc.status)
    if not isinstance(body, dict):
        return _json({"error": "Send a JSON object {\"apiKey\": ..., \"isLongLivedToken\": true}."}, 400)
    lowered = {str(k).lower(): v for k, v in body.items()}
    api_key = lowered.get("apikey")
    if not isinstance(api_key, str) or not api_key.strip():
        note(request, detail="apiKey missing")
        return _json({"error": "apiKey is required."}, 400)
    long_lived = lowered.get("islonglivedtoken", False)
    try:
        long_lived = scim.parse_bool(long_lived, "isLongLivedToken") if long_lived is not None else False
    except ScimHTTPError as exc:
        return _json({"error": exc.detail}, 400)
    try:
        token = state.auth.exchange(api_key, bool(long_lived))
    except AuthError as exc:
        note(request, detail=str(exc))
        return _json({"error": str(exc)}, 401)
    rec = state.store.key_by_hash(hash_key(api_key))
    if rec is not None:
        note(request, key=rec.name)
    return _json({"accessToken": token})


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


# ------------------------------------------------------------------------------------------------ admin
def admin_error(status: int, detail: str, scim_type: str | None = None) -> Response:
    """An admin route's error: a SCIM error body, plus ``error`` (the admin routes' original field)."""
    doc: dict[str, Any] = {"schemas": [scim.ERROR_URN], "status": str(status)}
    if scim_type:
        doc["scimType"] = scim_type
    doc["detail"] = detail
    doc["error"] = detail
    return _json(doc, status)


# Errors a handler raises when a body has the wrong shape (a wrong type reaching float(), int(), len(), a
# missing key, ...): answered 400. Anything else is a defect and stays a 500 (with an error body, see Edge).
INPUT_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError)


def admin_guard(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def guarded(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        client = request.client.host if request.client else ""
        try:
            loopback = ipaddress.ip_address(client).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            note(request, detail="admin route from a non-loopback address")
            return admin_error(403, "Admin routes answer only on loopback.")
        if not state.is_admin(request):
            note(request, detail="admin token missing or wrong")
            return admin_error(401, "Send Authorization: Bearer $SCIM_SANDBOX_ADMIN_TOKEN.")
        note(request, key="(admin)")
        try:
            return await handler(request)
        except ScimHTTPError as exc:
            note(request, detail=exc.detail)
            return admin_error(exc.status, exc.detail, exc.scim_type)
        except INPUT_ERRORS as exc:
            detail = str(exc) if isinstance(exc, ValueError) else f"The request body has the wrong shape ({exc!r})."
            note(request, detail=detail[:300])
            return admin_error(400, detail[:1000], "invalidValue")
    return guarded


async def _admin_body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ValueError("Send a JSON object.")
    return body


def _number(body: dict[str, Any], name: str, *, low: float, high: float, integer: bool = False) -> Any:
    """A finite number in [low, high] (booleans are not numbers here); absent/null -> None."""
    import math

    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number.")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}.")
    return value


def _string(body: dict[str, Any], name: str, *, required: bool, max_length: int = 200) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string.")
    if len(value) > max_length:
        raise ValueError(f"{name} must be at most {max_length} characters.")
    return value


def _permission_list(value: Any) -> list[str]:
    """``permissions`` as sent: a list of names ([] = none). A string or anything else is refused."""
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError("permissions must be a list of permission names, e.g. [\"integrations\", "
                         "\"create-users\"] ([] = none).")
    return normalise_permissions(value)


@admin_guard
async def admin_faults(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    if request.method == "PUT":
        body = await _admin_body(request)
        for name in ("latency_ms", "rate_429", "rate_500", "rate_drop"):
            _number(body, name, low=0, high=60_000)
        _number(body, "retry_after", low=0, high=86_400, integer=True)
        _number(body, "seed", low=-(2**63), high=2**63 - 1, integer=True)
        _string(body, "paths", required=False, max_length=1000)
        state.faults.set(**body)
    return _json(state.faults.as_dict())


@admin_guard
async def admin_tokens(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    body = await _admin_body(request)
    name = _string(body, "key_name", required=True)
    lifetime = _number(body, "lifetime_seconds", low=-(10 * 365 * 86400), high=10 * 365 * 86400)
    try:
        return _json({"accessToken": state.issue_token(str(name), 3600 if lifetime is None else lifetime)})
    except AuthError as exc:
        return admin_error(404, str(exc))


@admin_guard
async def admin_keys(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    if request.method == "GET":
        return _json([{"name": k.name, "permissions": k.permissions, "created": k.created}
                      for k in state.store.list_keys()])
    body = await _admin_body(request)
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise ValueError("Send {\"name\": str, \"permissions\": [..] (absent: all six; []: none), "
                         "\"apiKey\": optional str}.")
    name = str(_string(body, "name", required=True))
    perms = list(ALL_PERMISSIONS) if body.get("permissions") is None else _permission_list(body["permissions"])
    key = _string(body, "apiKey", required=False, max_length=500) if body.get("apiKey") != "" else None
    try:
        if key:
            state.auth.register_key(key, name, perms)
        else:
            key = state.auth.create_key(name, perms)
    except StoreConflict as exc:
        return admin_error(409, str(exc), "uniqueness")
    return _json({"name": name, "apiKey": key, "permissions": perms}, 201)


@admin_guard
async def admin_key(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    name = request.path_params["name"]
    if request.method == "DELETE":
        if not state.store.revoke_key(name):
            return admin_error(404, f"No API key named {name!r}.")
        return Response(status_code=204)
    body = await _admin_body(request)
    if "permissions" not in body:
        raise ValueError("Send {\"permissions\": [..]} (an empty list removes all).")
    perms = _permission_list(body["permissions"])
    try:
        rec = state.store.set_key_permissions(name, perms)
    except StoreNotFound:
        return admin_error(404, f"No API key named {name!r}.")
    return _json({"name": rec.name, "permissions": rec.permissions})


# ------------------------------------------------------------------------------------------------ edge
class Edge:
    """Outermost ASGI layer: fault injection and the request log (never the Authorization header)."""

    def __init__(self, app: Any, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info: dict[str, Any] = {"key": None, "detail": None, "fault": None}
        scope["sandbox.log"] = info
        status_box = [0]
        path = scope.get("path", "")

        done = [False]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                done[0] = True
            await send(message)

        decision = self.state.faults.decide(path)
        try:
            body = await _read_capped(scope, receive)
            if body is None:
                info["detail"] = f"request body over {MAX_BODY} bytes"
                status, doc, media = _error_for(path, 413, f"The request body is larger than {MAX_BODY} bytes "
                                                           "(1 MiB); nothing was read or changed.", "tooLarge")
                await Response(doc, status, {"Connection": "close"}, media)(scope, receive, send_wrapper)
                return
            receive = _replay(body, receive)
            if decision is not None:
                if decision.latency_s:
                    await asyncio.sleep(decision.latency_s)
                if decision.kind == "drop":
                    info["fault"] = "drop"
                    _drop_connection(send)
                    return
                if decision.kind in ("429", "500"):
                    info["fault"] = decision.kind
                    err = (ScimHTTPError(429, "Too many requests (sandbox fault injection); retry later.",
                                         headers={"Retry-After": str(decision.retry_after)})
                           if decision.kind == "429"
                           else ScimHTTPError(500, "Internal error (sandbox fault injection)."))
                    info["detail"] = err.detail
                    await Response(err.body(), err.status, err.headers, SCIM_JSON)(scope, receive, send_wrapper)
                    return
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception as exc:  # a defect: still an error body (never a bare 500), traceback on stderr
                if done[0]:
                    return  # answered already (the app's 500 handler); its traceback is on stderr
                traceback.print_exc(file=sys.stderr)
                if status_box[0]:
                    raise  # the answer has started: nothing sensible can be sent any more
                info["detail"] = f"internal error ({type(exc).__name__})"
                status, doc, media = _error_for(path, 500, f"Internal error ({type(exc).__name__}); the request "
                                                           "changed nothing. See the server's stderr.", None)
                await Response(doc, status, None, media)(scope, receive, send_wrapper)
        finally:
            self._log(scope, status_box[0], started, info)

    def _log(self, scope: Scope, status: int, started: float, info: dict[str, Any]) -> None:
        try:
            qs = scrub_query(scope.get("query_string", b"").decode("latin-1"))
            self.state.request_log.write(
                method=scope.get("method"), path=scope.get("path"), query=qs or None, status=status or None,
                ms=round((time.perf_counter() - started) * 1000, 2), key=info.get("key"),
                detail=info.get("detail"), fault=info.get("fault"))
        except Exception:  # noqa: S110 - a log failure must never fail the request
            pass


async def _read_capped(scope: Scope, receive: Any) -> bytes | None:
    """The whole request body, or None when it exceeds MAX_BODY (announced or sent): every route is capped."""
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                if int(value) > MAX_BODY:
                    return None
            except ValueError:
                pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # disconnected: the handler sees an empty body and the client is gone anyway
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls: wait for the disconnect, as the server would

    return replay


def _error_for(path: str, status: int, detail: str, scim_type: str | None) -> tuple[int, bytes, str]:
    """An error body in the style of the route: Graph, Microsoft identity platform, or SCIM (admin and the
    token endpoint also get their ``error`` field)."""
    if path.startswith("/graph/"):
        code = {413: "RequestEntityTooLarge", 500: "InternalServerError"}.get(status, "BadRequest")
        return status, orjson.dumps({"error": {"code": code, "message": detail}}), "application/json"
    if path.startswith("/login/"):
        return status, orjson.dumps({"error": "invalid_request", "error_description": detail}), "application/json"
    doc: dict[str, Any] = {"schemas": [scim.ERROR_URN], "status": str(status)}
    if scim_type:
        doc["scimType"] = scim_type
    doc["detail"] = detail
    if not path.startswith("/scim"):
        doc["error"] = detail
        return status, orjson.dumps(doc), "application/json"
    return status, orjson.dumps(doc), SCIM_JSON


def _drop_connection(send: Any) -> None:
    """Close the client's socket without any response (uvicorn's per-request cycle owns the transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection: unknown server transport")
    transport.abort()
    if hasattr(cycle, "disconnected"):
        cycle.disconnected = True


# ------------------------------------------------------------------------------------------------ app
def build_app(state: SandboxState, extra_routes: list[BaseRoute], lifespan: Any = None) -> Any:
    scim_app = ScimApp(state)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/auth-api/1.0/auth/token", token_endpoint, methods=["POST"]),
        Route("/scim/{rest:path}", scim_app.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/scim", scim_app.handle, methods=["GET"]),
        Route("/sandbox-admin/faults", admin_faults, methods=["GET", "PUT"]),
        Route("/sandbox-admin/tokens", admin_tokens, methods=["POST"]),
        Route("/sandbox-admin/keys", admin_keys, methods=["GET", "POST"]),
        Route("/sandbox-admin/keys/{name}", admin_key, methods=["DELETE"]),
        Route("/sandbox-admin/keys/{name}/permissions", admin_key, methods=["PUT"]),
        *extra_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Exception: _internal_error, 404: _http_error, 405: _http_error})
    app.state.sandbox = state
    return Edge(app, state)


async def _http_error(request: Request, exc: Exception) -> Response:
    """No such route (404) or method (405): an error body in the route's style, not Starlette's plain text."""
    status = int(getattr(exc, "status_code", 404))
    detail = ("No such endpoint in this sandbox; see docs/sandbox.md for its routes." if status == 404
              else f"{request.method} is not supported on this endpoint.")
    status, doc, media = _error_for(request.url.path, status, detail, None)
    return Response(doc, status, dict(getattr(exc, "headers", None) or {}), media)


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A defect anywhere below: an error body in the route's style, the traceback on stderr."""
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    note(request, detail=f"internal error ({type(exc).__name__})")
    status, doc, media = _error_for(request.url.path, 500, f"Internal error ({type(exc).__name__}); the request "
                                                           "changed nothing. See the server's stderr.", None)
    return Response(doc, status, None, media)


def make_state(config: argparse.Namespace, data_dir: Path, admin_token: str | None) -> SandboxState:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / "sandbox.db")
    return SandboxState(
        config=config, data_dir=data_dir, store=store, auth=Auth(store, data_dir), faults=Faults(),
        request_log=RequestLog(data_dir / "requests.log"),
        admin_token=admin_token or secrets.token_urlsafe(32),
        max_page_size=int(getattr(config, "max_page_size", 100) or 100),
    )


__all__ = ["ALL_PERMISSIONS", "PERMISSIONS", "SandboxState", "build_app", "make_state"]
