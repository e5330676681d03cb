"""SCIM protocol pieces of the sandbox: errors, filters compiled to SQL, PATCH (with Entra tolerance policies),
attribute projection and the discovery documents.

Tolerance policies (named, each applied deliberately; see docs/sandbox.md):
- ``case-insensitive-op``: PATCH ``op`` compared case-insensitively ("Replace", "Add", "Remove").
- ``string-booleans``: "True"/"False" in any case accepted for boolean attributes (``active``).
- ``dotted-keys``: a PATCH op without ``path`` whose value has dotted keys (``name.givenName``) or full URN keys.
- ``member-value-list``: member add *and remove* with ``"value": [{"value": id}, ...]``.
- ``unknown-schema-uri``: schema URIs other than the resource's own (e.g. Microsoft's ADSCIM Group) are dropped.
- ``explicit-nulls``: attributes sent as ``null`` are treated as absent (a PATCH to ``null`` removes).
- ``bare-manager-id``: ``manager`` given as a bare string id or a one-element list.
- ``ignored-immutable``: updates to ``userName`` and ``emails`` are accepted and ignored (6clicks semantics).
- ``typed-element-create``: ``attr[type eq "T"].sub`` on a user without a T element creates it (add/replace).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

import orjson

# scim2-models (pydantic) takes ~1-2 s to import; it is loaded on first use (or by warm_up() right after the
# server is ready) so that the sandbox starts quickly. These names are filled in by _load().
Context: Any = None
EnterpriseUser: Any = None
Group: Any = None
PatchOp: Any = None
ResourceType: Any = None
SchemaExtension: Any = None
User: Any = None
UserModel: Any = None
AttrPath: Any = None
CompareOperator: Any = None
Comparison: Any = None
LogicalExpr: Any = None
LogicalOperator: Any = None
Not: Any = None
Path: Any = None
Present: Any = None
ScimFilter: Any = None
ValuePath: Any = None
_load_lock = threading.Lock()
_loaded = False


def _load() -> None:
    global Context, EnterpriseUser, Group, PatchOp, ResourceType, SchemaExtension, User, UserModel
    global AttrPath, CompareOperator, Comparison, LogicalExpr, LogicalOperator, Not, Path, Present
    global ScimFilter, ValuePath, _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        import scim2_models as m
        import scim2_models.path as p

        Context, EnterpriseUser, Group, PatchOp = m.Context, m.EnterpriseUser, m.Group, m.PatchOp
        ResourceType, SchemaExtension, User = m.ResourceType, m.SchemaExtension, m.User
        UserModel = m.User[m.EnterpriseUser]
        AttrPath, CompareOperator, Comparison, LogicalExpr = p.AttrPath, p.CompareOperator, p.Comparison, p.LogicalExpr
        LogicalOperator, Not, Path, Present = p.LogicalOperator, p.Not, p.Path, p.Present
        ScimFilter, ValuePath = p.ScimFilter, p.ValuePath
        _loaded = True


def warm_up() -> None:
    """Load scim2-models now (called in a background thread once the server is ready)."""
    _load()


CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"
MAX_FILTER_LENGTH = 4096



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


# --------------------------------------------------------------------------------------------- filters
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


def _attr_key(path: AttrPath, resource: str) -> str:
    if path.uri and path.uri.lower() not in {u.lower() for u in _SCHEMA_OF[resource]}:
        raise bad_request(f"Filtering on schema {path.uri} is not supported. {FILTER_HELP}", "invalidFilter")
    key = path.attr.lower()
    if path.sub_attr:
        key += "." + path.sub_attr.lower()
    return key


def _compare(expr: str, kind: str, op: CompareOperator, value: Any, label: str) -> tuple[str, list[Any]]:
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool) or op not in (CompareOperator.eq, CompareOperator.ne):
            raise bad_request(f"{label} is boolean: compare it with eq/ne true or false.", "invalidFilter")
        return (f"{expr} = ?" if op == CompareOperator.eq else f"{expr} != ?"), [1 if value else 0]
    if value is None:
        if op == CompareOperator.eq:
            return f"{expr} IS NULL", []
        if op == CompareOperator.ne:
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
    if op == CompareOperator.eq:
        return f"{col} = ?", [value]
    if op == CompareOperator.ne:
        return f"({col} IS NULL OR {col} != ?)", [value]
    if op == CompareOperator.co:
        return f"instr({col}, ?) > 0", [value]
    if op == CompareOperator.sw:
        return f"substr({col}, 1, length(?)) = ?", [value, value]
    if op == CompareOperator.ew:
        return f"(length({col}) >= length(?) AND substr({col}, -length(?)) = ?)", [value, value, value]
    sql_op = {CompareOperator.gt: ">", CompareOperator.ge: ">=", CompareOperator.lt: "<",
              CompareOperator.le: "<="}[op]
    return f"{col} {sql_op} ?", [value]


def _node(node: Any, resource: str) -> tuple[str, list[Any]]:
    attrs = _USER_ATTRS if resource == "users" else _GROUP_ATTRS
    if isinstance(node, LogicalExpr):
        parts = [_node(t, resource) for t in node.terms]
        joiner = " AND " if node.op == LogicalOperator.and_ else " OR "
        return "(" + joiner.join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]
    if isinstance(node, Not):
        sql, params = _node(node.expr, resource)
        return f"NOT ({sql})", params
    if isinstance(node, Present):
        key = _attr_key(node.attr_path, resource)
        if key not in attrs:
            raise bad_request(f"Filtering on {key!r} is not supported. {FILTER_HELP}", "invalidFilter")
        expr = attrs[key][0]
        return f"({expr} IS NOT NULL AND {expr} != '')", []
    if isinstance(node, Comparison):
        key = _attr_key(node.attr_path, resource)
        if resource == "groups" and key in ("members.value", "members"):
            return _member_clause(node.op, node.value)
        if key not in attrs:
            raise bad_request(f"Filtering on {key!r} is not supported. {FILTER_HELP}", "invalidFilter")
        expr, kind = attrs[key]
        return _compare(expr, kind, node.op, node.value, key)
    if isinstance(node, ValuePath):
        key = _attr_key(node.attr_path, resource)
        return _value_path(key, node, resource)
    raise bad_request(f"Unsupported filter expression. {FILTER_HELP}", "invalidFilter")


def _value_path(key: str, node: ValuePath, resource: str) -> tuple[str, list[Any]]:
    terms = list(node.val_filter.terms) if (isinstance(node.val_filter, LogicalExpr)
                                             and node.val_filter.op == LogicalOperator.and_) else [node.val_filter]
    clauses: list[tuple[str, list[Any]]] = []
    for t in terms:
        if not isinstance(t, Comparison) or t.attr_path.sub_attr or t.attr_path.uri:
            raise bad_request(f"Unsupported filter inside {key}[...]. {FILTER_HELP}", "invalidFilter")
        sub = t.attr_path.attr.lower()
        if resource == "users" and key == "emails":
            if sub == "type":
                if t.op != CompareOperator.eq or str(t.value).lower() != "work":
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


def _member_clause(op: CompareOperator, value: Any) -> tuple[str, list[Any]]:
    if op != CompareOperator.eq or not isinstance(value, str):
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
    if fast is not None:
        return fast
    _load()
    try:
        ast = ScimFilter(text).ast
    except Exception as exc:  # the parser raises several types; all mean "not a filter"
        raise bad_request(f"The filter could not be parsed: {exc}. {FILTER_HELP}", "invalidFilter") from None
    return _node(ast, resource)


# --------------------------------------------------------------------------------------------- input shapes
def parse_bool(value: Any, name: str) -> bool:
    """Policy ``string-booleans``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(f"{name} must be true or false (got {value!r}).")


def drop_nulls(value: Any) -> Any:
    """Policy ``explicit-nulls``: remove keys whose value is null, recursively."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


def _ci_get(doc: dict[str, Any], name: str) -> tuple[str | None, Any]:
    for k, v in doc.items():
        if k.lower() == name.lower():
            return k, v
    return None, None


def normalise_user_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object (a SCIM User).", "invalidSyntax")
    body = drop_nulls(body)
    body.pop("meta", None)
    body.pop("id", None)
    key, active = _ci_get(body, "active")
    if key is not None:
        body[key] = parse_bool(active, "active")
    _, user_name = _ci_get(body, "userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise bad_request("userName is required (a non-empty string).")
    schemas = body.get("schemas") or [CORE_USER]
    if not isinstance(schemas, list):
        raise bad_request("schemas must be a list of schema URIs.", "invalidSyntax")
    known = [s for s in schemas if isinstance(s, str) and s.lower() in (CORE_USER.lower(), ENTERPRISE.lower())]
    if any(k.lower() == ENTERPRISE.lower() for k in body) and ENTERPRISE not in known:
        known.append(ENTERPRISE)
    body["schemas"] = known or [CORE_USER]
    _ek, ent = _ci_get(body, ENTERPRISE)
    if isinstance(ent, dict):
        mk, manager = _ci_get(ent, "manager")
        if mk is not None:
            ent[mk] = _manager_value(manager)
    return body


def _manager_value(value: Any) -> Any:
    """Policy ``bare-manager-id``."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return {"value": value}
    return value


def validate_user(body: dict[str, Any], purpose: str) -> dict[str, Any]:
    """Validate with scim2-models (``purpose``: "create" or "replace"); the canonical document back."""
    _load()
    context = Context.RESOURCE_CREATION_REQUEST if purpose == "create" else Context.RESOURCE_REPLACEMENT_REQUEST
    try:
        model = UserModel.model_validate(body, scim_ctx=context)
    except Exception as exc:
        raise bad_request(f"The user is not valid: {_short(exc)}") from None
    return _dump_user(model)


def _dump_user(model: Any) -> dict[str, Any]:
    doc = model.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    doc.pop("meta", None)
    doc.pop("id", None)
    doc.pop("groups", None)
    doc.pop("password", None)
    return doc


def _short(exc: Exception) -> str:
    text = str(exc).replace("\n", " ")
    return text[:400]


def apply_user_patch(doc: dict[str, Any], body: Any) -> tuple[dict[str, Any], list[str]]:
    """Apply a PATCH to a stored user document. Returns (new document, ignored paths)."""
    _load()
    ops = _operations(body)
    frozen = {a for a in _IGNORED_USER_ATTRS if any(k.lower() == a and v for k, v in doc.items())}
    created: set[tuple[str, str]] = set()
    rfc_ops: list[dict[str, Any]] = []
    ignored: list[str] = []
    for op in ops:
        name, path, value = op["op"], op.get("path"), op.get("value")
        if not path:
            if name == "remove":
                raise bad_request("A remove operation needs a path.", "noTarget")
            if not isinstance(value, dict):
                raise bad_request("An operation without a path needs an object value.", "invalidValue")
            for k, v in value.items():
                if k.lower() == "schemas":
                    continue
                if k.lower() == ENTERPRISE.lower() and isinstance(v, dict):
                    for sk, sv in v.items():
                        rfc_ops.extend(_user_op(name, f"{ENTERPRISE}:{sk}", sv, ignored, frozen, doc, created))
                else:
                    rfc_ops.extend(_user_op(name, k, v, ignored, frozen, doc, created))
        else:
            rfc_ops.extend(_user_op(name, str(path), value, ignored, frozen, doc, created))
    if not rfc_ops:
        return doc, ignored
    try:
        model = UserModel.model_validate(doc, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        patch = PatchOp[UserModel].model_validate(
            {"schemas": [PATCH_URN], "Operations": rfc_ops}, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        patch.patch(model)
    except ScimHTTPError:
        raise
    except Exception as exc:
        scim_type = getattr(exc, "scim_type", None) or "invalidValue"
        raise bad_request(f"The PATCH could not be applied: {_short(exc)}", scim_type) from None
    return _dump_user(model), ignored


_IGNORED_USER_ATTRS = ("username", "emails")
# The User's multi-valued complex attributes: a PATCH value for the whole attribute must be a list (or one object).
_MULTI_VALUED = frozenset({"emails", "phonenumbers", "ims", "photos", "addresses", "groups", "entitlements", "roles",
                           "x509certificates"})


def _typed_element_missing(doc: dict[str, Any], ast: Any) -> tuple[str, str] | None:
    """For ``attr[type eq "T"].sub`` paths: (attr name, T) when ``doc`` has no element of type T."""
    if not isinstance(ast, ValuePath) or not ast.sub_attr or ast.attr_path.uri or ast.attr_path.sub_attr:
        return None
    f = ast.val_filter
    if not (isinstance(f, Comparison) and f.attr_path.attr.lower() == "type" and f.op == CompareOperator.eq
            and isinstance(f.value, str)):
        return None
    _, items = _ci_get(doc, ast.attr_path.attr)
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("type", "")).lower() == f.value.lower():
            return None
    return ast.attr_path.attr, f.value


def _user_op(name: str, path: str, value: Any, ignored: list[str], frozen: set[str],
             doc: dict[str, Any] | None = None, created: set[tuple[str, str]] | None = None
             ) -> list[dict[str, Any]]:
    try:
        ast = Path(path).ast
    except Exception as exc:
        raise bad_request(f"Invalid PATCH path {path!r}: {_short(exc)}", "invalidPath") from None
    attr_path = ast.attr_path if isinstance(ast, ValuePath) else ast
    attr = getattr(attr_path, "attr", "") or ""
    uri = (getattr(attr_path, "uri", None) or "").lower()
    whole = not isinstance(ast, ValuePath) and not getattr(attr_path, "sub_attr", None)
    if (whole and attr.lower() in _MULTI_VALUED and uri in ("", CORE_USER.lower()) and name != "remove"
            and value is not None and not isinstance(value, list | dict)):
        raise bad_request(f"{attr} is a list of objects: send a list such as [{{\"value\": \"...\", "
                          f"\"type\": \"work\"}}], or a path such as {attr}[type eq \"work\"].value for one "
                          "value.", "invalidValue")
    if attr.lower() in frozen and uri in ("", CORE_USER.lower()):
        ignored.append(path)  # policy ignored-immutable: set once, later updates ignored
        return []
    if attr.lower() == "active" and uri in ("", CORE_USER.lower()) and value is not None:
        value = parse_bool(value, "active")
    if attr.lower() == "manager" and uri == ENTERPRISE.lower():
        value = _manager_value(value)
    missing = _typed_element_missing(doc, ast) if doc is not None else None
    if missing is not None and created is not None:
        key = (missing[0].lower(), missing[1].lower())
        if key not in created:
            if value is None or name == "remove":
                return []  # nothing of that type to remove
            # policy typed-element-create: Entra sets emails[type eq "work"].value on a user without one
            created.add(key)
            return [{"op": "add", "path": missing[0], "value": [{"type": missing[1], ast.sub_attr: value}]}]
    if value is None and name in ("add", "replace"):
        return [{"op": "remove", "path": path}]  # policy explicit-nulls
    if isinstance(value, dict | list):
        value = drop_nulls(value)
    op: dict[str, Any] = {"op": name, "path": path}
    if name != "remove" or value is not None:
        op["value"] = value
    return [op]


def _operations(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        raise bad_request("The PATCH body must be a JSON object with Operations.", "invalidSyntax")
    _, schemas = _ci_get(body, "schemas")
    if schemas is not None and (not isinstance(schemas, list) or not all(isinstance(x, str) for x in schemas)):
        raise bad_request(f"schemas must be a list of schema URIs, e.g. [\"{PATCH_URN}\"].", "invalidSyntax")
    _, ops = _ci_get(body, "Operations")
    if not isinstance(ops, list) or not ops:
        raise bad_request("The PATCH body needs a non-empty Operations list.", "invalidSyntax")
    out = []
    for op in ops:
        if not isinstance(op, dict):
            raise bad_request("Each PATCH operation must be an object.", "invalidSyntax")
        _, name = _ci_get(op, "op")
        name = str(name or "").lower()  # policy case-insensitive-op
        if name not in ("add", "replace", "remove"):
            raise bad_request(f"Unknown PATCH op {name!r}; use add, replace or remove.", "invalidSyntax")
        _, path = _ci_get(op, "path")
        _, value = _ci_get(op, "value")
        if path is not None and not isinstance(path, str):
            raise bad_request("A PATCH path must be a string.", "invalidPath")
        out.append({"op": name, "path": path, "value": value})
    return out


# --------------------------------------------------------------------------------------------- groups
def normalise_group_body(body: Any) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """(group document without members, member ids). Policy ``unknown-schema-uri``: other URIs dropped."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object (a SCIM Group).", "invalidSyntax")
    body = drop_nulls(body)
    _, name = _ci_get(body, "displayName")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("displayName is required (a non-empty string).")
    doc: dict[str, Any] = {"schemas": [CORE_GROUP], "displayName": name}
    _, ext = _ci_get(body, "externalId")
    if ext is not None:
        if not isinstance(ext, str):
            raise bad_request("externalId must be a string.")
        doc["externalId"] = ext
    _, members = _ci_get(body, "members")
    displays: dict[str, str] = {}
    return doc, member_ids(members or [], displays), displays


def member_ids(value: Any, displays: dict[str, str] | None = None) -> list[str]:
    """User ids of a member list; ``displays`` collects client-given ``display`` values (kept as sent)."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise bad_request('members must be a list like [{"value": "<user id>"}].')
    ids = []
    for m in value:
        if isinstance(m, str):
            ids.append(m)
            continue
        if not isinstance(m, dict):
            raise bad_request('Each member must be an object like {"value": "<user id>"}.')
        _, v = _ci_get(m, "value")
        _, t = _ci_get(m, "type")
        if t is not None and str(t).lower() != "user":
            raise bad_request("Only users can be group members here (6clicks has no nested groups).")
        if not isinstance(v, str) or not v:
            raise bad_request('Each member needs a "value" with the user id.')
        _, display = _ci_get(m, "display")
        if displays is not None and isinstance(display, str):
            displays[v] = display
        ids.append(v)
    return ids


class GroupChange:
    def __init__(self) -> None:
        self.doc_changes: dict[str, Any] = {}
        self.add: list[str] = []
        self.remove: list[str] = []
        self.replace_members: list[str] | None = None
        self.remove_all = False
        self.displays: dict[str, str] = {}

    @property
    def touches_members(self) -> bool:
        return bool(self.add or self.remove or self.replace_members is not None or self.remove_all)


def plan_group_patch(body: Any) -> GroupChange:
    """Translate a group PATCH into a change set (members, displayName, externalId)."""
    _load()
    change = GroupChange()
    for op in _operations(body):
        name, path, value = op["op"], op.get("path"), op.get("value")
        if not path:
            if name == "remove" or not isinstance(value, dict):
                raise bad_request("An operation without a path needs an object value.", "noTarget")
            for k, v in value.items():
                if k.lower() == "schemas":
                    continue
                _group_attr(change, name, k, v)
            continue
        try:
            ast = Path(path).ast
        except Exception as exc:
            raise bad_request(f"Invalid PATCH path {path!r}: {_short(exc)}", "invalidPath") from None
        if isinstance(ast, ValuePath) and ast.attr_path.attr.lower() == "members":
            if name != "remove":
                raise bad_request("A members[...] filter path is only supported with remove.", "invalidPath")
            change.remove.extend(_filter_member_ids(ast.val_filter))
            continue
        attr = getattr(ast, "attr", "")
        if getattr(ast, "sub_attr", None) or not attr:
            raise bad_request(f"Unsupported PATCH path {path!r} for a group.", "invalidPath")
        _group_attr(change, name, attr, value)
    return change


def _group_attr(change: GroupChange, name: str, attr: str, value: Any) -> None:
    a = attr.lower()
    if a == "members":
        if name == "remove":
            if value is None:
                change.remove_all = True
                change.replace_members = []
            else:
                change.remove.extend(member_ids(value))  # policy member-value-list
        elif name == "add":
            change.add.extend(member_ids(value if value is not None else [], change.displays))
        else:
            change.replace_members = member_ids(value if value is not None else [], change.displays)
            change.add, change.remove = [], []
        return
    if a == "displayname":
        if name == "remove" or not isinstance(value, str) or not value.strip():
            raise bad_request("displayName is required: replace it with a non-empty string.", "mutability")
        change.doc_changes["displayName"] = value
        return
    if a == "externalid":
        if name == "remove" or value is None:
            change.doc_changes["externalId"] = None
        elif isinstance(value, str):
            change.doc_changes["externalId"] = value
        else:
            raise bad_request("externalId must be a string.")
        return
    if a in ("id", "meta"):
        raise bad_request(f"{attr} is read-only.", "mutability")
    raise bad_request(f"Groups have no attribute {attr!r}; use displayName, externalId or members.", "invalidPath")


def _filter_member_ids(node: Any) -> list[str]:
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_:
        return [i for t in node.terms for i in _filter_member_ids(t)]
    if (isinstance(node, Comparison) and node.attr_path.attr.lower() == "value"
            and node.op == CompareOperator.eq and isinstance(node.value, str)):
        return [node.value]
    raise bad_request('Use members[value eq "<user id>"] to remove a member.', "invalidFilter")


# --------------------------------------------------------------------------------------------- projection
def _parse_attr_list(text: str | None) -> list[tuple[str | None, str, str | None]]:
    if not text:
        return []
    out = []
    for raw in text.split(","):
        raw = raw.strip()
        if not raw:
            continue
        uri = None
        low = raw.lower()
        for u in (ENTERPRISE, CORE_USER, CORE_GROUP):
            if low.startswith(u.lower() + ":"):
                uri, raw = u, raw[len(u) + 1:]
                break
            if low == u.lower():
                uri, raw = u, ""
                break
        attr, _, sub = raw.partition(".")
        out.append((uri, attr.lower(), sub.lower() or None))
    return out


_ALWAYS = {"id", "schemas", "meta"}


def project(doc: dict[str, Any], attributes: str | None, excluded: str | None) -> dict[str, Any]:
    """Apply ``attributes`` / ``excludedAttributes`` (case-insensitive; sub-attributes and URN prefixes)."""
    inc = _parse_attr_list(attributes)
    if inc:
        out: dict[str, Any] = {}
        for k, v in doc.items():
            kl = k.lower()
            if kl in _ALWAYS:
                out[k] = v
                continue
            if kl == ENTERPRISE.lower() and isinstance(v, dict):
                subs = [(a, s) for u, a, s in inc if u == ENTERPRISE]
                if any(a == "" for a, _ in subs):
                    out[k] = v
                    continue
                picked = {sk: sv for sk, sv in v.items() if any(a == sk.lower() for a, _ in subs)}
                if picked:
                    out[k] = picked
                continue
            wanted = [s for u, a, s in inc if a == kl and u != ENTERPRISE]
            if not wanted:
                continue
            if None in wanted or not isinstance(v, dict | list):
                out[k] = v
            elif isinstance(v, dict):
                out[k] = {sk: sv for sk, sv in v.items() if sk.lower() in wanted}
            else:
                out[k] = [{sk: sv for sk, sv in item.items() if sk.lower() in wanted}
                          for item in v if isinstance(item, dict)]
        return out
    exc = _parse_attr_list(excluded)
    if not exc:
        return doc
    out = dict(doc)
    for uri, attr, sub in exc:
        if attr in _ALWAYS:
            continue
        if uri == ENTERPRISE:
            ent = out.get(ENTERPRISE)
            if isinstance(ent, dict):
                out[ENTERPRISE] = {k: v for k, v in ent.items() if k.lower() != attr}
            continue
        for k in list(out):
            if k.lower() == attr:
                if sub is None:
                    del out[k]
                elif isinstance(out[k], dict):
                    out[k] = {sk: sv for sk, sv in out[k].items() if sk.lower() != sub}
                elif isinstance(out[k], list):
                    out[k] = [{sk: sv for sk, sv in i.items() if sk.lower() != sub}
                              for i in out[k] if isinstance(i, dict)]
    return out


def wants_members(attributes: str | None, excluded: str | None) -> bool:
    inc = _parse_attr_list(attributes)
    if inc:
        return any(a == "members" for _, a, _ in inc)
    return not any(a == "members" for _, a, _ in _parse_attr_list(excluded))


# --------------------------------------------------------------------------------------------- discovery
_IMMUTABLE_USER_ATTRS = {"userName", "emails"}


def _schema_docs(base_url: str) -> list[dict[str, Any]]:
    docs = []
    for model in (User, EnterpriseUser, Group):
        schema = model.to_schema().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        if model is User:
            for attr in schema["attributes"]:
                if attr["name"] in _IMMUTABLE_USER_ATTRS:
                    attr["mutability"] = "immutable"  # 6clicks keeps userName and e-mail as created
                    attr["description"] = (attr.get("description") or "") + (
                        " Set on creation; 6clicks ignores later updates.")
        schema["meta"] = {"resourceType": "Schema", "location": f"{base_url}/scim/Schemas/{schema['id']}"}
        docs.append(schema)
    return docs


def discovery(base_url: str, max_page_size: int) -> dict[str, Any]:
    _load()
    schemas = _schema_docs(base_url)
    user_rt = ResourceType(
        id="User", name="User", endpoint="/Users", description="User Account", schema_=CORE_USER,
        schema_extensions=[SchemaExtension(schema_=ENTERPRISE, required=False)],
    ).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    group_rt = ResourceType(
        id="Group", name="Group", endpoint="/Groups", description="Group (6clicks groups and roles)",
        schema_=CORE_GROUP,
    ).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    for rt in (user_rt, group_rt):
        rt["meta"] = {"resourceType": "ResourceType", "location": f"{base_url}/scim/ResourceTypes/{rt['id']}"}
    spc = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/6clicks (sandbox; see docs/sandbox.md)",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": max_page_size},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True,
            "description": "A 6clicks access token from POST /auth-api/1.0/auth/token (API key exchange).",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/scim/ServiceProviderConfig"},
    }
    return {"schemas": schemas, "resource_types": [user_rt, group_rt], "spc": spc}


def list_response(resources: Iterable[dict[str, Any]]) -> bytes:
    items = list(resources)
    return orjson.dumps({"schemas": [LIST_URN], "totalResults": len(items), "startIndex": 1,
                         "itemsPerPage": len(items), "Resources": items})
