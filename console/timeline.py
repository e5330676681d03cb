"""What happened to a person, and lately to the whole directory, in plain words: the directory's change events
(``console.directory.diff``: what two snapshots in a row differ by) merged with Entra's provisioning records
(``console.entra.logstore``: what Entra did, when, and why it failed) in one timeline, newest first.

- ``person_timeline(ctx, conn, user_id)``: a person's History. Their Entra records are found by the SCIM id
  (``targetIdentity.id``), the Entra object id (``sourceIdentity.id``, which the guide's mapping sends as
  ``externalId``) and the user name (``targetIdentity.displayName``), including names and object ids the person
  had before (from their ``user_changed`` events).
- ``recent_activity(ctx, conn, since)``: the Overview's recent changes, with the counts the Sync history page
  shows for the same period (``logstore.summarise``: one source for each figure) and whether an earlier
  snapshot exists at all (the first snapshot is a baseline: no changes can be recorded before a second one).
- ``record_sentence`` / ``resolve_target``: the words for one record and the directory object it concerns
  (the SCIM id of the person or group in the latest snapshot), for the Sync history page's record details.

UI-free; every text returned here is plain text (the pages escape it for Markdown).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from console.connections import Connection
from console.context import Context
from console.directory.events import describe_event, list_events, user_history
from console.directory.people import display_label
from console.directory.store import latest_snapshot
from console.entra.catalogue import error_title, explain_error
from console.entra.logstore import LOG_COLUMNS, conn_name, get_record, log_count, query_logs, summarise
from console.entra.records import record_steps
from console.i18n import N_, _, pgettext
from console.text import as_text

#: columns of a timeline frame (``at`` is UTC, newest first)
TIMELINE_COLUMNS = ["at", "source", "what", "outcome", "subject_type", "subject_id", "subject_name", "record_id",
                    "cycle_id", "error_code"]
#: the ``source`` column's values (data: compare with these; show them with ``source_label``)
SOURCE_ENTRA = N_("Entra provisioning")
SOURCE_DIRECTORY = N_("Directory snapshot")
#: what an Entra action did, as sentences: (done, failed) with {thing} the object (marked for translation)
ACTION_SENTENCES: dict[str, tuple[str, str]] = {
    "create": (N_("Entra created {thing}"), N_("Entra failed to create {thing}")),
    "update": (N_("Entra updated {thing}"), N_("Entra failed to update {thing}")),
    "delete": (N_("Entra deleted {thing}"), N_("Entra failed to delete {thing}")),
    "disable": (N_("Entra disabled {thing}"), N_("Entra failed to disable {thing}")),
    "stagedDelete": (N_("Entra held back the deletion of {thing}"), N_("Entra failed to stage the deletion of {thing}")),
    "other": (N_("Entra processed {thing}"), N_("Entra failed to provision {thing}")),
}
#: the action column's values as a reader says them (tables, filters, chart labels): English, see ``action_label``
ACTION_LABELS = {"create": "create", "update": "update", "delete": "delete", "disable": "disable",
                 "stagedDelete": "held delete", "other": "other"}
#: Entra's modified-property names in words (others are shown as they are; marked for translation)
PROPERTY_WORDS = {"username": N_("user name"), "emails[type eq \"work\"].value": N_("e-mail"),
                  "externalid": N_("external id"), "name.givenname": N_("given name"),
                  "name.familyname": N_("family name"), "displayname": N_("display name"), "active": N_("active"),
                  "members": N_("members"), "title": N_("job title"), "preferredlanguage": N_("language"),
                  "phonenumbers[type eq \"work\"].value": N_("phone"),
                  "userprincipalname": N_("user principal name"), "mail": N_("e-mail")}
#: how many Entra records a person's timeline reads at most (newest first)
PERSON_RECORDS = 500


def short_cycle(cycle_id: Any) -> str:
    """The first 8 characters of a cycle id (enough to tell cycles apart, as git does with commits)."""
    text = as_text(cycle_id)
    return text[:8] if text else pgettext("cycle", "unknown")


def action_label(action: Any) -> str:
    """An Entra action ("create", "stagedDelete", ...) as a reader says it, in the current language."""
    text = as_text(action) or "unknown"
    labels = {"create": pgettext("provisioning action", "create"),
              "update": pgettext("provisioning action", "update"),
              "delete": pgettext("provisioning action", "delete"),
              "disable": pgettext("provisioning action", "disable"),
              "stagedDelete": pgettext("provisioning action", "held delete"),
              "other": pgettext("provisioning action", "other"),
              "unknown": pgettext("provisioning action", "unknown")}
    return labels.get(text, text)


def source_label(source: Any) -> str:
    """A timeline's ``source`` value (``SOURCE_ENTRA``, ``SOURCE_DIRECTORY``) in the current language."""
    text = as_text(source) or ""
    return _(text) if text in (SOURCE_ENTRA, SOURCE_DIRECTORY) else text


def property_words(name: Any) -> str:
    text = as_text(name) or "?"
    word = PROPERTY_WORDS.get(text.lower())
    return _(word) if word is not None else text


def record_sentence(action: Any, status: Any, identity_type: Any, name: Any = None, *, person: bool = False,
                    error_code: Any = None, properties: list[str] | None = None, meaning: bool = True,
                    cycle_id: Any = None) -> str:
    """What one provisioning record says Entra did, in words: "Entra disabled Camila Müller", "Entra failed to
    update group Finance: 6clicks answered 500 (server error)…". With ``person`` the object is "the account"
    (a person's own History). ``properties``: the modified properties' names (an update says which).
    ``meaning``: a failure says what its error code means (else only its short title). ``cycle_id``: named
    after the action ("... (provisioning cycle 7f22bad9): ...")."""

    act = as_text(action) or "other"
    is_group = (as_text(identity_type) or "").lower() == "group"
    label = as_text(name)
    if person:
        thing = _("the account")
    elif is_group:
        thing = _("group {name}").format(name=label) if label else _("a group")
    else:
        thing = label or _("a user")
    sentences = ACTION_SENTENCES.get(act)
    if sentences is not None:
        done, failed = (_(sentences[0]).format(thing=thing), _(sentences[1]).format(thing=thing))
    else:
        done = _("Entra did “{action}” to {thing}").format(action=act, thing=thing)
        failed = _("Entra failed to do “{action}” to {thing}").format(action=act, thing=thing)
    state = (as_text(status) or "").lower()
    code = as_text(error_code)
    why = (explain_error(code)[0] if meaning else error_title(code)) if code else None
    cycle = _(" (provisioning cycle {cycle})").format(cycle=short_cycle(cycle_id)) if as_text(cycle_id) else ""
    if state in ("failure", "skipped"):
        text = (failed if state == "failure" else _("Entra skipped {thing}").format(thing=thing)) + cycle
        return f"{text}: {why}" if why else text
    text = done
    if state == "warning":
        text += _(", with a warning") + cycle + (f": {why}" if why else "")
        return text
    if state and state != "success":
        text += _(" (status {status})").format(status=state)
    text += cycle
    changed = [p for p in (properties or []) if p != "active" or act != "disable"]
    if act == "update" and changed:
        text += ": " + pgettext("list separator", ", ").join(dict.fromkeys(changed))
    return text


# ------------------------------------------------------------------------------------------- record targets

@dataclass(frozen=True)
class Target:
    """The directory object a provisioning record concerns, as found in the latest snapshot.

    ``kind``: user or group. ``scim_id``: its id in 6clicks (None when it is not in the snapshot: never
    created, deleted since, or no snapshot). ``label``: its name as the console shows it. ``matched_by``:
    which of the record's identifiers found it (``SCIM id``, ``Entra object id``, ``user name``, ``name``)."""

    kind: str
    scim_id: str | None
    label: str
    matched_by: str | None


def _anchors(record: dict | None) -> tuple[str | None, list[str]]:
    """(TargetAnchor, names) from a record's steps: the SCIM id 6clicks gave the object, and the user principal
    name / mail / reportable identifier Entra quoted."""
    anchor, names = None, []
    for step in (record or {}).get("provisioningSteps") or []:
        details = step.get("details") if isinstance(step, dict) else None
        if not isinstance(details, dict):
            continue
        anchor = anchor or as_text(details.get("TargetAnchor"))
        for key in ("userPrincipalName", "mail", "ReportableIdentifier"):
            value = as_text(details.get(key))
            if value:
                names.append(value)
    return anchor, names


def resolve_target(row: Mapping[str, Any] | pd.Series, users: pd.DataFrame | None, groups: pd.DataFrame | None,
                   record: dict[str, Any] | None = None) -> Target:
    """Find the object a record (a ``query_logs`` row: identity_type, source_id, source_name, target_id,
    target_name) concerns in a snapshot's ``users`` / ``groups`` frames: by SCIM id (the record's target id,
    else the TargetAnchor of its steps), then the Entra object id (= ``externalId``), then the user name (a
    group's display name), case-insensitively."""

    get = row.get
    is_group = (as_text(get("identity_type")) or "").lower() == "group"
    anchor, step_names = _anchors(record)
    ids = [i for i in (as_text(get("target_id")), anchor) if i]
    external = as_text(get("source_id"))
    names = [n for n in (as_text(get("target_name")), *step_names) if n]
    fallback = as_text(get("source_name")) or as_text(get("target_name")) or _("(no name)")
    frame = groups if is_group else users
    kind = "group" if is_group else "user"
    if frame is None or frame.empty:
        return Target(kind, None, fallback, None)
    name_column = "displayName" if is_group else "userName"
    probes: list[tuple[str, str, list[str]]] = [("id", _("SCIM id"), ids)]
    if external:
        probes.append(("externalId", _("Entra object id"), [external]))
    if names:
        probes.append((name_column, pgettext("found by", "name") if is_group else pgettext("found by", "user name"),
                       names))
    for column, how, values in probes:
        if column not in frame.columns or not values:
            continue
        col = frame[column]
        if column == "id":
            hits = frame[col.astype("string").isin(values).fillna(False)]
        else:
            lowered = col.astype("string").str.strip().str.lower()
            hits = frame[lowered.isin([v.strip().lower() for v in values]).fillna(False)]
        if len(hits) == 1:
            hit = hits.iloc[0]
            label = as_text(hit.get("displayName")) if is_group else (as_text(hit.get("label"))
                                                                      or display_label({str(k): v for k, v in hit.items()}))
            return Target(kind, str(hit["id"]), label or fallback, how)
    return Target(kind, None, fallback, None)


# -------------------------------------------------------------------------------------------- a person

def person_identifiers(ctx: Context, conn: Connection | str, user_id: str,
                       users: pd.DataFrame | None = None) -> dict[str, set[str]]:
    """The identifiers a person's Entra records may carry: ``ids`` (SCIM id), ``external_ids`` (Entra object
    ids) and ``names`` (user names, lower-cased), now and before (from their change events)."""

    ids = {str(user_id)}
    external: set[str] = set()
    names: set[str] = set()
    if users is None:
        snap = latest_snapshot(ctx, conn)
        users = snap.users if snap is not None else None
    if users is not None and len(users):
        row = users[users["id"].astype("string") == str(user_id)]
        if len(row):
            r = row.iloc[0]
            external_id, user_name = as_text(r.get("externalId")), as_text(r.get("userName"))
            if external_id:
                external.add(external_id)
            if user_name:
                names.add(user_name.lower())
    events = list_events(ctx, conn, subject_id=str(user_id), limit=2000)
    own = events[events["subject_id"] == str(user_id)] if len(events) else events
    e: Any  # a pandas row of list_events
    for e in own.itertuples(index=False):
        subject_name = as_text(e.subject_name)
        if e.subject_type == "user" and subject_name:
            names.add(subject_name.lower())
        if e.kind == "user_changed" and e.attribute in ("userName", "externalId"):
            for value in (as_text(e.old_value), as_text(e.new_value)):
                if value:
                    (names.add(value.lower()) if e.attribute == "userName" else external.add(value))
    return {"ids": ids, "external_ids": external, "names": names}


def person_records(ctx: Context, conn: Connection | str, identifiers: dict[str, set[str]],
                   limit: int = PERSON_RECORDS) -> pd.DataFrame:
    """The Entra records of one person (``query_logs`` columns plus ``error_category``), newest first.

    One pass over the connection's records (the identity columns have no index: indexes would slow every
    ingest, and this runs only when a person's History is opened, cached per data version by the page).
    ``python -m bench history`` measures it: about 2 s at 1,000,000 stored records on a busy 2-core machine."""

    where: list[str] = []
    params = [conn_name(conn)]
    for column, given in (("target_id", identifiers.get("ids")), ("source_id", identifiers.get("external_ids"))):
        values = sorted(v for v in (given or ()) if v)
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    names = sorted(v for v in (identifiers.get("names") or ()) if v)
    if names:
        where.append(f"lower(target_name) IN ({','.join('?' * len(names))})")
        params.extend(names)
    if not where:
        return pd.DataFrame(columns=[*LOG_COLUMNS, "error_category"])
    rows = ctx.store.conn.execute(
        "SELECT id, activity_ms, cycle_id, change_id, action, status, error_code, identity_type, source_id,"
        " source_name, target_id, target_name, initiator_type, duration_ms, error_category FROM provisioning_logs"
        " WHERE connection = ? AND (identity_type IS NULL OR lower(identity_type) <> 'group')"
        f" AND ({' OR '.join(where)}) ORDER BY activity_ms DESC, id LIMIT ?", (*params, int(limit))).fetchall()
    df = pd.DataFrame([tuple(r) for r in rows], columns=[*LOG_COLUMNS, "error_category"])
    df["time"] = pd.to_datetime(df["time"], unit="ms", utc=True)
    return df


def _modified(ctx: Context, conn: Connection | str, record_id: str) -> list[str]:

    try:
        _steps, props = record_steps(get_record(ctx, conn, record_id))
    except Exception:  # a record whose raw block is unreadable still has its indexed columns
        return []
    return [property_words(p.get("property")) for p in props]


def _event_rows(events: pd.DataFrame, *, about_person: bool) -> pd.DataFrame:

    if events is None or events.empty:
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    records = events.to_dict("records")
    return pd.DataFrame({
        "at": pd.to_datetime(events["at"], utc=True).to_numpy(), "source": SOURCE_DIRECTORY,
        "what": [describe_event(r, about_person=about_person) for r in records],
        "outcome": "seen",
        "subject_type": [r.get("subject_type") for r in records],
        "subject_id": [r.get("related_id") if r.get("kind", "").startswith("member_") else r.get("subject_id")
                       for r in records],
        "subject_name": [r.get("related_name") if r.get("kind", "").startswith("member_") else r.get("subject_name")
                         for r in records],
        "record_id": None, "cycle_id": None, "error_code": None}, columns=TIMELINE_COLUMNS)


def _record_rows(ctx: Context, conn: Connection | str, records: pd.DataFrame, *, person: bool) -> pd.DataFrame:
    if records is None or records.empty:
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    whats = []
    r: Any  # a pandas row of query_logs
    for r in records.itertuples(index=False):
        props = _modified(ctx, conn, r.id) if person and r.action == "update" and r.status != "failure" else None
        name = r.source_name if (as_text(r.identity_type) or "").lower() == "user" else (r.target_name or
                                                                                         r.source_name)
        whats.append(record_sentence(r.action, r.status, r.identity_type, name or r.target_name, person=person,
                                     error_code=r.error_code, properties=props, meaning=person,
                                     cycle_id=r.cycle_id if person else None))
    return pd.DataFrame({
        "at": records["time"].to_numpy(), "source": SOURCE_ENTRA, "what": whats,
        "outcome": records["status"].fillna("unknown").to_numpy(),
        "subject_type": [(as_text(t) or "user").lower() for t in records["identity_type"]],
        "subject_id": records["target_id"].to_numpy(),
        "subject_name": records["source_name"].fillna(records["target_name"]).to_numpy(),
        "record_id": records["id"].to_numpy(), "cycle_id": records["cycle_id"].to_numpy(),
        "error_code": records["error_code"].to_numpy()}, columns=TIMELINE_COLUMNS)


def _merge(parts: list[pd.DataFrame], limit: int | None) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    merged["at"] = pd.to_datetime(merged["at"], utc=True)
    # newest first; at the same moment Entra's action before the snapshot that saw it
    merged["_order"] = (merged["source"] == SOURCE_ENTRA).astype(int)
    merged = merged.sort_values(["at", "_order"], ascending=[False, True], kind="stable").drop(columns="_order")
    if limit:
        merged = merged.head(limit)
    return merged.reset_index(drop=True)


def person_timeline(ctx: Context, conn: Connection | str, user_id: str, *, users: pd.DataFrame | None = None,
                    limit: int | None = 500) -> pd.DataFrame:
    """A person's History: their change events (the directory snapshots that saw them change, join and leave
    groups) and their Entra provisioning records, newest first, each in plain words (``TIMELINE_COLUMNS``).
    ``users``: the latest snapshot's users frame when the caller has it (else it is read)."""

    events = user_history(ctx, conn, str(user_id), limit=limit)
    records = person_records(ctx, conn, person_identifiers(ctx, conn, str(user_id), users),
                             limit=min(limit or PERSON_RECORDS, PERSON_RECORDS))
    return _merge([_event_rows(events, about_person=True), _record_rows(ctx, conn, records, person=True)], limit)


# ----------------------------------------------------------------------------------------- recent activity

@dataclass
class RecentActivity:
    """The Overview's "Recent changes": ``entries`` (``TIMELINE_COLUMNS``, newest first, at most ``limit``),
    the Sync history page's figures for the same period (``entra_records``, ``entra_failures``,
    ``entra_cycles``), how many directory changes were recorded (``directory_changes``) and whether they
    could be: ``snapshots`` taken so far and the first one's time (a single snapshot is a baseline)."""

    since: datetime
    entries: pd.DataFrame
    entra_records: int
    entra_failures: int
    entra_cycles: int
    directory_changes: int
    snapshots: int
    first_snapshot_at: datetime | None
    latest_snapshot_at: datetime | None
    has_logs: bool

    @property
    def baseline_only(self) -> bool:
        """Only one snapshot so far: no change between snapshots can have been recorded yet."""
        return self.snapshots == 1


def recent_activity(ctx: Context, conn: Connection | str, since: datetime, *, limit: int = 200) -> RecentActivity:
    """Directory changes and Entra's records since ``since``, merged (see ``RecentActivity``). The Entra
    figures come from ``logstore.summarise`` with the same ``since``, as on the Sync history page."""

    name = conn_name(conn)
    summary = summarise(ctx, conn, since=since)
    failures = int(summary.cycles["failure"].sum()) if len(summary.cycles) else 0
    events = list_events(ctx, conn, since=since, limit=limit)
    db = ctx.store.conn  # aggregates: always one row
    changes = db.execute("SELECT COUNT(*) FROM directory_events WHERE connection = ? AND at >= ?",
                         (name, since.astimezone(UTC).isoformat())).fetchone()[0]
    snaps = db.execute("SELECT COUNT(*), MIN(taken_at), MAX(taken_at) FROM snapshots WHERE connection = ?",
                       (name,)).fetchone()
    records = query_logs(ctx, conn, since=since, limit=limit)
    entries = _merge([_event_rows(events, about_person=False), _record_rows(ctx, conn, records, person=False)],
                     limit)
    return RecentActivity(
        since=since, entries=entries, entra_records=summary.total, entra_failures=failures,
        entra_cycles=len(summary.cycles), directory_changes=int(changes), snapshots=int(snaps[0] or 0),
        first_snapshot_at=datetime.fromisoformat(snaps[1]) if snaps[1] else None,
        latest_snapshot_at=datetime.fromisoformat(snaps[2]) if snaps[2] else None,
        has_logs=log_count(ctx, conn) > 0)


def timeline_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A timeline frame as JSON-ready dicts (ISO times), for the command line."""
    out = []
    for r in frame.to_dict("records"):
        r["at"] = pd.Timestamp(r["at"]).isoformat()
        out.append({k: (None if (v is None or (isinstance(v, float) and pd.isna(v))) else v) for k, v in r.items()})
    return json.loads(json.dumps(out, default=str))
