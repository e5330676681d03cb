"""SCIM filters compiled to SQL conditions with bound parameters (values never reach the SQL text).

The lookups Entra makes on every object (``attr eq "value"``) take a regex fast path; anything else goes through
scim2-models' filter grammar (``ScimFilter(...).ast``), translated node by node. A hypothesis test checks the
fast path against the grammar.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .models import M, load
from .scim import CORE_GROUP, CORE_USER, ENTERPRISE, bad_request

MAX_FILTER_LENGTH = 4096

FILTER_HELP = ('Supported: eq, ne, co, sw, ew, pr, gt, ge, lt, le combined with and/or/not on userName, '
               'externalId, id, emails.value, emails[type eq "work"].value, active, displayName, '
               'name.givenName, name.familyName, meta.created, meta.lastModified (Users) and displayName, '
               'externalId, id, members.value, meta.created, meta.lastModified (Groups). Example: '
               'userName eq "alice@example.com"')

_JSON_DOC = "CAST(doc AS TEXT)"
# (resource, attribute path lower-cased) -> (SQL expression, kind); kind: ci | exact | bool | time
_USER_ATTRS: dict[str, tuple[str, str]] = {
    "username": ("user_name_lc", "ci-lc"),
    "externalid": ("external_id", "exact"),
    "id": ("id", "exact"),
    "emails.value": ("email_lc", "ci-lc"),
    "emails": ("email_lc", "ci-lc"),
    "active": ("active", "bool"),
    "displayname": (f"json_extract({_JSON_DOC}, '$.displayName')", "ci"),
    "name.givenname": (f"json_extract({_JSON_DOC}, '$.name.givenName')", "ci"),
    "name.familyname": (f"json_extract({_JSON_DOC}, '$.name.familyName')", "ci"),
    "name.formatted": (f"json_extract({_JSON_DOC}, '$.name.formatted')", "ci"),
    "meta.created": ("created", "time"),
    "meta.lastmodified": ("last_modified", "time"),
}
_GROUP_ATTRS: dict[str, tuple[str, str]] = {
    "displayname": ("display_name_lc", "ci-lc"),
    "externalid": ("external_id", "exact"),
    "id": ("id", "exact"),
    "meta.created": ("created", "time"),
    "meta.lastmodified": ("last_modified", "time"),
}
_SCHEMA_OF = {"users": (CORE_USER, ENTERPRISE), "groups": (CORE_GROUP,)}


def _attr_key(path: Any, resource: str) -> str:
    if path.uri and path.uri.lower() not in {u.lower() for u in _SCHEMA_OF[resource]}:
        raise bad_request(f"Filtering on schema {path.uri} is not supported. {FILTER_HELP}", "invalidFilter")
    key = path.attr.lower()
    if path.sub_attr:
        key += "." + path.sub_attr.lower()
    return key


def _compare(expr: str, kind: str, op: Any, value: Any, label: str) -> tuple[str, list[Any]]:
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool) or op not in (M.CompareOperator.eq, M.CompareOperator.ne):
            raise bad_request(f"{label} is boolean: compare it with eq/ne true or false.", "invalidFilter")
        return (f"{expr} = ?" if op == M.CompareOperator.eq else f"{expr} != ?"), [1 if value else 0]
    if value is None:
        if op == M.CompareOperator.eq:
            return f"{expr} IS NULL", []
        if op == M.CompareOperator.ne:
            return f"{expr} IS NOT NULL", []
        raise bad_request(f"Only eq/ne can compare {label} with null.", "invalidFilter")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad_request(f"{label} must be compared with a string value.", "invalidFilter")
    value = str(value)
    if kind == "ci-lc":  # the column already holds the lower-cased value
        col, value = expr, value.lower()
    elif kind == "ci":
        col, value = f"lower({expr})", value.lower()
    else:
        col = expr
    if op == M.CompareOperator.eq:
        return f"{col} = ?", [value]
    if op == M.CompareOperator.ne:
        return f"({col} IS NULL OR {col} != ?)", [value]
    if op == M.CompareOperator.co:
        return f"instr({col}, ?) > 0", [value]
    if op == M.CompareOperator.sw:
        return f"substr({col}, 1, length(?)) = ?", [value, value]
    if op == M.CompareOperator.ew:
        return f"(length({col}) >= length(?) AND substr({col}, -length(?)) = ?)", [value, value, value]
    sql_op = {M.CompareOperator.gt: ">", M.CompareOperator.ge: ">=", M.CompareOperator.lt: "<",
              M.CompareOperator.le: "<="}[op]
    return f"{col} {sql_op} ?", [value]


def _node(node: Any, resource: str) -> tuple[str, list[Any]]:
    attrs = _USER_ATTRS if resource == "users" else _GROUP_ATTRS
    if isinstance(node, M.LogicalExpr):
        parts = [_node(t, resource) for t in node.terms]
        joiner = " AND " if node.op == M.LogicalOperator.and_ else " OR "
        return "(" + joiner.join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]
    if isinstance(node, M.Not):
        sql, params = _node(node.expr, resource)
        return f"NOT ({sql})", params
    if isinstance(node, M.Present):
        key = _attr_key(node.attr_path, resource)
        if key not in attrs:
            raise bad_request(f"Filtering on {key!r} is not supported. {FILTER_HELP}", "invalidFilter")
        expr = attrs[key][0]
        return f"({expr} IS NOT NULL AND {expr} != '')", []
    if isinstance(node, M.Comparison):
        key = _attr_key(node.attr_path, resource)
        if resource == "groups" and key in ("members.value", "members"):
            return _member_clause(node.op, node.value)
        if key not in attrs:
            raise bad_request(f"Filtering on {key!r} is not supported. {FILTER_HELP}", "invalidFilter")
        expr, kind = attrs[key]
        return _compare(expr, kind, node.op, node.value, key)
    if isinstance(node, M.ValuePath):
        key = _attr_key(node.attr_path, resource)
        return _value_path(key, node, resource)
    raise bad_request(f"Unsupported filter expression. {FILTER_HELP}", "invalidFilter")


def _value_path(key: str, node: Any, resource: str) -> tuple[str, list[Any]]:
    terms = list(node.val_filter.terms) if (isinstance(node.val_filter, M.LogicalExpr)
                                             and node.val_filter.op == M.LogicalOperator.and_) else [node.val_filter]
    clauses: list[tuple[str, list[Any]]] = []
    for t in terms:
        if not isinstance(t, M.Comparison) or t.attr_path.sub_attr or t.attr_path.uri:
            raise bad_request(f"Unsupported filter inside {key}[...]. {FILTER_HELP}", "invalidFilter")
        sub = t.attr_path.attr.lower()
        if resource == "users" and key == "emails":
            if sub == "type":
                if t.op != M.CompareOperator.eq or str(t.value).lower() != "work":
                    raise bad_request('Only emails[type eq "work"] can be filtered. ' + FILTER_HELP,
                                      "invalidFilter")
                continue
            if sub == "value":
                clauses.append(_compare("email_lc", "ci-lc", t.op, t.value, "emails.value"))
                continue
        if resource == "groups" and key == "members" and sub == "value":
            clauses.append(_member_clause(t.op, t.value))
            continue
        raise bad_request(f"Filtering on {key}[{sub} ...] is not supported. {FILTER_HELP}", "invalidFilter")
    if node.sub_attr:
        raise bad_request(f"Unsupported filter on {key}[...].{node.sub_attr}. {FILTER_HELP}", "invalidFilter")
    if not clauses:  # e.g. emails[type eq "work"] pr-like: users having a work e-mail
        return "email_lc IS NOT NULL", []
    return "(" + " AND ".join(c[0] for c in clauses) + ")", [v for c in clauses for v in c[1]]


def _member_clause(op: Any, value: Any) -> tuple[str, list[Any]]:
    if op != M.CompareOperator.eq or not isinstance(value, str):
        raise bad_request('Members can only be filtered with members.value eq "<user id>".', "invalidFilter")
    return ("EXISTS (SELECT 1 FROM members m JOIN users u ON u.pk = m.user_pk"
            " WHERE m.group_pk = groups_.pk AND u.id = ?)"), [value]


# Fast path for the lookups Entra makes on every object (attr eq "value"), so the hot path skips the full
# grammar; anything else goes through scim2-models' parser. Values are JSON string literals.
_SIMPLE_EQ = re.compile(
    r'^\s*(?:urn:ietf:params:scim:schemas:core:2\.0:(User|Group):)?'
    r'(userName|externalId|id|displayName|emails\[type eq "work"\]\.value)'
    r'\s+eq\s+("(?:[^"\\\x00-\x1f]|\\.)*")\s*$',
    re.IGNORECASE,
)


def _fast_filter(text: str, resource: str) -> tuple[str, list[Any]] | None:
    m = _SIMPLE_EQ.match(text)
    if m is None:
        return None
    if m.group(1) and m.group(1).lower() != ("user" if resource == "users" else "group"):
        return None
    try:
        value = orjson.loads(m.group(3))
    except orjson.JSONDecodeError:
        return None
    key = m.group(2).lower()
    if key.startswith("emails"):
        key = "emails.value"
    attrs = _USER_ATTRS if resource == "users" else _GROUP_ATTRS
    if key not in attrs or not isinstance(value, str):
        return None
    expr, kind = attrs[key]
    if kind == "ci-lc":
        return f"{expr} = ?", [value.lower()]
    if kind == "exact":
        return f"{expr} = ?", [value]
    return None


def compile_filter(text: str, resource: str) -> tuple[str, list[Any]]:
    """Translate a SCIM filter into a SQL condition with bound parameters (values never reach the SQL)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise bad_request(f"The filter is longer than {MAX_FILTER_LENGTH} characters.", "invalidFilter")
    fast = _fast_filter(text, resource)
    if fast is None:
        load()
        try:
            ast = M.ScimFilter(text).ast
        except Exception as exc:  # the parser raises several types; all mean "not a filter"
            raise bad_request(f"The filter could not be parsed: {exc}. {FILTER_HELP}", "invalidFilter") from None
        fast = _node(ast, resource)
    for value in fast[1]:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:   # a JSON escape of a lone surrogate ("\ud800") is no character
                raise bad_request("The filter's value is not valid Unicode (a lone surrogate escape such as "
                                  "\\ud800).", "invalidFilter") from None
    return fast

