"""Importing provisioning logs downloaded from the Entra admin center: a JSON array, a Graph envelope
``{"value": [...]}``, JSON lines, or the CSV bundle (logs + steps + modified properties, joined on the change id),
in UTF-8 (with or without BOM), UTF-16 or latin-1. A truncated JSON file yields its complete records and says
where it stopped. What is read goes to the log store (``console.entra.logstore``) like a Graph fetch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson

from console.connections import Connection
from console.context import Context
from console.entra.logstore import ImportResult, conn_name, ingest_records, record_fetch
from console.errors import InvalidInput
from console.i18n import N_, _, fmt_number, ngettext
from console.uploads import UploadError, decode_text, read_records

_IMPORT_REMEDY = N_("Download the provisioning logs again from the Entra admin center (JSON, or the CSV files).")


class LogImportError(InvalidInput):
    """A file that cannot be read as provisioning logs at all."""


#: one CSV file of the bundle: (file name, header, rows)
CsvFile = tuple[str, list[str], list[dict[str, str]]]


def _salvage_json(text: str) -> tuple[list[Any], str]:
    """Read the complete objects of a truncated JSON array / envelope. Returns (records, note)."""
    decoder = json.JSONDecoder()
    m = re.match(r'\s*\{.*?"value"\s*:\s*\[', text, re.S | re.I) or re.match(r"\s*\[", text)
    if not m:
        raise LogImportError(_("The file is not valid JSON and does not start like a list of log records."),
                             _("Download the logs again from the Entra admin center (JSON or CSV)."))
    pos, records = m.end(), []
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        records.append(obj)
    note = ngettext("The file is cut off at character {pos} of {size}: the {n} complete record before that "
                    "point was read; anything after it is missing. Download the logs again to get the rest.",
                    "The file is cut off at character {pos} of {size}: the {n} complete records before that "
                    "point were read; anything after it is missing. Download the logs again to get the rest.",
                    len(records)).format(pos=fmt_number(pos), size=fmt_number(n), n=fmt_number(len(records)))
    return records, note


def parse_json_text(text: str) -> tuple[list[Any], list[str]]:
    """JSON array, Graph envelope, a single record, or JSON lines -> (records, warnings)."""
    stripped = text.strip()
    if not stripped:
        raise LogImportError(_("The file is empty."), _("Download the logs again from the Entra admin center."))
    try:
        doc = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        if len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines[:2]):
            records, warnings = [], []
            for i, ln in enumerate(lines, 1):
                try:
                    records.append(orjson.loads(ln))
                except orjson.JSONDecodeError:
                    records.append(None)
                    warnings.append(_("line {line} is not valid JSON").format(line=i))
            return records, warnings
        records, note = _salvage_json(stripped)
        return records, [note]
    if isinstance(doc, list):
        return doc, []
    if isinstance(doc, dict):
        lowered = {str(k).lower(): v for k, v in doc.items()}
        if isinstance(lowered.get("value"), list):
            warnings = []
            if doc.get("@odata.nextLink"):
                warnings.append(_("The file is one page of a longer Graph answer (it has @odata.nextLink); only "
                                  "this page was imported."))
            return lowered["value"], warnings
        if "id" in lowered:
            return [doc], []
    raise LogImportError(_("The JSON file holds neither a list of provisioning log records nor a Graph answer "
                           "with a \"value\" list."), _("Download the provisioning logs from the Entra admin center."))


def _norm_header(h: str) -> str:
    return re.sub(r"[^a-z0-9]", "", (h or "").lower())


# CSV column aliases (normalised header -> canonical name)
_MAIN = {
    "id": ["id", "provisioningid", "logid", "recordid"],
    "activityDateTime": ["activitydatetime", "activitydatetimeutc", "date", "dateutc", "datetime", "datetimeutc",
                         "activitydate", "timestamp", "time"],
    "cycleId": ["cycleid"], "changeId": ["changeid"], "jobId": ["jobid"],
    "provisioningAction": ["provisioningaction", "action"],
    "status": ["status", "provisioningstatus", "provisioningstatusinfostatus"],
    "errorCode": ["errorcode", "errorinformationerrorcode", "statuserrorcode"],
    "reason": ["reason", "errorreason", "statusreason", "failurereason", "errorinformationreason"],
    "additionalDetails": ["additionaldetails", "errorinformationadditionaldetails"],
    "errorCategory": ["errorcategory", "errorinformationerrorcategory"],
    "recommendedAction": ["recommendedaction", "errorinformationrecommendedaction"],
    "sourceId": ["sourceidentityid", "sourceid", "sourceobjectid"],
    "sourceName": ["sourceidentitydisplayname", "sourceidentityname", "sourcedisplayname", "sourcename"],
    "sourceType": ["sourceidentitytype", "sourceidentityidentitytype", "identitytype", "type"],
    "targetId": ["targetidentityid", "targetid", "targetobjectid"],
    "targetName": ["targetidentitydisplayname", "targetidentityname", "targetdisplayname", "targetname"],
    "targetType": ["targetidentitytype", "targetidentityidentitytype"],
    "sourceSystem": ["sourcesystem", "sourcesystemdisplayname", "sourcesystemname"],
    "targetSystem": ["targetsystem", "targetsystemdisplayname", "targetsystemname"],
    "servicePrincipalId": ["serviceprincipalid"],
    "servicePrincipalName": ["serviceprincipalname", "serviceprincipaldisplayname", "serviceprincipal"],
    "initiatedBy": ["initiatedby", "initiatedbydisplayname", "initiatedbyname"],
    "initiatorType": ["initiatortype", "initiatedbyinitiatortype", "initiatingtype"],
    "duration": ["durationinmilliseconds", "durationms", "duration"],
    "tenantId": ["tenantid"],
}
_STEPS = {
    "key": ["changeid"], "logId": ["id", "provisioningid", "logid", "recordid"],
    "name": ["stepname", "name"],
    "type": ["provisioningsteptype", "steptype", "type"],
    "status": ["stepstatus", "status"], "description": ["stepdescription", "description"],
    "details": ["stepdetails", "details"],
    "order": ["stepnumber", "stepindex", "step", "order", "index", "sequence"],
}
_PROPS = {
    "key": ["changeid"], "logId": ["id", "provisioningid", "logid", "recordid"],
    "name": ["displayname", "propertyname", "modifiedpropertyname", "property", "attribute", "name"],
    "old": ["oldvalue", "old", "previousvalue"], "new": ["newvalue", "new", "value"],
}


def _resolve(headers: list[str], spec: dict[str, list[str]]) -> dict[str, str]:
    normalised = {_norm_header(h): h for h in headers}
    found: dict[str, str] = {}
    used: set[str] = set()
    for canonical, aliases in spec.items():
        for alias in aliases:
            if alias in normalised and normalised[alias] not in used:
                found[canonical] = normalised[alias]
                used.add(normalised[alias])
                break
    return found


def _csv_kind(headers: list[str], name: str = "") -> str:
    """logs | steps | properties, from the header (and the file name as a hint)."""
    norm = {_norm_header(h) for h in headers}
    fname = _norm_header(name)
    dated = bool(norm & {"date", "dateutc", "activitydatetime", "activitydatetimeutc", "datetime", "datetimeutc"})
    if {"oldvalue", "newvalue"} & norm or {"old", "new"} <= norm or "modifiedpropert" in fname:
        return "properties"
    if norm & {"provisioningsteptype", "steptype", "stepname", "stepnumber"} or (
            not dated and ("step" in norm or "steps" in fname) and norm & {"name", "type", "description"}):
        return "steps"
    return "logs"


def _maybe_json(value: str | None) -> Any:
    if value is None:
        return None
    v = value.strip()
    if v[:1] in "{[":
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return value
    return value if v != "" else None


def csv_bundle_to_records(files: list[CsvFile]) -> tuple[list[dict[str, Any]], list[str], list[tuple[str, str]]]:
    """Join the admin center's CSV bundle (logs, steps, modified properties) into Graph-shaped records.
    Returns (records, warnings, file problems as (file, reason))."""
    logs: list[CsvFile] = []
    steps: list[CsvFile] = []
    props: list[CsvFile] = []
    warnings: list[str] = []
    problems: list[tuple[str, str]] = []
    for name, headers, rows in files:
        kind = _csv_kind(headers, name)
        {"logs": logs, "steps": steps, "properties": props}[kind].append((name, headers, rows))
    if not logs:
        if steps or props:
            problems.append((", ".join(n for n, _h, _r in steps + props),
                             _("only the steps / modified-properties file(s) of the CSV bundle were given; add the "
                               "main provisioning-logs CSV (the one with the date and action columns)")))
        return [], warnings, problems
    by_key: dict[str, dict[str, Any]] = {}
    by_id: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    for name, headers, rows in logs:
        cols = _resolve(headers, _MAIN)
        missing = [c for c in ("id", "activityDateTime") if c not in cols]
        if missing:
            problems.append((name, _("the CSV has no {missing} column (columns found: {found}); it does not look "
                                     "like a provisioning-logs download").format(missing=" / ".join(missing),
                                                                                 found=", ".join(headers[:12]))))
            continue
        optional_missing = [c for c in ("cycleId", "changeId", "provisioningAction", "status") if c not in cols]
        if optional_missing:
            warnings.append(_("{file}: no {columns} column; those fields are left empty").format(
                file=name, columns=", ".join(optional_missing)))
        known_cols = set(cols.values())
        for row in rows:
            def g(c: str, row: dict = row, cols: dict = cols) -> Any:
                h = cols.get(c)
                v = row.get(h) if h else None
                return v.strip() if isinstance(v, str) and v.strip() != "" else None
            rec: dict[str, Any] = {
                "id": g("id"), "activityDateTime": g("activityDateTime"), "cycleId": g("cycleId"),
                "changeId": g("changeId"), "jobId": g("jobId"), "provisioningAction": g("provisioningAction"),
                "provisioningStatusInfo": {"status": g("status"), "errorInformation": None},
                "sourceIdentity": {"id": g("sourceId"), "displayName": g("sourceName"),
                                   "identityType": g("sourceType")},
                "targetIdentity": {"id": g("targetId"), "displayName": g("targetName"),
                                   "identityType": g("targetType") or g("sourceType")},
                "provisioningSteps": [], "modifiedProperties": [],
            }
            if g("errorCode") or g("reason"):
                rec["provisioningStatusInfo"]["errorInformation"] = {
                    "errorCode": g("errorCode"), "reason": g("reason"),
                    "additionalDetails": g("additionalDetails"), "errorCategory": g("errorCategory"),
                    "recommendedAction": g("recommendedAction")}
            if g("sourceSystem"):
                rec["sourceSystem"] = {"displayName": g("sourceSystem")}
            if g("targetSystem"):
                rec["targetSystem"] = {"displayName": g("targetSystem")}
            if g("servicePrincipalId") or g("servicePrincipalName"):
                rec["servicePrincipal"] = {"id": g("servicePrincipalId"), "displayName": g("servicePrincipalName")}
            if g("initiatedBy") or g("initiatorType"):
                rec["initiatedBy"] = {"displayName": g("initiatedBy"), "initiatorType": g("initiatorType")}
            if g("duration"):
                rec["durationInMilliseconds"] = g("duration")
            if g("tenantId"):
                rec["tenantId"] = g("tenantId")
            extra = {k: v for k, v in row.items() if k is not None and k not in known_cols and v not in (None, "")}
            if extra:
                rec["csvExtraColumns"] = extra
            records.append(rec)
            if rec["changeId"]:
                by_key.setdefault(rec["changeId"], rec)
            if rec["id"]:
                by_id.setdefault(rec["id"], rec)
    unmatched = 0
    for name, headers, rows in steps:
        cols = _resolve(headers, _STEPS)
        if "key" not in cols and "logId" not in cols:
            problems.append((name, _("the steps CSV has no change id column to join it on; steps were not "
                                     "attached")))
            continue
        attached: list[tuple[dict[str, Any], str | None, dict[str, Any]]] = []
        for row in rows:
            owner = _owner(row, cols, by_key, by_id)
            if owner is None:
                unmatched += 1
                continue
            step = {"name": row.get(cols.get("name", ""), None), "provisioningStepType": row.get(cols.get("type", "")),
                    "status": row.get(cols.get("status", "")), "description": row.get(cols.get("description", "")),
                    "details": _maybe_json(row.get(cols.get("details", ""))) or {}}
            order = row.get(cols.get("order", ""))
            attached.append((owner, order, step))
        for owner, _order, step in sorted(attached, key=lambda t: _order_key(t[1])):
            owner["provisioningSteps"].append(step)
    for name, headers, rows in props:
        cols = _resolve(headers, _PROPS)
        if "key" not in cols and "logId" not in cols:
            problems.append((name, _("the modified-properties CSV has no change id column; properties were not "
                                     "attached")))
            continue
        for row in rows:
            owner = _owner(row, cols, by_key, by_id)
            if owner is None:
                unmatched += 1
                continue
            owner["modifiedProperties"].append({"displayName": row.get(cols.get("name", "")),
                                              "oldValue": row.get(cols.get("old", "")) or None,
                                              "newValue": row.get(cols.get("new", "")) or None})
    if unmatched:
        warnings.append(ngettext("{n} step / property row refers to a change id that is not in the logs CSV; it "
                                 "was not attached",
                                 "{n} step / property rows refer to a change id that is not in the logs CSV; they "
                                 "were not attached", unmatched).format(n=fmt_number(unmatched)))
    return records, warnings, problems


def _owner(row: dict[str, str], cols: dict[str, str], by_key: dict[str, dict[str, Any]],
           by_id: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The log record a steps / modified-properties row belongs to: by change id, else by record id."""
    key = (row.get(cols["key"]) or "").strip() if "key" in cols else ""
    lid = (row.get(cols["logId"]) or "").strip() if "logId" in cols else ""
    return by_key.get(key) or by_id.get(lid) or by_id.get(key)


def _order_key(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def parse_files(files: list[tuple[str, bytes]]) -> tuple[list[tuple[str, list[Any]]], list[str],
                                                           list[tuple[str, str]]]:
    """Parse uploaded/downloaded files. Returns ([(label, records)], warnings, file problems)."""
    parsed: list[tuple[str, list[Any]]] = []
    warnings: list[str] = []
    problems: list[tuple[str, str]] = []
    csv_files: list[CsvFile] = []
    for name, data in files:
        try:
            decoded = decode_text(data, name=name, remedy=_(_IMPORT_REMEDY))
        except UploadError as exc:
            problems.append((name, exc.reason))
            continue
        text = decoded.text
        head = text.lstrip()[:1]
        try:
            if head in ("[", "{"):
                records, notes = parse_json_text(text)
                parsed.append((name, records))
                warnings.extend(f"{name}: {n}" for n in notes)
            elif not text.strip():
                problems.append((name, _("the file is empty")))
            else:
                table = read_records(decoded, name=name)
                headers, rows = table.header, table.records
                if len(headers) < 2:
                    problems.append((name, _("the file is neither JSON nor a CSV with a header row; download the "
                                             "provisioning logs again (JSON or CSV)")))
                    continue
                if not decoded.is_utf8:
                    warnings.append(_("{file}: read as {encoding}").format(file=name, encoding=decoded.encoding))
                warnings.extend(f"{name}: {n}" for n in table.notes)
                problems.extend((_("{file} line {line}").format(file=name, line=line), why)
                                for line, why in table.problems)
                csv_files.append((name, headers, rows))
        except LogImportError as exc:
            problems.append((name, str(exc)))
        except (ValueError, UnicodeError, RecursionError) as exc:
            problems.append((name, _("the file cannot be read as provisioning logs ({error}); download the logs "
                                     "again from the Entra admin center (JSON or CSV)").format(error=exc)))
    if csv_files:
        records, notes, bad = csv_bundle_to_records(csv_files)
        warnings.extend(notes)
        problems.extend(bad)
        if records:
            parsed.append((" + ".join(n for n, _h, _r in csv_files), records))
    return parsed, warnings, problems


def import_files(ctx: Context, conn: Connection | str, files: list[tuple[str, bytes]] | list[Path] | list[str]
                 ) -> ImportResult:
    """Import admin-center downloads (paths or ``(name, bytes)`` pairs; a CSV bundle's files together)."""
    loaded: list[tuple[str, bytes]] = []
    result = ImportResult()
    for f in files:
        if isinstance(f, tuple):
            loaded.append(f)
            continue
        path = Path(f)
        try:
            loaded.append((path.name, path.read_bytes()))
        except OSError as exc:
            result.reject(str(path), _("cannot be read ({error})").format(error=exc.strerror or exc))
    parsed, warnings, problems = parse_files(loaded)
    for name, reason in problems:
        result.reject(name, reason)
    result.warnings.extend(warnings)
    name = conn_name(conn)
    for label, records in parsed:
        result.merge(ingest_records(ctx, name, records, origin="import",
                                    label=_("{file} record").format(file=label)))
    record_fetch(ctx, name, "import", None, result, complete=True, watermark=None)
    return result
