"""Build RFC 7644 §3.5.2 PATCH requests: lowercase ops, JSON booleans, escaped value filters in paths.

>>> from scim_client import patch
>>> patch.request(patch.replace("active", False))
{'schemas': ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], 'Operations': [{'op': 'replace', 'path': 'active', 'value': False}]}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import filters
from .models import PATCH_SCHEMA

Operation = dict[str, Any]


def _path(path: str | None) -> str | None:
    if path is None:
        return None
    if not isinstance(path, str) or not path.strip():
        raise ValueError("a PATCH path must be a non-empty string")
    if "[" in path:
        # Only paths made by member_path/value_filter_path (already escaped) carry a filter.
        return path
    return filters.attribute(path)


def _json_value(value: Any) -> Any:
    """Check a value is plain JSON (dict/list/str/int/float/bool/None); booleans stay booleans."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity are not JSON")
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("PATCH value keys must be strings")
            out[k] = _json_value(v)
        return out
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


def add(path: str | None, value: Any) -> Operation:
    op: Operation = {"op": "add"}
    if path is not None:
        op["path"] = _path(path)
    op["value"] = _json_value(value)
    return op


def replace(path: str | None, value: Any) -> Operation:
    op: Operation = {"op": "replace"}
    if path is not None:
        op["path"] = _path(path)
    op["value"] = _json_value(value)
    return op


def remove(path: str, value: Any = None) -> Operation:
    op: Operation = {"op": "remove", "path": _path(path)}
    if value is not None:
        op["value"] = _json_value(value)
    return op


def value_filter_path(attr: str, inner: filters.Filter, sub_attr: str | None = None) -> str:
    """``members[value eq "id"]`` style path, with the value escaped."""
    return str(filters.value_path(attr, inner, sub_attr))


def member_path(member_id: str) -> str:
    return value_filter_path("members", filters.eq("value", str(member_id)))


def request(*operations: Operation | Iterable[Operation]) -> dict[str, Any]:
    """The PatchOp body for one or more operations."""
    ops: list[Operation] = []
    for item in operations:
        if isinstance(item, dict):
            ops.append(item)
        else:
            ops.extend(item)
    if not ops:
        raise ValueError("a PATCH request needs at least one operation")
    for op in ops:
        if op.get("op") not in ("add", "replace", "remove"):
            raise ValueError(f"unknown PATCH op {op.get('op')!r}")
    return {"schemas": [PATCH_SCHEMA], "Operations": ops}


# Ready-made operations the console uses


def set_active(active: bool) -> dict[str, Any]:
    if not isinstance(active, bool):
        raise TypeError("active must be a bool")
    return request(replace("active", active))


def rename_group(display_name: str) -> dict[str, Any]:
    if not isinstance(display_name, str) or not display_name.strip():
        raise ValueError("a group name cannot be empty")
    return request(replace("displayName", display_name))


def add_members(member_ids: Iterable[str]) -> dict[str, Any]:
    ids = _ids(member_ids)
    return request(add("members", [{"value": i} for i in ids]))


def remove_members(member_ids: Iterable[str]) -> dict[str, Any]:
    """One ``remove members[value eq "id"]`` per id: strict servers reject a remove with a value list."""
    ids = _ids(member_ids)
    return request([remove(member_path(i)) for i in ids])


def replace_members(member_ids: Iterable[str]) -> dict[str, Any]:
    """``replace members`` with exactly these ids (may be empty): one operation, for repairing a group."""
    if isinstance(member_ids, str):
        raise TypeError("pass a list of ids, not a single string")
    ids = list(dict.fromkeys(str(i) for i in member_ids))
    if any(not i for i in ids):
        raise ValueError("a member id cannot be empty")
    return request(replace("members", [{"value": i} for i in ids]))


def _ids(member_ids: Iterable[str]) -> list[str]:
    if isinstance(member_ids, str):
        raise TypeError("pass a list of ids, not a single string")
    ids: list[str] = []
    seen: set[str] = set()
    for i in member_ids:
        text = str(i)
        if not text:
            raise ValueError("a member id cannot be empty")
        if text not in seen:
            seen.add(text)
            ids.append(text)
    if not ids:
        raise ValueError("no member ids given")
    return ids
