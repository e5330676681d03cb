"""Provisioning-log records as Graph documents them, and as real downloads vary: the leaf every other part of
``console.entra`` reads (it imports only ``console.i18n``, for the reasons a record is rejected).

Records are Graph ``provisioningObjectSummary`` objects. ``normalise`` turns one into the indexed columns the log
store keeps (``LogRow``), tolerating the variants seen in real documents (any key casing, capitalised enums, the
beta names ``action`` / ``statusInfo``, ``servicePrincipal`` as a list, the misspelt ``initiatingType``, unknown
fields, unknown enum values kept as they are). ``parse_time`` reads Graph's and the admin center's dates;
``record_steps`` a record's steps and modified properties.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from console.i18n import _

ACTIONS = {"create": "create", "update": "update", "delete": "delete", "disable": "disable",
           "stageddelete": "stagedDelete", "other": "other"}
STATUSES = {"success": "success", "failure": "failure", "skipped": "skipped", "warning": "warning"}
ACTIONS.update({v: v for v in list(ACTIONS.values())})  # exact canonical spelling: fast path
ACTIONS_EXACT = {v: v for v in ACTIONS.values()}
STATUSES_EXACT = dict(STATUSES)
MAX_DURATION_MS = 30 * 86_400_000   # a provisioning step longer than a month is not a duration

#: One record's indexed columns: id, activity time (epoch ms), cycle id, change id, job id, action, status,
#: error code, error category, identity type, source id, source name, target id, target name, initiator type,
#: duration (ms).
LogRow = tuple[str, int, str | None, str | None, str | None, str | None, str | None, str | None, str | None,
               str | None, str | None, str | None, str | None, str | None, str | None, int | None]

def _text(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, str) else str(v)


def _enum(v: Any, known: dict[str, str]) -> str | None:
    if isinstance(v, dict):  # some exports nest {"value": "..."}
        v = v.get("value")
    if v.__class__ is str and v in known:
        return known[v]
    text = _text(v)
    if text is None:
        return None
    return known.get(text.strip().lower().replace("_", ""), text.strip())


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (any fraction length, Z or offset; naive = UTC) or a common admin-center CSV date."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        parsed = None
    if parsed is not None:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    if not re.search(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", text):  # looks like no date at all
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = pd.to_datetime(text, utc=True)
        if pd.isna(ts):
            return None
        parsed = ts.to_pydatetime()
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None
    return parsed if parsed.year >= 1900 else None


def _get(d: Any, key: str) -> Any:
    """``d[key]`` with any key casing (exact casing first: the fast path for Graph's own documents)."""
    if not isinstance(d, dict):
        return None
    v = d.get(key)
    if v is not None or key in d:
        return v
    lk = key.lower()
    for k, val in d.items():
        if isinstance(k, str) and k.lower() == lk:
            return val
    return None


def _obj(v: Any) -> dict[Any, Any]:
    if isinstance(v, list):  # servicePrincipal as a list in older documents
        v = v[0] if v else None
    return v if isinstance(v, dict) else {}


def _first(d: Any, *keys: str) -> Any:
    for key in keys:
        v = _get(d, key)
        if v is not None and v != "":
            return v
    return None


def _normalise_fast(r: dict[Any, Any]) -> LogRow | None:
    """The common case, Graph v1.0 as documented (exact key casing, canonical enum values, plain types), without
    the case-insensitive lookups; None sends the record to the tolerant path."""
    rec_id, t, info, act = r.get("id"), r.get("activityDateTime"), r.get("provisioningStatusInfo"), \
        r.get("provisioningAction")
    # ``type(x) is`` rather than isinstance: exact JSON types only, and it is the fastest test
    if type(rec_id) is not str or not rec_id or type(t) is not str or type(info) is not dict:
        return None
    action = ACTIONS_EXACT.get(act) if type(act) is str else None
    raw_status = info.get("status")
    status = STATUSES_EXACT.get(raw_status) if type(raw_status) is str else None
    if action is None or status is None:
        return None
    err = info.get("errorInformation")
    src, tgt, ini = r.get("sourceIdentity"), r.get("targetIdentity"), r.get("initiatedBy")
    if err is None:
        code = category = None
    elif type(err) is dict:
        code, category = err.get("errorCode"), err.get("errorCategory")
    else:
        return None
    if type(src) is not dict or type(tgt) is not dict or (ini is not None and type(ini) is not dict):
        return None
    dur = r.get("durationInMilliseconds")
    texts = (r.get("cycleId"), r.get("changeId"), r.get("jobId"), code, category, src.get("identityType"),
             src.get("id"), src.get("displayName"), tgt.get("id"), tgt.get("displayName"),
             ini.get("initiatorType") if ini else None)
    for v in texts:
        if v is not None and type(v) is not str:
            return None
    if (dur is not None and (type(dur) is not int or not 0 <= dur <= MAX_DURATION_MS)) \
            or "initiatingType" in (ini or {}):
        return None
    try:
        when = datetime.fromisoformat(t[:-1] + "+00:00" if t[-1:] in "zZ" else t)
    except ValueError:
        return None
    if when.tzinfo is None or when.year < 1971:
        return None
    c, ch, job, code, category, itype, sid, sname, tid, tname, initiator = (v or None for v in texts)
    if itype is None:  # the tolerant path knows where else the identity type may be
        return None
    return (rec_id, int(when.timestamp() * 1000), c, ch, job, action, status, code, category, itype, sid, sname,
            tid, tname, initiator, dur)


def normalise(record: Any) -> tuple[LogRow | None, str]:
    """One record -> the indexed columns (without connection/origin/raw), or (None, reason)."""
    if type(record) is dict:
        row = _normalise_fast(record)
        if row is not None:
            return row, ""
    if not isinstance(record, dict):
        return None, _("not a JSON object ({type})").format(type=type(record).__name__)
    rec_id = _text(_get(record, "id"))
    if rec_id is None:
        return None, _("no id")
    raw_time = _first(record, "activityDateTime", "activityDateTimeUtc", "date")
    when = parse_time(raw_time)
    if when is None:
        return None, _("activityDateTime {value} is missing or not a date").format(value=repr(raw_time))
    if when.year < 1971:
        return None, _("activityDateTime {value} is not a plausible time (before 1971)").format(value=repr(raw_time))
    status_info = _obj(_first(record, "provisioningStatusInfo", "statusInfo"))
    error = _obj(_get(status_info, "errorInformation") if "errorInformation" in status_info or
                 "provisioningStatusInfo" in record else _get(status_info, "errorInformation") or
                 _get(record, "errorInformation"))
    status = _get(status_info, "status")
    if status is None or status == "":
        top = _get(record, "status")
        status = _get(top, "status") if isinstance(top, dict) else top
    source = _obj(_get(record, "sourceIdentity"))
    target = _obj(_get(record, "targetIdentity"))
    initiated = _obj(_get(record, "initiatedBy"))
    duration = _get(record, "durationInMilliseconds")
    if duration is not None and not isinstance(duration, int):
        try:
            duration = int(float(duration)) if duration != "" else None
        except (TypeError, ValueError, OverflowError):   # "1e400" is infinity
            duration = None
    if isinstance(duration, bool) or (isinstance(duration, int) and not 0 <= duration <= MAX_DURATION_MS):
        duration = None                                    # negative, or beyond SQLite's 64-bit integers
    identity_type = _text(_first(source, "identityType", "type") or _first(target, "identityType", "type"))
    return (rec_id, int(when.timestamp() * 1000), _text(_get(record, "cycleId")), _text(_get(record, "changeId")),
            _text(_get(record, "jobId")), _enum(_first(record, "provisioningAction", "action"), ACTIONS),
            _enum(status, STATUSES), _text(_first(error, "errorCode", "code")), _text(_get(error, "errorCategory")),
            identity_type, _text(_get(source, "id")), _text(_get(source, "displayName")), _text(_get(target, "id")),
            _text(_get(target, "displayName")), _text(_first(initiated, "initiatorType", "initiatingType")),
            duration), ""


# Raw JSON storage. Records are stored as they were received, in zlib-compressed blocks of up to RAW_BLOCK
# records (JSON lines) in ``provisioning_raw``; each log row's ``raw`` column holds a reference b"B" + block id +


def record_steps(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(steps, modified properties) of a record, with the key variants smoothed."""
    lowered = {str(k).lower(): v for k, v in record.items()}
    steps = []
    for s in lowered.get("provisioningsteps") or []:
        if isinstance(s, dict):
            ls = {str(k).lower(): v for k, v in s.items()}
            details = ls.get("details")
            steps.append({"name": ls.get("name"), "type": ls.get("provisioningsteptype"), "status": ls.get("status"),
                          "description": ls.get("description"),
                          "details": json.dumps(details, default=str) if isinstance(details, (dict, list)) else details})
    props = []
    for p in lowered.get("modifiedproperties") or []:
        if isinstance(p, dict):
            lp = {str(k).lower(): v for k, v in p.items()}
            props.append({"property": lp.get("displayname"), "old": lp.get("oldvalue"), "new": lp.get("newvalue")})
    return steps, props
