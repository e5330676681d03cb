"""Provision on demand: ask Entra to provision one user (or one group with the members named) now, and read its
answer as plain words.

Graph answers ``{"key": ..., "value": "<JSON string>"}``; the string describes the steps (import, scope, match,
action) and the result. It is read as hostile data: bounded in size, only known shapes used, every text cut to a
readable length. Errors get the same explanations as the provisioning logs (``console.entra.catalogue``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from console.connections import Connection
from console.context import Context
from console.entra.catalogue import explain_error
from console.entra.schema import read_schema
from console.errors import InvalidInput
from console.graph import GraphClient, GraphError
from console.i18n import _, fmt_number, ngettext

MAX_VALUE = 256 * 1024
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAX_STEPS = 20
MAX_TEXT = 500
MAX_GROUP_MEMBERS = 5   # Entra's limit for a group provisioned on demand


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    description: str


@dataclass
class OnDemandResult:
    """``outcome``: success / skipped / failure / unknown. ``explanation`` and ``fix`` come from the error
    catalogue when Entra named an error code."""

    object_id: str
    object_type: str
    outcome: str
    action: str = ""
    steps: list[Step] = field(default_factory=list)
    error_code: str = ""
    reason: str = ""
    explanation: str = ""
    fix: str = ""
    changed: list[str] = field(default_factory=list)   # "attribute: old -> new"

    def summary(self) -> str:
        """The result in one or two sentences, in the current language (Entra's action and reason as they are)."""
        words = {"success": _("Entra provisioned it"), "skipped": _("Entra skipped it"),
                 "failure": _("Entra could not provision it"), "unknown": _("Entra's answer gave no result")}
        outcome = words.get(self.outcome, self.outcome)
        if self.action.lower() in ("", "other"):
            text = _("{outcome}.").format(outcome=outcome)
        else:
            text = _("{outcome} ({action}).").format(outcome=outcome, action=self.action)
        if self.reason:  # Entra's own words, after the console's sentence
            # Translators: the result sentence, then Entra's reason (Japanese needs no space after 。)
            text = _("{result} {reason}").format(result=text, reason=self.reason)
        return text


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return " ".join(str(value).split())[:limit]


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_answer(answer: Any, object_id: str, object_type: str) -> OnDemandResult:
    """Graph's answer -> ``OnDemandResult``; anything unreadable gives outcome "unknown" and says so."""
    value = _obj(answer).get("value")
    if isinstance(value, str):
        if len(value) > MAX_VALUE:
            return OnDemandResult(object_id, object_type, "unknown",
                                  reason=_("Entra's answer was larger than {size} KiB and was not read.").format(
                                      size=MAX_VALUE // 1024))
        try:
            value = json.loads(value)
        except ValueError:
            return OnDemandResult(object_id, object_type, "unknown",
                                  reason=_("Entra's answer was not readable JSON."))
    body = _obj(value)
    steps = []
    raw_steps = body.get("provisioningSteps")
    for s in (raw_steps if isinstance(raw_steps, list) else [])[:MAX_STEPS]:
        s = _obj(s)
        name = _text(s.get("name") or s.get("provisioningStepType"), 80)
        if name:
            steps.append(Step(name, _text(s.get("status"), 40), _text(s.get("description"))))
    info = _obj(body.get("statusInfo") or body.get("provisioningStatusInfo"))
    status = _text(info.get("status"), 40).lower()
    error = _obj(info.get("errorInformation"))
    code = _text(error.get("errorCode"), 120)
    reason = _text(error.get("reason")) or _text(_obj(body.get("details")).get("SkipDetail"))
    outcome = {"success": "success", "skipped": "skipped", "failure": "failure", "warning": "failure"}.get(
        status, "failure" if code else "unknown")
    explanation = fix = ""
    if code:
        explanation, fix = explain_error(code)
    changed = []
    props = body.get("modifiedProperties")
    for p in (props if isinstance(props, list) else [])[:50]:
        p = _obj(p)
        name = _text(p.get("displayName"), 120)
        if name:
            none = _("(none)")
            changed.append(f"{name}: {_text(p.get('oldValue'), 120) or none} -> "
                           f"{_text(p.get('newValue'), 120) or none}")
    return OnDemandResult(object_id, object_type, outcome, _text(body.get("provisioningAction"), 40), steps, code,
                          reason, explanation, fix, changed)


def provision_on_demand(ctx: Context, conn: Connection, object_id: str, *, object_type: str = "User",
                        members: list[str] | None = None, rule_id: str | None = None,
                        graph: GraphClient | None = None) -> OnDemandResult:
    """Provision one Entra user or group now. ``object_id`` is Entra's object id (a 6clicks user's
    ``externalId`` under the guide's mapping). Raises GraphError (with its remedy) when Graph refuses."""
    object_id = (object_id or "").strip()
    if not GUID.fullmatch(object_id):
        raise InvalidInput(_("{value} is not an Entra object id.").format(value=repr(object_id[:100])),
                           _("Give the user's or group's Object ID from Entra (a GUID; for a provisioned 6clicks "
                             "user it is their externalId)."))
    if object_type not in ("User", "Group"):
        raise InvalidInput(_("Object type {value} cannot be provisioned on demand.").format(value=repr(object_type)),
                           _("Use User or Group."))
    members = [m.strip() for m in (members or []) if m.strip()]
    bad = [m for m in members if not GUID.fullmatch(m)]
    if bad:
        raise InvalidInput(_("{value} is not an Entra object id.").format(value=repr(bad[0][:100])),
                           _("Name members by their Object ID (a GUID)."))
    if len(members) > MAX_GROUP_MEMBERS:
        raise InvalidInput(ngettext("{n} member was named; Entra provisions at most {most} with a group on demand.",
                                    "{n} members were named; Entra provisions at most {most} with a group on "
                                    "demand.", len(members)).format(n=fmt_number(len(members)),
                                                                    most=MAX_GROUP_MEMBERS),
                           _("Name up to {most} members, or wait for the next cycle.").format(most=MAX_GROUP_MEMBERS))
    client = graph or GraphClient.for_connection(ctx, conn)
    try:
        if rule_id is None:
            rule_id = read_schema(client.get_schema()).rule_id or ""
        try:
            answer = client.provision_on_demand(object_id, rule_id=rule_id, object_type=object_type,
                                                members=members)
        except GraphError as exc:
            if exc.status == 404:
                raise GraphError(_not_found(object_type, object_id, bool(members)),
                                 _("Copy the Object ID from Microsoft Entra ID > Users > the user > Overview; a "
                                   "provisioned 6clicks user's externalId is it.") if object_type == "User" else
                                 _("Copy the Object ID from Microsoft Entra ID > Groups > the group > Overview."),
                                 code=exc.code, status=404) from None
            raise
    finally:
        if graph is None:
            client.close()
    return read_answer(answer, object_id, object_type)


def _not_found(object_type: str, object_id: str, members: bool) -> str:
    if object_type == "User":
        return _("Entra has no user with the object id {id}.").format(id=object_id)
    if members:
        return _("Entra has no group with the object id {id} (or one of the members named is not in it).").format(
            id=object_id)
    return _("Entra has no group with the object id {id}.").format(id=object_id)
