"""Who an operation is about: reading a CSV of people, and resolving identifiers against the directory.

The directory is the latest snapshot (fast: dictionary look-ups, 10,000 rows in milliseconds) or, when there
is no snapshot yet, a live listing of users and groups. Execution re-checks every item live anyway.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from console.connections import Connection
from console.context import Context
from console.csvsafe import restore
from console.directory.people import display_label, display_labels
from console.directory.roles import role_matcher
from console.directory.store import Snapshot
from console.errors import InvalidInput
from console.i18n import N_, _
from console.operations.wording import TEXT, english
from console.uploads import line_list, read_table
from scim_client import ScimClient

HEADER_NAMES = {
    "username", "user name", "user", "login", "upn", "userprincipalname", "user principal name",
    "email", "e-mail", "mail", "emailaddress", "email address", "e-mail address", "work email", "id", "userid",
}


@dataclass
class CsvTargets:
    values: list[str]
    notes: list[str]
    encoding: str


_REMEDY = N_("Save the list as CSV UTF-8 (one userName or e-mail per row, a header is optional) and upload that.")
# notes about a list, as the journal stores them with the preview (``wording.shown`` translates them)
HEADER_FOUND = TEXT.one(N_("Header row found; using column “{column}”."))
READ_AS = TEXT.one(N_("Read as {encoding}."))
DUPLICATE_ROWS = TEXT.ngettext("{n} duplicate row collapsed (each person is changed once).",
                               "{n} duplicate rows collapsed (each person is changed once).")
BLANK_ROWS = TEXT.ngettext("{n} row without a value in that column ignored.",
                           "{n} rows without a value in that column ignored.")
EMAIL_AMBIGUOUS = TEXT.one(N_("the e-mail matches {n} users ({names}); use the userName instead"))
NOT_FOUND = TEXT.one(N_("not found in 6clicks"))


def read_csv_targets(source: bytes | str | Path, *, name: str | None = None) -> CsvTargets:
    """Read userNames or e-mails, one per row. A header row is optional (recognised by its name); with several
    columns, the userName/e-mail column is used. The file is read by ``console.uploads`` (UTF-8 with or without
    BOM, UTF-16/32, Shift_JIS, Windows-1252, Latin-1; ``,`` ``;`` tab ``|``; Excel's quirks). A row or line that
    cannot be read refuses the whole list, with its line number: an operation must not silently miss someone.
    Duplicate rows (case-insensitive) are collapsed, with a note saying how many."""
    name = name or _("the CSV file")
    remedy = _(_REMEDY)
    if isinstance(source, Path):
        name = str(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise InvalidInput(_("Cannot read {name}: {problem}.").format(name=name, problem=exc.strerror or exc),
                               _("Check the path and that the file is readable.")) from None
    elif isinstance(source, str):
        data = source.encode("utf-8")
    else:
        data = bytes(source)
    table = read_table(data, name=name, remedy=remedy)
    encoding = table.encoding
    if table.problems:
        shown = "; ".join(_("line {line}: {problem}").format(line=line, problem=why)
                          for line, why in table.problems[:5])
        if len(table.problems) > 5:
            message = _("{name} has rows that cannot be read: {problems} (and {more} more).").format(
                name=name, problems=shown, more=len(table.problems) - 5)
        else:
            message = _("{name} has rows that cannot be read: {problems}.").format(name=name, problems=shown)
        raise InvalidInput(message, _("Fix those lines (or save the list again from Excel as CSV UTF-8) and upload it "
                                      "again; nothing was changed."))
    if table.bad_lines:
        raise InvalidInput(_("{name} holds bytes that are not valid {encoding} on {lines}; the people named there "
                             "cannot be read exactly.").format(name=name, encoding=table.encoding,
                                                               lines=line_list(table.bad_lines)), remedy)
    rows = [[restore(c.strip()) for c in row] for row in table.rows]
    rows = [r for r in rows if any(r)]
    notes: list[str] = []
    if not rows:
        raise InvalidInput(_("{name} has no rows.").format(name=name),
                           _("Put one userName or e-mail per row (a header is optional)."))
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
        notes.append(english(HEADER_FOUND, column=rows[0][column]))
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
    if encoding != "UTF-8":
        notes.append(english(READ_AS, encoding=encoding))
    notes.extend(table.notes)
    if duplicates:
        notes.append(english(DUPLICATE_ROWS, n=duplicates))
    if blank:
        notes.append(english(BLANK_ROWS, n=blank))
    if not values:
        raise InvalidInput(_("{name} has no userNames or e-mails in it.").format(name=name),
                           _("Put one userName or e-mail per row (a header is optional)."))
    return CsvTargets(values=values, notes=notes, encoding=encoding)


@dataclass(slots=True)
class DirUser:
    id: str
    user_name: str | None
    email: str | None
    display_name: str | None  # the display label of console.directory.people (displayName is often absent)
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
    if value is pd.NA or value is pd.NaT:
        return None
    text = str(value).strip()
    return text or None


def _column(frame: pd.DataFrame, name: str, n: int) -> list[str | None]:
    """A frame's column as stripped strings, None for missing or empty values (all-None if absent)."""
    if name not in frame.columns:
        return [None] * n
    series = frame[name]
    values = series.astype(object).where(series.notna(), None).tolist()
    return [(str(v).strip() or None) if v is not None else None for v in values]


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
        self._by_email: dict[str, Any] = {}      # e-mail -> id, or a list of ids when shared
        self._groups_by_name: dict[str, list[str]] = {}

    # -- building -------------------------------------------------------------------------------------------
    def add_user(self, user: DirUser) -> None:
        self.users[user.id] = user
        if user.user_name:
            self._by_name[user.user_name.casefold()] = user.id
        if user.email:
            key = user.email.casefold()
            prev = self._by_email.get(key)
            self._by_email[key] = user.id if prev is None else [
                *(prev if isinstance(prev, list) else [prev]), user.id]

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
    def from_snapshot(cls, snap: Snapshot) -> Directory:
        """Index a snapshot's frames (column-wise: ~1 s for 100,000 users on a slow machine). Roles are the
        groups the snapshot's ``kind`` column marks (the connection's role rule, applied when it was stored)."""
        directory = cls(source="snapshot", taken_at=snap.taken_at, snapshot_id=str(snap.id))
        users = snap.users
        n = len(users)
        ids = _column(users, "id", n)
        names = _column(users, "userName", n)
        emails = _column(users, "email", n)
        # the display label (displayName, else given + family name, ...): what previews and the journal show
        displays = [str(v) for v in display_labels(users).tolist()] if n else []
        externals = _column(users, "externalId", n)
        if "active" in users.columns:
            actives = [_truthy(v) for v in users["active"].astype(object).tolist()]
        else:
            actives = [False] * n
        # Bulk-built indexes (comprehensions: several times faster than add_user per row).
        directory.users = {uid: DirUser(uid, name, email, display, active, external, set())
                           for uid, name, email, display, active, external
                           in zip(ids, names, emails, displays, actives, externals, strict=True) if uid}
        directory._by_name = {name.casefold(): uid for uid, name in zip(ids, names, strict=True) if uid and name}
        by_email: dict[str, Any] = {}
        for uid, email in zip(ids, emails, strict=True):
            if uid and email:
                key = email.casefold()
                prev = by_email.get(key)
                by_email[key] = uid if prev is None else [*(prev if isinstance(prev, list) else [prev]), uid]
        directory._by_email = by_email
        groups = snap.groups
        m = len(groups)
        for gid, name, kind, external in zip(_column(groups, "id", m), _column(groups, "displayName", m),
                                             _column(groups, "kind", m), _column(groups, "externalId", m),
                                             strict=True):
            if gid:
                directory.add_group(DirGroup(gid, name or gid, kind or "group", external, set()))
        memberships = snap.memberships
        if len(memberships):
            gids = memberships["group_id"].astype(str).tolist()
            uids = memberships["user_id"].astype(str).tolist()
            all_users, all_groups = directory.users, directory.groups
            for gid, uid in zip(gids, uids, strict=True):
                group = all_groups.get(gid)
                if group is not None:
                    group.members.add(uid)
                user = all_users.get(uid)
                if user is not None:
                    user.groups.add(gid)
        return directory

    @classmethod
    def from_live(cls, ctx: Context, client: ScimClient, conn: Connection) -> Directory:
        """The directory listed live (no snapshot yet), groups told from roles by the connection's role rule
        (``console.directory.roles``, as a snapshot's ``kind`` column is)."""
        directory = cls(source="live", taken_at=ctx.now())
        try:
            role_matcher(conn.role_rule)
            is_role: Callable[[str | None], bool] = conn.is_role
        except InvalidInput:  # a bad rule is reported where it is edited; it must not break an operation preview
            is_role = _no_role
        for u in client.list_users():
            directory.add_user(DirUser(id=u.id, user_name=u.user_name, email=u.email,
                                       display_name=display_label(
                                           display_name=u.display_name, given_name=u.given_name,
                                           family_name=u.family_name, user_name=u.user_name, email=u.email,
                                           user_id=u.id), active=bool(u.active),
                                       external_id=u.external_id))
        for g in client.list_groups(members=True):
            kind = "role" if is_role(g.display_name) else "group"
            directory.add_group(DirGroup(id=g.id, display_name=g.display_name or g.id, kind=kind,
                                         external_id=g.external_id))
            for uid in g.member_ids or []:
                directory.add_membership(g.id, uid)
        return directory

    def view(self) -> Directory:
        """A cheap copy to overlay changes on: its own ``users`` dict (replace entries, never mutate them);
        indexes and groups are shared read-only with this directory."""
        other = Directory(source=self.source, taken_at=self.taken_at, snapshot_id=self.snapshot_id)
        other.users = dict(self.users)
        other.groups = self.groups
        other._by_name, other._by_email, other._groups_by_name = self._by_name, self._by_email, self._groups_by_name
        return other

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
        found = self._by_email.get(key)
        ids = [] if found is None else found if isinstance(found, list) else [found]
        if len(ids) == 1:
            return self.users[ids[0]], None
        if len(ids) > 1:
            names = ", ".join(sorted(self.users[i].user_name or i for i in ids)[:3])
            return None, english(EMAIL_AMBIGUOUS, n=len(ids), names=names)
        return None, NOT_FOUND

    def resolve_group(self, value: str, *, role: str = N_("group")) -> DirGroup:
        """The group or role named ``value`` (id, else display name). ``role``: what it is for, a message marked
        with ``N_`` ("group or role to move from"), said in the error when it is missing."""
        value = (value or "").strip()
        if not value:
            what = _(role)
            raise InvalidInput(_("No {what} given.").format(what=what),
                               _("Name the {what} by its display name or id.").format(what=what))
        if value in self.groups:
            return self.groups[value]
        ids = self._groups_by_name.get(value.casefold(), [])
        if len(ids) == 1:
            return self.groups[ids[0]]
        if len(ids) > 1:
            raise InvalidInput(_("“{name}” matches {n} groups/roles ({ids}).").format(
                name=value, n=len(ids), ids=", ".join(ids[:4])),
                               _("Name it by its id instead (see the Groups & roles page or the snapshot)."))
        message = (_("The group or role “{name}” does not exist in the latest snapshot; it may have been deleted or "
                     "renamed.") if self.source == "snapshot"
                   else _("The group or role “{name}” does not exist in 6clicks; it may have been deleted or renamed."))
        raise InvalidInput(message.format(name=value), _("Refresh the directory (take a snapshot) and pick an existing "
                                                         "group or role by its display name or id."))


def _no_role(_name: str | None) -> bool:
    return False


_CACHE: dict[tuple[str, str, str], Directory] = {}
_CACHE_LOCK = threading.Lock()
CACHE_ENTRIES = 2


def snapshot_directory(data_dir: Path, conn_name: str, snap: Snapshot) -> Directory:
    """The directory of a stored snapshot, built once per snapshot and shared (snapshots never change):
    callers must treat it as read-only (use ``view()`` to overlay changes)."""
    key = (str(data_dir), conn_name, str(snap.id))
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is None:
            found = Directory.from_snapshot(snap)
            while len(_CACHE) >= CACHE_ENTRIES:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = found
        return found
