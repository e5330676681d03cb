"""SCIM Group bodies and PATCH: create/replace bodies, member lists, and a PATCH translated into one change set
(members added/removed/replaced, displayName, externalId) that the store applies atomically.

Tolerances (``sandbox.policy``): ``unknown-schema-uri`` (Microsoft's ADSCIM Group URI), ``explicit-nulls``,
``member-value-list`` (removing members with a value list), ``case-insensitive-op``.
"""

from __future__ import annotations

from typing import Any

from .models import M, load
from .policy import DEFAULT, Tolerances
from .scim import CORE_GROUP, bad_request, ci_get, drop_nulls, patch_operations, short


def normalise_group_body(body: Any, policy: Tolerances = DEFAULT
                         ) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """(group document without members, member ids, member displays). Tolerance ``unknown-schema-uri``: other
    schema URIs are dropped (strict: refused)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object (a SCIM Group).", "invalidSyntax")
    body = drop_nulls(body, policy)
    if not policy.unknown_schema_uri:
        _, schemas = ci_get(body, "schemas")
        listed = schemas if isinstance(schemas, list) else [] if schemas is None else [schemas]
        other = [s for s in listed if not (isinstance(s, str) and s.lower() == CORE_GROUP.lower())]
        if other:
            raise bad_request(f"Unknown schema URI(s) {other!r} (strict: the unknown-schema-uri tolerance is off); "
                              f"a Group names {CORE_GROUP}.", "invalidSyntax")
    _, name = ci_get(body, "displayName")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("displayName is required (a non-empty string).")
    doc: dict[str, Any] = {"schemas": [CORE_GROUP], "displayName": name}
    _, ext = ci_get(body, "externalId")
    if ext is not None:
        if not isinstance(ext, str):
            raise bad_request("externalId must be a string.")
        doc["externalId"] = ext
    _, members = ci_get(body, "members")
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
        _, v = ci_get(m, "value")
        _, t = ci_get(m, "type")
        if t is not None and str(t).lower() != "user":
            raise bad_request("Only users can be group members here (6clicks has no nested groups).")
        if not isinstance(v, str) or not v:
            raise bad_request('Each member needs a "value" with the user id.')
        _, display = ci_get(m, "display")
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


def plan_group_patch(body: Any, policy: Tolerances = DEFAULT) -> GroupChange:
    """Translate a group PATCH into a change set (members, displayName, externalId)."""
    load()
    change = GroupChange()
    for op in patch_operations(body, policy):
        name, path, value = op["op"], op.get("path"), op.get("value")
        if not path:
            if name == "remove" or not isinstance(value, dict):
                raise bad_request("An operation without a path needs an object value.", "noTarget")
            for k, v in value.items():
                if k.lower() == "schemas":
                    continue
                _group_attr(change, name, k, v, policy)
            continue
        try:
            ast = M.Path(path).ast
        except Exception as exc:
            raise bad_request(f"Invalid PATCH path {path!r}: {short(exc)}", "invalidPath") from None
        if isinstance(ast, M.ValuePath) and ast.attr_path.attr.lower() == "members":
            if name != "remove":
                raise bad_request("A members[...] filter path is only supported with remove.", "invalidPath")
            change.remove.extend(_filter_member_ids(ast.val_filter))
            continue
        attr = getattr(ast, "attr", "")
        if getattr(ast, "sub_attr", None) or not attr:
            raise bad_request(f"Unsupported PATCH path {path!r} for a group.", "invalidPath")
        _group_attr(change, name, attr, value, policy)
    return change


def _group_attr(change: GroupChange, name: str, attr: str, value: Any, policy: Tolerances) -> None:
    a = attr.lower()
    if a == "members":
        if name == "remove":
            if value is None:
                change.remove_all = True
                change.replace_members = []
            elif not policy.member_value_list:
                raise bad_request('Remove members with a path such as members[value eq "<user id>"] (strict: '
                                  "the member-value-list tolerance is off).", "invalidPath")
            else:
                change.remove.extend(member_ids(value))  # tolerance member-value-list
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
    if isinstance(node, M.LogicalExpr) and node.op == M.LogicalOperator.or_:
        return [i for t in node.terms for i in _filter_member_ids(t)]
    if (isinstance(node, M.Comparison) and node.attr_path.attr.lower() == "value"
            and node.op == M.CompareOperator.eq and isinstance(node.value, str)):
        return [node.value]
    raise bad_request('Use members[value eq "<user id>"] to remove a member.', "invalidFilter")


