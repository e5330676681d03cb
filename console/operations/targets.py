"""Who an operation is about: reading a CSV of people, and resolving identifiers against the directory.

The directory is the latest snapshot (fast: dictionary look-ups, 10,000 rows in milliseconds) or, when there
is no snapshot yet, a live listing of users and groups. Execution re-checks every item live anyway.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.errors import InvalidInput

HEADER_NAMES = {
    "username", "user name", "user", "login", "upn", "userprincipalname", "user principal name",
    "email", "e-mail", "mail", "emailaddress", "email address", "e-mail address", "work email", "id", "userid",
}


@dataclass
class CsvTargets:
    values: list[str]
    notes: list[str]
    encoding: str


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "UTF-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "UTF-8 with BOM"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1"


def read_csv_targets(source: bytes | str | Path, *, name: str = "the CSV file") -> CsvTargets:
    """Read userNames or e-mails, one per row. A header row is optional (recognised by its name); with several
    columns, the userName/e-mail column is used. BOM, UTF-8, UTF-16 and Latin-1 files are accepted. Duplicate
    rows (case-insensitive) are collapsed, with a note saying how many."""
    if isinstance(source, Path):
        name = str(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"Cannot read {name}: {exc.strerror or exc}.",
                               "Check the path and that the file is readable.") from None
    elif isinstance(source, str):
        data = source.encode("utf-8")
    else:
        data = bytes(source)
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput(f"{name} does not look like a text CSV file.",
                           "Export the list as CSV (one userName or e-mail per row) and upload that.")
    text, encoding = _decode(data)
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t") if ("," in sample or ";" in sample
                                                                         or "\t" in sample) else csv.excel
    except csv.Error:
        dialect = csv.excel
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), dialect)]
    rows = [r for r in rows if any(r)]
    notes: list[str] = []
    if not rows:
        raise InvalidInput(f"{name} has no rows.", "Put one userName or e-mail per row (a header is optional).")
    column = 0
    first = [c.lower().strip().strip('"') for c in rows[0]]
    if any(c in HEADER_NAMES for c in first):
        preferred = ["username", "user name", "userprincipalname", "user principal name", "upn", "login",
                     "email", "e-mail", "mail", "work email", "email address", "e-mail address", "emailaddress",
                     "user", "id", "userid"]
        for wanted in preferred:
            if wanted in first:
                column = first.index(wanted)
                break
        notes.append(f"Header row found; using column “{rows[0][column]}”.")
        rows = rows[1:]
    elif len(rows[0]) > 1:
        # No header: use the first column that looks like an identifier on the first row.
        for idx, cell in enumerate(rows[0]):
            if "@" in cell:
                column = idx
                break
    values: list[str] = []
    seen: set[str] = set()
    duplicates = 0
    blank = 0
    for row in rows:
        value = row[column].strip().strip('"') if column < len(row) else ""
        if not value:
            blank += 1
            continue
        key = value.casefold()
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        values.append(value)
    if encoding not in ("UTF-8",):
        notes.append(f"Read as {encoding}.")
    if duplicates:
        notes.append(f"{duplicates} duplicate row{'s' if duplicates != 1 else ''} collapsed (each person is "
                     "changed once).")
    if blank:
        notes.append(f"{blank} row{'s' if blank != 1 else ''} without a value in that column ignored.")
    if not values:
        raise InvalidInput(f"{name} has no userNames or e-mails in it.",
                           "Put one userName or e-mail per row (a header is optional).")
    return CsvTargets(values=values, notes=notes, encoding=encoding)


@dataclass(slots=True)
class DirUser:
    id: str
    user_name: str | None
    email: str | None
    display_name: str | None
    active: bool
    external_id: str | None
    groups: set[str] = field(default_factory=set)


@dataclass(slots=True)
class DirGroup:
    id: str
    display_name: str
    kind: str          # group|role
    external_id: str | None
    members: set[str] = field(default_factory=set)


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    text = str(value).strip()
    return text or None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    if value is None:
        return False
    try:
        if isinstance(value, float) and math.isnan(value):
            return False
    except TypeError:
        pass
    return bool(value)


class Directory:
    """Users, groups and memberships indexed for resolution and preview."""

    def __init__(self, *, source: str, taken_at: datetime | None, snapshot_id: str | None = None) -> None:
        self.source = source
        self.taken_at = taken_at
        self.snapshot_id = snapshot_id
        self.overlaid = 0          # console changes applied on top of the snapshot (see overlay_journal)
        self.users: dict[str, DirUser] = {}
        self.groups: dict[str, DirGroup] = {}
        self._by_name: dict[str, str] = {}
        self._by_email: dict[str, list[str]] = {}
        self._groups_by_name: dict[str, list[str]] = {}

    # -- building -------------------------------------------------------------------------------------------
    def add_user(self, user: DirUser) -> None:
        self.users[user.id] = user
        if user.user_name:
            self._by_name[user.user_name.casefold()] = user.id
        if user.email:
            self._by_email.setdefault(user.email.casefold(), []).append(user.id)

    def add_group(self, group: DirGroup) -> None:
        self.groups[group.id] = group
        self._groups_by_name.setdefault(group.display_name.casefold(), []).append(group.id)

    def add_membership(self, group_id: str, user_id: str) -> None:
        group = self.groups.get(group_id)
        if group is not None:
            group.members.add(user_id)
        user = self.users.get(user_id)
        if user is not None:
            user.groups.add(group_id)

    @classmethod
    def from_snapshot(cls, snap: Any) -> Directory:
        taken = getattr(snap, "taken_at", None)
        directory = cls(source="snapshot", taken_at=taken, snapshot_id=str(getattr(snap, "id", "")) or None)
        users = snap.users
        cols = set(users.columns)
        for row in users.to_dict("records"):
            uid = _clean(row.get("id"))
            if not uid:
                continue
            directory.add_user(DirUser(
                id=uid,
                user_name=_clean(row.get("userName")),
                email=_clean(row.get("email")),
                display_name=_clean(row.get("displayName")) if "displayName" in cols else None,
                active=_truthy(row.get("active")),
                external_id=_clean(row.get("externalId")) if "externalId" in cols else None,
            ))
        for row in snap.groups.to_dict("records"):
            gid = _clean(row.get("id"))
            if not gid:
                continue
            directory.add_group(DirGroup(id=gid, display_name=_clean(row.get("displayName")) or gid,
                                         kind=_clean(row.get("kind")) or "group",
                                         external_id=_clean(row.get("externalId"))))
        memberships = snap.memberships
        if len(memberships):
            for gid, uid in zip(memberships["group_id"].tolist(), memberships["user_id"].tolist(), strict=True):
                directory.add_membership(str(gid), str(uid))
        return directory

    @classmethod
    def from_live(cls, client: Any, conn: Any) -> Directory:
        directory = cls(source="live", taken_at=datetime.now(UTC))
        for u in client.list_users():
            directory.add_user(DirUser(id=u.id, user_name=u.user_name, email=u.email,
                                       display_name=u.display_name, active=bool(u.active),
                                       external_id=u.external_id))
        for g in client.list_groups(members=True):
            kind = "role" if _is_role(conn, g.display_name) else "group"
            directory.add_group(DirGroup(id=g.id, display_name=g.display_name or g.id, kind=kind,
                                         external_id=g.external_id))
            for uid in g.member_ids or []:
                directory.add_membership(g.id, uid)
        return directory

    # -- resolution -----------------------------------------------------------------------------------------
    def resolve_user(self, value: str) -> tuple[DirUser | None, str | None]:
        """(user, None) or (None, why): by id, then userName, then e-mail (all case-insensitive but id)."""
        value = value.strip()
        if value in self.users:
            return self.users[value], None
        key = value.casefold()
        uid = self._by_name.get(key)
        if uid:
            return self.users[uid], None
        ids = self._by_email.get(key, [])
        if len(ids) == 1:
            return self.users[ids[0]], None
        if len(ids) > 1:
            names = ", ".join(sorted(self.users[i].user_name or i for i in ids)[:3])
            return None, f"the e-mail matches {len(ids)} users ({names}); use the userName instead"
        return None, "not found in 6clicks"

    def resolve_group(self, value: str, *, role: str = "group") -> DirGroup:
        value = (value or "").strip()
        if not value:
            raise InvalidInput(f"No {role} given.", f"Name the {role} by its display name or id.")
        if value in self.groups:
            return self.groups[value]
        ids = self._groups_by_name.get(value.casefold(), [])
        if len(ids) == 1:
            return self.groups[ids[0]]
        if len(ids) > 1:
            raise InvalidInput(f"“{value}” matches {len(ids)} groups/roles ({', '.join(ids[:4])}).",
                               "Name it by its id instead (see the Groups & roles page or the snapshot).")
        where = ("the latest snapshot" if self.source == "snapshot" else "6clicks")
        raise InvalidInput(f"The group or role “{value}” does not exist in {where}; it may have been deleted "
                           "or renamed.", "Refresh the directory (take a snapshot) and pick an existing group "
                                          "or role by its display name or id.")


def _is_role(conn: Any, name: str | None) -> bool:
    checker = getattr(conn, "is_role", None)
    if callable(checker):
        try:
            return bool(checker(name or ""))
        except Exception:  # a bad rule must not break an operation preview
            return False
    return (name or "").startswith("Role - ")
