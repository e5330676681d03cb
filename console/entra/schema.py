"""The provisioning job's synchronization schema (``GET .../jobs/{jobId}/schema``): what it maps, its rule id
(provision on demand needs it), and the comparison with the guide's attribute-mapping table.

The schema is read as hostile data: anything not shaped like Graph's ``synchronizationSchema`` is skipped and
counted, strings are bounded, and the number of rules and mappings read is capped. A leaf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from console.i18n import N_, _, count, pgettext

Status = Literal["ok", "warning", "failure"]

EMAIL = 'emails[type eq "work"].value'
ACTIVE = 'Switch([IsSoftDeleted], , "False", "True", "True", "False")'
MAX_RULES, MAX_OBJECT_MAPPINGS, MAX_ATTRIBUTE_MAPPINGS, MAX_TEXT = 20, 50, 500, 500


@dataclass(frozen=True)
class MappingRow:
    """One line of the side-by-side mapping table."""

    object: str        # "User" / "Group"
    target: str        # the 6clicks (SCIM) attribute
    expected: str      # the guide's source, with its matching precedence ("" when the guide has no such line)
    found: str         # what the job's schema maps ("" when absent)
    verdict: Status
    note: str = ""     # what differs from the guide
    info: str = ""     # how 6clicks treats the attribute (e.g. updates never applied)


@dataclass(frozen=True)
class Expected:
    target: str
    source: str          # an attribute name ("mail") or a whole expression (the Switch)
    matching: int = 0    # matching precedence; 0 = not used for matching


# The guide's tables (reference/6clicks.md, "Entra attribute mappings the guide prescribes")
GUIDE_USERS = (Expected(EMAIL, "mail", 1), Expected("userName", "userPrincipalName", 2),
               Expected("active", ACTIVE), Expected("name.givenName", "givenName"),
               Expected("name.familyName", "surname"), Expected("externalId", "objectId"))
GUIDE_GROUPS = (Expected("displayName", "displayName", 1), Expected("externalId", "objectId"),
                Expected("members", "members"))
# 6clicks keeps the value it was created with: updates in Entra never arrive (the guide says so)
NOT_UPDATABLE = {EMAIL: N_("6clicks keeps the e-mail it was created with; later changes in Entra do not arrive"),
                 "userName": N_("6clicks keeps the userName it was created with; later changes in Entra do not "
                                "arrive")}


@dataclass(frozen=True)
class Found:
    target: str
    source: str
    matching: int


@dataclass
class ObjectMapping:
    name: str
    enabled: bool
    mappings: list[Found]


@dataclass
class SchemaView:
    """The parts of a synchronization schema the check needs. ``skipped`` counts entries that were not shaped
    like Graph's and were left out."""

    users: ObjectMapping | None
    groups: ObjectMapping | None
    rule_id: str | None
    skipped: int = 0


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def _source(source: Any) -> str:
    """An attributeMappingSource as one comparable string: the attribute name for ``Attribute``, the whole
    expression for anything else (functions, constants)."""
    if not isinstance(source, dict):
        return ""
    kind = _text(source.get("type"))
    name = _text(source.get("name"))
    expression = _text(source.get("expression"))
    if kind == "Attribute" and name:
        return name
    if expression:
        inner = re.fullmatch(r"\s*\[([^\[\]]+)\]\s*", expression)
        return inner.group(1).strip() if inner else expression.strip()
    return name


def _normal(text: str) -> str:
    """Whitespace outside double quotes removed, so ``Switch([a], , "x")`` equals ``Switch([a],,"x")``;
    attribute names compare case-insensitively as Entra does, quoted values exactly."""
    parts = re.split(r'("[^"]*")', text)
    return "".join(p if p.startswith('"') else re.sub(r"\s+", "", p).casefold() for p in parts)


def read_schema(schema: Any) -> SchemaView:
    view = SchemaView(None, None, None)
    rules = schema.get("synchronizationRules") if isinstance(schema, dict) else None
    if not isinstance(rules, list):
        return view
    for rule in rules[:MAX_RULES]:
        if not isinstance(rule, dict) or not isinstance(rule.get("objectMappings"), list):
            view.skipped += 1
            continue
        for om in rule["objectMappings"][:MAX_OBJECT_MAPPINGS]:
            if not isinstance(om, dict) or not isinstance(om.get("attributeMappings"), list):
                view.skipped += 1
                continue
            found: list[Found] = []
            for am in om["attributeMappings"][:MAX_ATTRIBUTE_MAPPINGS]:
                target = _text(am.get("targetAttributeName")) if isinstance(am, dict) else ""
                if not target:
                    view.skipped += 1
                    continue
                priority = am.get("matchingPriority")
                found.append(Found(target, _source(am.get("source")),
                                   priority if isinstance(priority, int) and not isinstance(priority, bool) else 0))
            mapping = ObjectMapping(_text(om.get("name")), om.get("enabled") is not False, found)
            kind = _text(om.get("sourceObjectName"))
            if kind == "User" and (view.users is None or (mapping.enabled and not view.users.enabled)):
                view.users, view.rule_id = mapping, _text(rule.get("id")) or view.rule_id
            elif kind == "Group" and (view.groups is None or (mapping.enabled and not view.groups.enabled)):
                view.groups = mapping
    return view


def _describe(source: str, matching: int) -> str:
    if not source:
        return ""
    return _("{source} (matching precedence {n})").format(source=source, n=matching) if matching else source


def _precedence(matching: int) -> str:
    return str(matching) if matching else pgettext("matching precedence", "none")


def compare(kind: str, expected: tuple[Expected, ...], mapping: ObjectMapping | None) -> list[MappingRow]:
    """The side-by-side rows for one object type: every line of the guide, then every extra mapping. Notes and
    descriptions are in the current language; targets, sources and verdicts are identifiers."""
    if mapping is None:
        return [MappingRow(kind, e.target, _describe(e.source, e.matching), "", "failure",
                           _("the job's schema has no mapping for this object type")) for e in expected]
    by_target: dict[str, list[Found]] = {}
    for f in mapping.mappings:
        by_target.setdefault(f.target.casefold(), []).append(f)
    rows: list[MappingRow] = []
    for e in expected:
        founds = by_target.pop(e.target.casefold(), [])
        want = _describe(e.source, e.matching)
        if not founds:
            rows.append(MappingRow(kind, e.target, want, "", "failure", _("missing: Entra does not send it")))
            continue
        f = founds[0]
        got = _describe(f.source, f.matching)
        status: Status = "ok"
        notes: list[str] = []
        if _normal(f.source) != _normal(e.source):
            status = "failure"
            notes.append(_("Entra sends {found} where the guide maps {expected}").format(
                found=f.source, expected=e.source) if f.source else
                _("Entra sends nothing where the guide maps {expected}").format(expected=e.source))
        if f.matching != e.matching:
            status = "failure"
            found_p, expected_p = _precedence(f.matching), _precedence(e.matching)
            notes.append(_("matching precedence {found}, the guide says {expected}: users are matched first by "
                           "work e-mail, then by userName").format(found=found_p, expected=expected_p)
                         if kind == "User" else
                         _("matching precedence {found}, the guide says {expected}").format(found=found_p,
                                                                                         expected=expected_p))
        if len(founds) > 1:
            status = "failure"
            notes.append(count(len(founds), "mapped {n} time", "mapped {n} times"))
        info = _(NOT_UPDATABLE[e.target]) if e.target in NOT_UPDATABLE else ""
        rows.append(MappingRow(kind, e.target, want, got, status, "; ".join(notes), info))
    for founds in by_target.values():
        for f in founds:
            rows.append(MappingRow(kind, f.target, "", _describe(f.source, f.matching), "warning",
                                   _("not in the guide: 6clicks does not use it, and a stricter 6clicks could "
                                     "refuse whole creates for it")))
    if not mapping.enabled:
        rows.insert(0, MappingRow(kind, _("(the whole mapping)"), pgettext("mapping", "enabled"),
                                  pgettext("mapping", "disabled"), "failure",
                                  _("users are not provisioned at all") if kind == "User"
                                  else _("groups are not provisioned at all")))
    return rows


def worst(rows: list[MappingRow]) -> Status:
    if any(r.verdict == "failure" for r in rows):
        return "failure"
    if any(r.verdict == "warning" for r in rows):
        return "warning"
    return "ok"
