"""SCIM protocol basics shared by the sandbox's modules: URNs, the error type, PATCH operation lists, and the
input helpers where the Entra tolerances (``sandbox.policy.Tolerances``) are applied.

Where the rest lives: ``filters`` (filters -> SQL), ``user_doc`` (user bodies, validation, PATCH),
``group_doc`` (group bodies and PATCH), ``projection`` (attributes / excludedAttributes), ``discovery``
(ServiceProviderConfig, Schemas, ResourceTypes), ``models`` (scim2-models, loaded lazily).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from .policy import DEFAULT, Tolerances

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


class ScimHTTPError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    def body(self) -> bytes:
        doc: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(self.status)}
        if self.scim_type:
            doc["scimType"] = self.scim_type
        doc["detail"] = self.detail
        return orjson.dumps(doc)


def bad_request(detail: str, scim_type: str = "invalidValue") -> ScimHTTPError:
    return ScimHTTPError(400, detail, scim_type)


def short(exc: Exception) -> str:
    """An exception's text on one line, at most 400 characters (validator messages can be long)."""
    return str(exc).replace("\n", " ")[:400]


def ci_get(doc: dict[str, Any], name: str) -> tuple[str | None, Any]:
    """(actual key, value) of ``name`` in ``doc``, compared case-insensitively (attribute names are)."""
    for k, v in doc.items():
        if k.lower() == name.lower():
            return k, v
    return None, None


def parse_bool(value: Any, name: str, policy: Tolerances = DEFAULT) -> bool:
    """A boolean attribute; tolerance ``string-booleans`` accepts "True"/"false" strings."""
    if isinstance(value, bool):
        return value
    if policy.string_booleans and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    hint = "" if policy.string_booleans else " (strict: the string-booleans tolerance is off)"
    raise bad_request(f"{name} must be true or false (got {value!r}){hint}.")


def drop_nulls(value: Any, policy: Tolerances = DEFAULT) -> Any:
    """Tolerance ``explicit-nulls``: remove keys whose value is null, recursively (strict: refuse them)."""
    if not policy.explicit_nulls and _has_null(value):
        raise bad_request("The body holds null values (strict: the explicit-nulls tolerance is off); leave the "
                          "attributes out instead.")
    return _without_nulls(value)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def _has_null(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        for child in children:
            if child is None:
                return True
            stack.append(child)
    return False


def patch_operations(body: Any, policy: Tolerances = DEFAULT) -> list[dict[str, Any]]:
    """The Operations of a PatchOp body as ``{"op", "path", "value"}`` with ``op`` lower-cased (tolerance
    ``case-insensitive-op``; strict: only the lower-case names RFC 7644 uses)."""
    if not isinstance(body, dict):
        raise bad_request("The PATCH body must be a JSON object with Operations.", "invalidSyntax")
    _, schemas = ci_get(body, "schemas")
    if schemas is not None and (not isinstance(schemas, list) or not all(isinstance(x, str) for x in schemas)):
        raise bad_request(f"schemas must be a list of schema URIs, e.g. [\"{PATCH_URN}\"].", "invalidSyntax")
    _, ops = ci_get(body, "Operations")
    if not isinstance(ops, list) or not ops:
        raise bad_request("The PATCH body needs a non-empty Operations list.", "invalidSyntax")
    out = []
    for op in ops:
        if not isinstance(op, dict):
            raise bad_request("Each PATCH operation must be an object.", "invalidSyntax")
        _, raw = ci_get(op, "op")
        name = str(raw or "")
        if policy.case_insensitive_op:
            name = name.lower()
        if name not in ("add", "replace", "remove"):
            hint = "" if policy.case_insensitive_op or name.lower() not in ("add", "replace", "remove") else (
                " (strict: the case-insensitive-op tolerance is off)")
            raise bad_request(f"Unknown PATCH op {name!r}; use add, replace or remove{hint}.", "invalidSyntax")
        _, path = ci_get(op, "path")
        _, value = ci_get(op, "value")
        if path is not None and not isinstance(path, str):
            raise bad_request("A PATCH path must be a string.", "invalidPath")
        out.append({"op": name, "path": path, "value": value})
    return out


def list_response(resources: Iterable[dict[str, Any]]) -> bytes:
    items = list(resources)
    return orjson.dumps({"schemas": [LIST_URN], "totalResults": len(items), "startIndex": 1,
                         "itemsPerPage": len(items), "Resources": items})
