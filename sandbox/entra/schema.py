"""The provisioning job's ``synchronizationSchema`` (and the ``scim`` template's): directories, synchronization
rules, object mappings and attribute mappings, as Microsoft Graph shapes them; validation of a ``PUT``; and the
compiled user mapping the simulator sends from.

The job's schema starts as the 6clicks guide prescribes (``emails[type eq "work"].value`` <- mail, matching 1;
``userName`` <- userPrincipalName, matching 2; ``active`` <- ``Switch([IsSoftDeleted], , "False", "True", "True",
"False")``; ``name.givenName``, ``name.familyName`` <- surname, ``externalId`` <- objectId; groups:
``displayName`` matching 1, ``externalId`` <- objectId, ``members``). The template is Microsoft's default for a
non-gallery SCIM app, before the guide's edits (userName matching 1, externalId <- mailNickname, displayName,
title, department ...). A ``PUT`` replaces the whole schema; the next cycle sends what the new user mapping
yields (the group mapping is stored and validated; groups are always sent as displayName, externalId, members).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from . import expressions as ex
from .db import EntraDB
from .records import det_uuid

SOURCE_DIR = "Azure Active Directory"
TARGET_DIR = "customappsso"
TARGET_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TARGET_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EMAIL = 'emails[type eq "work"].value'
USER_MAPPING_NAME = "Provision Microsoft Entra ID Users"
GROUP_MAPPING_NAME = "Provision Microsoft Entra ID Groups"
FLOW_TYPES = {"Always", "ObjectAddOnly", "MultiValueAddOnly", "ValueAddOnly", "AttributeAddOnly"}
FLOW_BEHAVIORS = {"FlowWhenChanged", "FlowAlways"}
MAX_MAPPINGS = 200
ACTIVE_EXPRESSION = 'Switch([IsSoftDeleted], , "False", "True", "True", "False")'

SOURCE_USER_ATTRS = ["objectId", "userPrincipalName", "mail", "mailNickname", "givenName", "surname",
                     "displayName", "department", "jobTitle", "employeeId", "preferredLanguage", "accountEnabled",
                     "IsSoftDeleted", "manager"]
SOURCE_GROUP_ATTRS = ["objectId", "displayName", "mailNickname", "description", "members", "IsSoftDeleted"]
TARGET_USER_ATTRS = ["userName", "active", "displayName", "title", EMAIL, 'emails[type eq "other"].value',
                     "preferredLanguage", "name.givenName", "name.familyName", "name.formatted", "externalId",
                     'phoneNumbers[type eq "work"].value', f"{ENTERPRISE}:employeeNumber",
                     f"{ENTERPRISE}:department", f"{ENTERPRISE}:manager", "roles"]
TARGET_GROUP_ATTRS = ["displayName", "externalId", "members"]


class SchemaError(ValueError):
    """A schema body the job cannot use; the message names the place and what to send."""


def _attr_def(name: str, *, anchor: bool = False, kind: str = "String", multi: bool = False,
              required: bool = False) -> dict[str, Any]:
    ref = []
    if kind == "Reference":
        ref = [{"referencedObjectName": "User" if name != "members" else "Group", "referencedProperty": None}]
    return {"anchor": anchor, "caseExact": False, "defaultValue": None, "flowNullValues": False, "metadata": [],
            "multivalued": multi, "mutability": "ReadWrite", "name": name, "referencedObjects": ref,
            "required": required, "type": "Boolean" if name in ("active", "accountEnabled", "IsSoftDeleted")
            else kind}


def _object_def(name: str, attrs: list[str], anchor: str) -> dict[str, Any]:
    defs = [_attr_def(a, anchor=a == anchor, kind="Reference" if a in ("manager", "members",
                                                                          f"{ENTERPRISE}:manager") else "String",
                      multi=a in ("members", "roles"), required=a in ("userName", "displayName") and
                      name != "User" and name != "Group") for a in attrs]
    return {"attributes": defs, "metadata": [], "name": name, "supportedApis": []}


def directories() -> list[dict[str, Any]]:
    return [
        {"id": "66e4a8cc-1b7b-435e-95f8-f06cea133828", "name": SOURCE_DIR, "discoverabilities": "None",
         "discoveryDateTime": None, "readOnly": True, "version": None,
         "objects": [_object_def("User", SOURCE_USER_ATTRS, "objectId"),
                     _object_def("Group", SOURCE_GROUP_ATTRS, "objectId")]},
        {"id": "8ffa6169-f354-4751-9b77-9c00765be92d", "name": TARGET_DIR, "discoverabilities": "None",
         "discoveryDateTime": None, "readOnly": False, "version": None,
         "objects": [_object_def(TARGET_USER, TARGET_USER_ATTRS, "userName"),
                     _object_def(TARGET_GROUP, TARGET_GROUP_ATTRS, "displayName")]},
    ]


def mapping(target: str, source: str, matching: int = 0, flow: str = "Always") -> dict[str, Any]:
    src = ex.normalise({"expression": source}, target)
    return {"defaultValue": None, "exportMissingReferences": False, "flowBehavior": "FlowWhenChanged",
            "flowType": flow, "matchingPriority": matching, "source": src, "targetAttributeName": target}


def guide_user_mappings() -> list[dict[str, Any]]:
    return [mapping(EMAIL, "[mail]", 1), mapping("userName", "[userPrincipalName]", 2),
            mapping("active", ACTIVE_EXPRESSION), mapping("name.givenName", "[givenName]"),
            mapping("name.familyName", "[surname]"), mapping("externalId", "[objectId]")]


def template_user_mappings() -> list[dict[str, Any]]:
    return [mapping("userName", "[userPrincipalName]", 1), mapping("active", ACTIVE_EXPRESSION),
            mapping("displayName", "[displayName]"), mapping("title", "[jobTitle]"), mapping(EMAIL, "[mail]"),
            mapping("preferredLanguage", "[preferredLanguage]"), mapping("name.givenName", "[givenName]"),
            mapping("name.familyName", "[surname]"),
            mapping("name.formatted", 'Join(" ", [givenName], [surname])'),
            mapping("externalId", "[mailNickname]"), mapping(f"{ENTERPRISE}:employeeNumber", "[employeeId]"),
            mapping(f"{ENTERPRISE}:department", "[department]"), mapping(f"{ENTERPRISE}:manager", "[manager]")]


def group_mappings(template: bool) -> list[dict[str, Any]]:
    return [mapping("displayName", "[displayName]", 1),
            mapping("externalId", "[mailNickname]" if template else "[objectId]"), mapping("members", "[members]")]


def default_schema(seed: int, job_id: str, template: bool = False) -> dict[str, Any]:
    rule_id = det_uuid(seed, "sync-rule") + "#V2"
    objects = [
        {"attributeMappings": template_user_mappings() if template else guide_user_mappings(), "enabled": True,
         "flowTypes": "Add, Update, Delete", "metadata": [], "name": USER_MAPPING_NAME, "scope": None,
         "sourceObjectName": "User", "targetObjectName": TARGET_USER},
        {"attributeMappings": group_mappings(template), "enabled": True, "flowTypes": "Add, Update, Delete",
         "metadata": [], "name": GROUP_MAPPING_NAME, "scope": None, "sourceObjectName": "Group",
         "targetObjectName": TARGET_GROUP},
    ]
    return {"id": "scim" if template else job_id, "version": "Date:1;Version:1",
            "directories": directories(),
            "synchronizationRules": [{"editable": True, "id": rule_id, "metadata": [],
                                      "name": "USER_GROUP_OUTBOUND", "objectMappings": objects, "priority": 1,
                                      "sourceDirectoryName": SOURCE_DIR, "targetDirectoryName": TARGET_DIR}]}


# ---------------------------------------------------------------------------------------------- validation
def _list(value: Any, where: str, *, empty: bool = True) -> list[Any]:
    if not isinstance(value, list) or (not empty and not value):
        raise SchemaError(f"{where} must be a {'non-empty ' if not empty else ''}list.")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SchemaError(f"{where} must be a non-empty string.")
    return value


def validate(body: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """A PUT body -> the canonical schema (sources structured, expressions regenerated). Raises SchemaError."""
    if not isinstance(body, dict):
        raise SchemaError("Send a synchronizationSchema object: {\"directories\": [...], \"synchronizationRules\": "
                          "[...]} (GET the schema, change it, PUT it back whole).")
    for key in ("directories", "synchronizationRules"):
        if key not in body:
            raise SchemaError(f"The schema has no {key}: a PUT replaces the whole schema, so send everything GET "
                              "returned, with your changes.")
    dirs: dict[str, dict[str, set[str]]] = {}
    for i, d in enumerate(_list(body["directories"], "directories", empty=False)):
        if not isinstance(d, dict):
            raise SchemaError(f"directories[{i}] must be a directoryDefinition object.")
        name = _name(d.get("name"), f"directories[{i}].name")
        if name in dirs:
            raise SchemaError(f"Two directories are named {name!r}: names must be unique.")
        objs: dict[str, set[str]] = {}
        for j, o in enumerate(_list(d.get("objects") or [], f"directories[{i}].objects")):
            if not isinstance(o, dict):
                raise SchemaError(f"directories[{i}].objects[{j}] must be an objectDefinition object.")
            attrs = _list(o.get("attributes") or [], f"directories[{i}].objects[{j}].attributes")
            objs[_name(o.get("name"), f"directories[{i}].objects[{j}].name")] = {
                _name(a.get("name") if isinstance(a, dict) else None,
                      f"directories[{i}].objects[{j}].attributes[].name") for a in attrs}
        dirs[name] = objs
    out = copy.deepcopy(body)
    out.pop("@odata.context", None)
    kinds: dict[str, int] = {}
    for r, rule in enumerate(_list(out["synchronizationRules"], "synchronizationRules", empty=False)):
        where = f"synchronizationRules[{r}]"
        if not isinstance(rule, dict):
            raise SchemaError(f"{where} must be a synchronizationRule object.")
        src = _name(rule.get("sourceDirectoryName"), f"{where}.sourceDirectoryName")
        tgt = _name(rule.get("targetDirectoryName"), f"{where}.targetDirectoryName")
        for label, value in (("sourceDirectoryName", src), ("targetDirectoryName", tgt)):
            if value not in dirs:
                raise SchemaError(f"{where}.{label} {value!r} is not one of the directories "
                                  f"({', '.join(sorted(dirs))}).")
        for m, om in enumerate(_list(rule.get("objectMappings"), f"{where}.objectMappings", empty=False)):
            kind = _object_mapping(om, f"{where}.objectMappings[{m}]", dirs[src], dirs[tgt])
            if kind:
                kinds[kind] = kinds.get(kind, 0) + 1
    if kinds.get("User", 0) != 1:
        raise SchemaError("The schema needs exactly one enabled object mapping with sourceObjectName \"User\" "
                          f"(found {kinds.get('User', 0)}).")
    version = int(str(previous.get("version", "Version:1")).rsplit(":", 1)[-1] or 1) + 1
    out["id"] = previous.get("id")
    out["version"] = f"Date:{version};Version:{version}"
    return out


def _object_mapping(om: Any, where: str, src: dict[str, set[str]], tgt: dict[str, set[str]]) -> str | None:
    if not isinstance(om, dict):
        raise SchemaError(f"{where} must be an objectMapping object.")
    source = _name(om.get("sourceObjectName"), f"{where}.sourceObjectName")
    target = _name(om.get("targetObjectName"), f"{where}.targetObjectName")
    if source not in src:
        raise SchemaError(f"{where}.sourceObjectName {source!r} is not an object of the source directory "
                          f"({', '.join(sorted(src))}).")
    if target not in tgt:
        raise SchemaError(f"{where}.targetObjectName {target!r} is not an object of the target directory "
                          f"({', '.join(sorted(tgt))}).")
    enabled = om.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SchemaError(f"{where}.enabled must be true or false.")
    maps = _list(om.get("attributeMappings"), f"{where}.attributeMappings")
    if len(maps) > MAX_MAPPINGS:
        raise SchemaError(f"{where} has {len(maps)} attribute mappings; at most {MAX_MAPPINGS}.")
    seen: set[str] = set()
    priorities: set[int] = set()
    for k, am in enumerate(maps):
        at = f"{where}.attributeMappings[{k}]"
        if not isinstance(am, dict):
            raise SchemaError(f"{at} must be an attributeMapping object.")
        name = _name(am.get("targetAttributeName"), f"{at}.targetAttributeName")
        at = f"{at} ({name})"
        if name not in tgt[target]:
            raise SchemaError(f"{at}: {name!r} is not an attribute of {target} in the target directory; add it to "
                              "the directory definition first.")
        if name in seen:
            raise SchemaError(f"{at}: {name!r} is mapped twice.")
        seen.add(name)
        try:
            am["source"] = ex.normalise(am.get("source"), at)
        except ex.ExpressionError as exc:
            raise SchemaError(str(exc)) from None
        unknown = ex.attributes_used(am["source"]) - src[source]
        if unknown:
            raise SchemaError(f"{at}: source attribute(s) {', '.join(sorted(unknown))} are not attributes of "
                              f"{source} in the source directory.")
        prio = am.setdefault("matchingPriority", 0)
        if isinstance(prio, bool) or not isinstance(prio, int) or not 0 <= prio <= 2**31 - 1:
            raise SchemaError(f"{at}.matchingPriority must be an integer, 0 (not matching) or more.")
        if prio and prio in priorities:
            raise SchemaError(f"{at}.matchingPriority {prio} is used twice; give each matching attribute its own.")
        if prio:
            priorities.add(prio)
        if am.setdefault("flowType", "Always") not in FLOW_TYPES:
            raise SchemaError(f"{at}.flowType must be one of {', '.join(sorted(FLOW_TYPES))}.")
        if am.setdefault("flowBehavior", "FlowWhenChanged") not in FLOW_BEHAVIORS:
            raise SchemaError(f"{at}.flowBehavior must be FlowWhenChanged or FlowAlways.")
        am.setdefault("exportMissingReferences", False)
        default = am.setdefault("defaultValue", None)
        if default is not None and not isinstance(default, str):
            raise SchemaError(f"{at}.defaultValue must be a string or null.")
    if enabled and source == "User" and not priorities:
        raise SchemaError(f"{where}: the user mapping needs at least one matching attribute "
                          "(matchingPriority 1 or more), e.g. emails[type eq \"work\"].value from mail.")
    return source if enabled else None


# ---------------------------------------------------------------------------------------------- compiled
@dataclass(frozen=True)
class UserMapping:
    """What the simulator sends for a user: (target attribute, source, create only) and the matching order."""

    attrs: tuple[tuple[str, dict[str, Any], bool, str | None], ...]
    matching: tuple[str, ...]

    def desired(self, row: Any, department_name: Any = None) -> dict[str, str | None]:
        def value(name: str) -> str | None:
            return source_value(row, name, department_name)
        out: dict[str, str | None] = {}
        for target, source, _add_only, default in self.attrs:
            v = ex.evaluate(source, value)
            out[target] = default if v is None and default is not None else v
        return out

    def add_only(self) -> set[str]:
        return {t for t, _s, add_only, _d in self.attrs if add_only}


def source_value(row: Any, name: str, department_name: Any = None) -> str | None:
    """One Entra source attribute of a ``src_users`` row, as the provisioning service reads it (strings)."""
    if name == "objectId":
        return row["object_id"]
    if name == "userPrincipalName":
        return row["upn"]
    if name == "mail":
        return row["mail"]
    if name == "mailNickname":
        return str(row["upn"]).split("@")[0]
    if name == "givenName":
        return row["given_name"]
    if name == "surname":
        return row["surname"]
    if name == "displayName":
        return row["display_name"]
    if name == "department":
        return department_name(row["department"]) if department_name and row["department"] else None
    if name == "accountEnabled":
        return "True"
    if name == "IsSoftDeleted":
        return "True" if row["soft_deleted"] else "False"
    return None


def compile_user(schema: dict[str, Any]) -> UserMapping:
    for rule in schema["synchronizationRules"]:
        for om in rule["objectMappings"]:
            if om.get("sourceObjectName") == "User" and om.get("enabled", True):
                attrs = tuple((am["targetAttributeName"], am["source"], am.get("flowType") == "ObjectAddOnly",
                               am.get("defaultValue")) for am in om["attributeMappings"]
                              if am["targetAttributeName"] != "roles")
                matching = tuple(am["targetAttributeName"] for am in sorted(
                    (a for a in om["attributeMappings"] if a.get("matchingPriority")),
                    key=lambda a: a["matchingPriority"]))
                return UserMapping(attrs, matching)
    raise SchemaError("The schema has no enabled User mapping.")


class SchemaStore:
    """The job's and the template's schema in ``entra.db`` (meta ``schema:job`` / ``schema:template``)."""

    def __init__(self, db: EntraDB, seed: int, job_id: str) -> None:
        self.db = db
        self.seed = seed
        self.job_id = job_id
        self._compiled: tuple[str, UserMapping] | None = None

    def get(self, template: bool = False) -> dict[str, Any]:
        key = "schema:template" if template else "schema:job"
        raw = self.db.get_meta(key)
        if raw is None:
            doc = default_schema(self.seed, self.job_id, template)
            self.db.set_json(key, doc)
            return doc
        return json.loads(raw)

    def put(self, body: Any, template: bool = False) -> dict[str, Any]:
        doc = validate(body, self.get(template))
        compile_user(doc)
        self.db.set_json("schema:template" if template else "schema:job", doc)
        return doc

    def user_mapping(self) -> UserMapping:
        raw = self.db.get_meta("schema:job") or ""
        if self._compiled is None or self._compiled[0] != raw:
            self._compiled = (raw, compile_user(self.get()))
        return self._compiled[1]
