"""What goes over the wire: the SCIM requests Entra's provisioning service sends, in its two PATCH styles.

Mapping (the 6clicks guide): ``emails[type eq "work"].value`` <- mail (matching precedence 1), ``userName`` <-
userPrincipalName (precedence 2), ``active`` <- ``Switch([IsSoftDeleted], , "False", "True", "True", "False")``
(a *string*), ``name.givenName`` <- givenName, ``name.familyName`` <- surname, ``externalId`` <- objectId.
Groups: ``displayName`` (precedence 1), ``externalId`` <- objectId, ``members``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
EMAIL_PATH = 'emails[type eq "work"].value'
USER_ATTRS = ("externalId", "userName", "active", EMAIL_PATH, "name.givenName", "name.familyName")
MEMBER_BATCH = 100
OPT_FLAG = "aadOptscim062020"


def desired_user(row: Any) -> dict[str, str | None]:
    """The target values of one source user, as the mapping's expressions yield them (all strings)."""
    return {
        "externalId": row["object_id"],
        "userName": row["upn"],
        "active": "False" if row["soft_deleted"] else "True",
        EMAIL_PATH: row["mail"],
        "name.givenName": row["given_name"],
        "name.familyName": row["surname"],
    }


def create_user_body(values: dict[str, str | None]) -> dict[str, Any]:
    """POST body from the mapped values (target attribute path -> string), as Entra builds it: core and enterprise
    schema URIs, string booleans turned into booleans for ``active``, one primary work e-mail, ``roles: []``."""
    email = values.get(EMAIL_PATH)
    body: dict[str, Any] = {"schemas": [CORE_USER, ENTERPRISE_USER]}
    if "externalId" in values:
        body["externalId"] = values["externalId"]
    if "userName" in values:
        body["userName"] = values["userName"]
    if "active" in values:
        body["active"] = values["active"] == "True"
    body["emails"] = [{"primary": True, "type": "work", "value": email}] if email else []
    body["meta"] = {"resourceType": "User"}
    if "name.familyName" in values or "name.givenName" in values:
        body["name"] = {"familyName": values.get("name.familyName"), "givenName": values.get("name.givenName")}
    body["roles"] = []
    for path, value in values.items():
        if path in _FIXED or value is None:
            continue
        set_path(body, path, value)
    return body


_FIXED = {"externalId", "userName", "active", EMAIL_PATH, "name.familyName", "name.givenName"}


def set_path(doc: dict[str, Any], path: str, value: str) -> None:
    """Set one mapped SCIM attribute path (``a``, ``a.b``, ``<urn>:a``, ``a[type eq "x"].value``) in a body."""
    if path.startswith("urn:"):
        urn, _, attr = path.rpartition(":")
        target = doc.setdefault(urn, {})
        if attr == "manager":
            target[attr] = {"value": value}
        else:
            target[attr] = value
        return
    if "[" in path:
        attr, _, rest = path.partition("[")
        kind = rest.split('"')[1] if '"' in rest else ""
        sub = rest.rpartition("].")[2] or "value"
        items = doc.setdefault(attr, [])
        items.append({"type": kind, sub: value})
        return
    if "." in path:
        attr, _, sub = path.partition(".")
        doc.setdefault(attr, {})[sub] = value
        return
    doc[path] = value


def get_path(doc: dict[str, Any], path: str) -> Any:
    """Read one mapped SCIM attribute path from a SCIM document (None when absent)."""
    if path.startswith("urn:"):
        urn, _, attr = path.rpartition(":")
        ext = doc.get(urn)
        value = ext.get(attr) if isinstance(ext, dict) else None
        return value.get("value") if isinstance(value, dict) else value
    if "[" in path:
        attr, _, rest = path.partition("[")
        kind = rest.split('"')[1] if '"' in rest else ""
        sub = rest.rpartition("].")[2] or "value"
        for item in doc.get(attr) or []:
            if isinstance(item, dict) and str(item.get("type", "")).lower() == kind.lower():
                return item.get(sub)
        return None
    if "." in path:
        attr, _, sub = path.partition(".")
        parent = doc.get(attr)
        return parent.get(sub) if isinstance(parent, dict) else None
    return doc.get(path)


def user_patch(changes: dict[str, str | None], style: str) -> dict[str, Any]:
    """PATCH body replacing ``changes`` (attribute path -> new string value)."""
    if style == OPT_FLAG:
        value: dict[str, Any] = {}
        for path, v in changes.items():
            value[path] = (v == "True") if path == "active" else v
        if list(value) == ["active"]:
            return {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": value["active"]}]}
        return {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": value}]}
    ops = [{"op": "Replace", "path": path, "value": v} for path, v in changes.items()]
    return {"schemas": [PATCH_OP], "Operations": ops}


def create_group_body(object_id: str, display_name: str) -> dict[str, Any]:
    return {
        "schemas": [CORE_GROUP, MS_GROUP],
        "externalId": object_id,
        "displayName": display_name,
        "meta": {"resourceType": "Group"},
    }


def group_rename_patch(display_name: str, style: str) -> dict[str, Any]:
    op = "replace" if style == OPT_FLAG else "Replace"
    return {"schemas": [PATCH_OP], "Operations": [{"op": op, "path": "displayName", "value": display_name}]}


def member_patches(add: list[str], remove: list[str], style: str) -> list[dict[str, Any]]:
    """PATCH bodies adding/removing target member ids, at most ``MEMBER_BATCH`` members per request."""
    bodies: list[dict[str, Any]] = []
    for i in range(0, len(add), MEMBER_BATCH):
        chunk = add[i:i + MEMBER_BATCH]
        bodies.append({"schemas": [PATCH_OP], "Operations": [
            {"op": "add" if style == OPT_FLAG else "Add", "path": "members", "value": [{"value": m} for m in chunk]}
        ]})
    for i in range(0, len(remove), MEMBER_BATCH):
        chunk = remove[i:i + MEMBER_BATCH]
        if style == OPT_FLAG:
            ops = [{"op": "remove", "path": f'members[value eq "{m}"]'} for m in chunk]
        else:
            ops = [{"op": "Remove", "path": "members", "value": [{"value": m} for m in chunk]}]
        bodies.append({"schemas": [PATCH_OP], "Operations": ops})
    return bodies


def split_tenant_url(base_address: str) -> tuple[str, str]:
    """``http://host/scim/?aadOptscim062020`` -> (``http://host/scim``, style)."""
    parts = urlsplit(base_address.strip())
    style = OPT_FLAG if OPT_FLAG.lower() in parts.query.lower() else "default"
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), style


@dataclass(slots=True)
class Reply:
    status: int | None  # None: no HTTP answer (timeout, connection dropped)
    body: Any
    text: str
    elapsed_ms: int
    error: str | None = None  # "timeout" | "connection"
    retry_after: str | None = None


class ScimWire:
    """A small synchronous HTTP/1.1 client to the SCIM endpoint (worker threads only, never the event loop).

    ``http.client`` with one kept-alive connection: the simulator and the server share one process, so the
    client's own CPU cost matters during a fast-forward. A connection idle for more than ``IDLE_SECONDS`` is
    reopened before use (the server closes idle keep-alive connections), so no request is ever re-sent.
    """

    IDLE_SECONDS = 2.0

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = timeout
        self.requests = 0
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._conn_key: tuple[str, str] | None = None
        self._last_used = 0.0

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        self._conn = None

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        stale = time.monotonic() - self._last_used > self.IDLE_SECONDS
        if self._conn is None or self._conn_key != (scheme, netloc) or stale:
            self._drop()
            self._conn = self._open(scheme, netloc)
            self._conn_key = (scheme, netloc)
        return self._conn

    def _open(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(netloc, timeout=self.timeout)
        conn.connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def send(self, method: str, url: str, token: str | None, *, params: dict[str, str] | None = None,
             body: Any = None) -> Reply:
        parts = urlsplit(url)
        target = parts.path or "/"
        if params:
            target += "?" + urlencode(params, quote_via=quote)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/scim+json", "Content-Type": "application/scim+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if data is not None:
            headers["Content-Length"] = str(len(data))
        started = time.perf_counter()
        self.requests += 1
        pooled = self._lock.acquire(blocking=False)  # a concurrent caller (validateCredentials) gets its own
        conn: http.client.HTTPConnection | None = None
        try:
            conn = self._connection(parts.scheme, parts.netloc) if pooled else self._open(parts.scheme, parts.netloc)
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            status, retry_after = resp.status, resp.getheader("Retry-After")
            if resp.will_close or not pooled:
                conn.close()
                if pooled:
                    self._conn = None
        except TimeoutError:
            self._fail(conn, pooled)
            return Reply(None, None, "", int((time.perf_counter() - started) * 1000), "timeout")
        except (http.client.HTTPException, OSError):
            self._fail(conn, pooled)
            return Reply(None, None, "", int((time.perf_counter() - started) * 1000), "connection")
        finally:
            self._last_used = time.monotonic()
            if pooled:
                self._lock.release()
        elapsed = int((time.perf_counter() - started) * 1000)
        text = raw.decode("utf-8", "replace")
        parsed: Any = None
        if text:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        return Reply(status, parsed, text[:2000], elapsed, None, retry_after)

    def _fail(self, conn: http.client.HTTPConnection | None, pooled: bool) -> None:
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        if pooled:
            self._conn = None
