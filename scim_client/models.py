"""Light typed records for SCIM users and groups, built straight from parsed JSON.

This is the hot path of a 100,000-user listing: plain slotted dataclasses, no validation library per user.
Parsing is tolerant of real-world servers: booleans as strings ("True", "false"), attribute names in another
case, missing optional attributes, extension schemas (kept in ``raw``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass(slots=True)
class ScimUser:
    id: str
    user_name: str | None
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    emails: list[dict[str, Any]] = field(default_factory=list)
    email: str | None = None
    active: bool = True
    external_id: str | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class ScimGroup:
    id: str
    display_name: str | None
    external_id: str | None = None
    member_ids: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class Listing(list, Generic[T]):
    """A list of records with what the server said about the listing."""

    total_results: int | None
    changed_during_listing: bool
    warnings: list[str]

    def __init__(
        self,
        items: Any = (),
        *,
        total_results: int | None = None,
        changed_during_listing: bool = False,
        warnings: list[str] | None = None,
    ) -> None:
        super().__init__(items)
        self.total_results = total_results
        self.changed_during_listing = changed_during_listing
        self.warnings = list(warnings or [])

    @property
    def complete(self) -> bool:
        """False when the server announced more records (totalResults) than it returned: do not treat the
        missing ones as deleted."""
        return self.total_results is None or len(self) >= self.total_results

    def __repr__(self) -> str:
        return (
            f"Listing(len={len(self)}, total_results={self.total_results}, "
            f"changed_during_listing={self.changed_during_listing}, warnings={self.warnings!r})"
        )


# ---------------------------------------------------------------------------------------------------------

_TRUE = frozenset({"true", "1", "yes", "y", "t", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "off", ""})


def to_bool(value: Any, default: bool = True) -> bool:
    """SCIM booleans as servers really send them: true, "True", "false", 1, 0, None."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return default


def to_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T"))
        except ValueError:
            return None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value)


def _ci(d: dict[str, Any]) -> dict[str, Any]:
    """The same dict with lower-cased keys (SCIM attribute names are case-insensitive)."""
    return {k.lower() if isinstance(k, str) else k: v for k, v in d.items()}


def primary_email(emails: list[Any]) -> str | None:
    """The primary e-mail, else the work one, else the first."""
    first = work = None
    for e in emails:
        if not isinstance(e, dict):
            if isinstance(e, str) and first is None:
                first = e
            continue
        value = e.get("value")
        if value is None:
            continue
        if to_bool(e.get("primary"), False):
            return _str(value)
        if work is None and str(e.get("type", "")).lower() == "work":
            work = _str(value)
        if first is None:
            first = _str(value)
    return work or first


def parse_user(d: dict[str, Any]) -> ScimUser:
    if "userName" in d and "id" in d:
        src = d
        name = d.get("name")
        emails = d.get("emails")
        meta = d.get("meta")
        user_name = d["userName"]
        display_name = d.get("displayName")
        active = d.get("active")
        external_id = d.get("externalId")
        uid = d["id"]
    else:  # unusual casing or missing attributes: the slow, tolerant path
        src = _ci(d)
        name = src.get("name")
        emails = src.get("emails")
        meta = src.get("meta")
        user_name = src.get("username")
        display_name = src.get("displayname")
        active = src.get("active")
        external_id = src.get("externalid")
        uid = src.get("id")
    if isinstance(name, dict):
        if "givenName" in name or "familyName" in name:
            given, family = name.get("givenName"), name.get("familyName")
        else:
            low = _ci(name)
            given, family = low.get("givenname"), low.get("familyname")
    else:
        given = family = None
    if not isinstance(emails, list):
        emails = [] if emails is None else [emails] if isinstance(emails, dict) else []
    if isinstance(meta, dict):
        created = meta.get("created")
        modified = meta.get("lastModified")
        if created is None and modified is None and meta:
            low = _ci(meta)
            created, modified = low.get("created"), low.get("lastmodified")
    else:
        meta = {}
        created = modified = None
    return ScimUser(
        id=_str(uid) or "",
        user_name=_str(user_name),
        display_name=_str(display_name),
        given_name=_str(given),
        family_name=_str(family),
        emails=emails,
        email=primary_email(emails) if emails else None,
        active=active if type(active) is bool else to_bool(active, True),
        external_id=_str(external_id),
        created=to_datetime(created),
        last_modified=to_datetime(modified),
        meta=meta,
        raw=d,
    )


def parse_group(d: dict[str, Any], members_requested: bool = True) -> ScimGroup:
    """A group; ``member_ids`` is [] when members were asked for but absent (servers omit empty lists)."""
    if "id" in d and "displayName" in d:
        uid, display_name, external_id = d["id"], d["displayName"], d.get("externalId")
        members = d.get("members") if "members" in d else d.get("Members", _MISSING)
        meta = d.get("meta")
    else:
        low = _ci(d)
        uid, display_name, external_id = low.get("id"), low.get("displayname"), low.get("externalid")
        members = low.get("members", _MISSING)
        meta = low.get("meta")
    member_ids: list[str] | None
    if members is _MISSING:
        member_ids = [] if members_requested else None
    elif members is None:
        member_ids = []
    else:
        member_ids = []
        for m in members if isinstance(members, list) else [members]:
            if isinstance(m, dict):
                value = m.get("value")
                if value is None:
                    value = _ci(m).get("value")
                if value is not None:
                    member_ids.append(str(value))
            elif isinstance(m, str | int):
                member_ids.append(str(m))
    return ScimGroup(
        id=_str(uid) or "",
        display_name=_str(display_name),
        external_id=_str(external_id),
        member_ids=member_ids,
        meta=meta if isinstance(meta, dict) else {},
        raw=d,
    )


_MISSING: Any = object()
