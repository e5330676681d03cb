"""The Sync history page's failures by error code and its log table with a record's details: filters, the table
whose selected row opens the record (its steps, the error in words with the catalogue's remedy, the raw JSON),
and the links from a record to the person or group it is about."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from console.connections import Connection
from console.context import Context
from console.entra.catalogue import (
    NO_ERROR_CODE,
    error_category_text,
    error_title,
    explain_error,
    outcome_word,
)
from console.entra.logstore import LogSummary, get_record, query_logs
from console.entra.records import record_steps
from console.i18n import N_, _, fmt_number, language, ngettext, pgettext
from console.text import as_text
from console.timeline import action_label, property_words, record_sentence, resolve_target, short_cycle
from pages import _history as hist
from pages import _ondemand
from pages._ui import dircache, session
from pages._ui import format as fmt
from pages._ui.text import md_escape, plain, plain_table

KEY_TABLE = "sync_history.table_key"  # the log table's current widget key (tests set its selection through it)
F_IDENTITY = "sync_history.f_identity"
F_ACTION = "sync_history.f_action"
F_STATUS = "sync_history.f_status"
F_CODE = "sync_history.f_code"
F_CYCLE = "sync_history.f_cycle"
ANY = "(any)"  # the filters' "no filter" value (shown translated)
#: a step's type (``provisioningStepType``) in words
STEP_WORDS = {"import": N_("Read from Entra"), "scoping": N_("Scope check"), "matching": N_("Looked up in 6clicks"),
              "processing": N_("Decided"), "referenceresolution": N_("Resolved references"),
              "export": N_("Wrote to 6clicks")}


def _status_badge(status: Any) -> str:
    """A step's status as a badge (the words are the console's, in the operator's language)."""
    badges = {"success": ":green-badge[:material/check: {word}]".format(word=pgettext("step status", "done")),
              "failure": ":red-badge[{word}]".format(word=pgettext("step status", "failed")),
              "skipped": ":gray-badge[{word}]".format(word=pgettext("step status", "skipped")),
              "warning": ":orange-badge[{word}]".format(word=pgettext("step status", "warning"))}
    return badges.get(str(status or "").lower(), ":gray-badge[{word}]".format(word=_("no status")))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title(code: str | None) -> str:
    """An error code's short name, capitalised (an unknown code is shown exactly as the log says it)."""
    title = error_title(code)
    return title if title == code else _capital(title)


def _error_head(code: str | None) -> str:
    """"**Token rejected** · <code>": the short name in bold, the code beside it (none for "no error code")."""
    head = f"**{md_escape(_title(code))}**"
    return head + (f" · {md_escape(code)}" if code and code != NO_ERROR_CODE else "")


def _meaning_and_fix(code: str | None) -> str:
    why, fix = explain_error(code)
    return (_("**What it means:** {text}").format(text=md_escape(why, limit=1000)) + "\n\n"
            + _("**Suggested fix:** {text}").format(text=md_escape(fix, limit=1000)))


def _show_code(code: str) -> None:
    st.session_state[F_CODE] = code
    st.session_state[F_STATUS] = ANY


def failures_panel(summary: LogSummary) -> None:
    st.subheader(_("Failures by error code"), divider="gray")
    if summary.by_error.empty:
        st.success(_("No failures in this period."), icon=":material/check_circle:")
        return
    for row in summary.by_error.head(15).to_dict("records"):
        box = st.container(border=True)
        code, records = str(row["error_code"]), int(row["count"])
        # the code comes from the logs (hostile until shown as text); the explanations are the console's, in the
        # operator's language (explained here, not taken from the cached summary)
        count_text = ngettext("{n} record", "{n} records", records).format(n=fmt_number(records))
        box.markdown(_error_head(code) + " · "
                     + _("**{records}**, the last {time}").format(records=count_text,
                                                                   time=fmt.fmt_time(row["last_seen"]))
                     + "\n\n" + _meaning_and_fix(code))
        digest = hashlib.sha256(code.encode()).hexdigest()[:12]
        box.button(ngettext("Show this record in the log table", "Show these records in the log table", records),
                   key=f"sync_history.code.{digest}", on_click=_show_code, args=(code,),
                   type="tertiary", icon=":material/filter_list:")


def _code_option(code: str) -> str:
    if code == ANY:
        return _("(any)")
    title = error_title(code)
    return plain(code if title == code else _("{title} ({code})").format(title=title, code=code))


def _filters(summary: LogSummary) -> dict[str, Any]:
    # the choices are what occurs in the time range (from the cached summary, not another scan)
    actions = sorted(a for a in summary.by_action["action"].unique() if a != "unknown")
    statuses = sorted(s for s in summary.by_action["status"].unique() if s != "unknown")
    codes = sorted(c for c in summary.by_error["error_code"] if c != NO_ERROR_CODE)
    for key, options in ((F_ACTION, actions), (F_STATUS, statuses), (F_CODE, codes)):
        if st.session_state.get(key) not in (None, ANY, *options):
            st.session_state[key] = ANY  # a value from another range or connection
    a, b, c = st.columns([3, 2, 2])
    identity = a.text_input(_("Identity (name or id)"), key=F_IDENTITY,
                            help=_("An Entra or 6clicks object ID exactly, or part of a display name."))
    # option texts are plain (Streamlit shows selectbox options verbatim); plain bounds and neutralises them
    status = b.selectbox(_("Outcome"), [ANY, *statuses], key=F_STATUS,
                         format_func=lambda v: _("(any)") if v == ANY else plain(outcome_word(v)))
    action = c.selectbox(_("Action"), [ANY, *actions], key=F_ACTION,
                         format_func=lambda v: _("(any)") if v == ANY else plain(action_label(v)))
    d, e = st.columns([4, 3])
    code = d.selectbox(_("Error"), [ANY, *codes], key=F_CODE, format_func=_code_option)
    cycle = e.text_input(_("Cycle id (or its start)"), key=F_CYCLE)
    return {"identity": identity.strip() or None, "action": None if action == ANY else action,
            "status": None if status == ANY else status, "error_code": None if code == ANY else code,
            "cycle_id": cycle.strip() or None}


def log_table(ctx: Context, conn: Connection, since: datetime | None, summary: LogSummary) -> pd.Series | None:
    """The filtered records (newest 500) with one sentence each; returns the selected record's row."""
    st.subheader(_("Log records"), divider="gray")
    chosen = _filters(summary)
    rows = query_logs(ctx, conn, since=since, limit=500, **chosen)
    if rows.empty:
        st.caption(_("No records match these filters."))
        return None
    names = rows["source_name"].where(rows["identity_type"].astype("string").str.lower() == "user",
                                      rows["target_name"].fillna(rows["source_name"]))
    names = names.fillna(rows["target_name"])
    view = pd.DataFrame({
        "time": hist.local_naive(rows["time"]).to_numpy(),
        "what": [record_sentence(r.action, r.status, r.identity_type, n, error_code=r.error_code, meaning=False)
                 for r, n in zip(rows.itertuples(index=False), names, strict=True)],
        # the outcome in words; the filters and the CSV keep Graph's values
        "status": [outcome_word(s) for s in rows["status"].fillna("unknown")],
        "cycle": [short_cycle(c) for c in rows["cycle_id"]], "id": rows["id"].to_numpy()})
    # a new key per filter set, so a selection never points at a row of another view
    table_key = "sync_history.table." + hashlib.sha256(repr((sorted(chosen.items()), since)).encode()).hexdigest()[:12]
    st.session_state[KEY_TABLE] = table_key
    event = st.dataframe(
        plain_table(view), key=table_key, hide_index=True, width="stretch", height=390, on_select="rerun",
        selection_mode="single-row", column_order=["time", "what", "status", "cycle"],
        column_config={"time": st.column_config.DatetimeColumn(
                           _("Time ({zone})").format(zone=fmt.operator_zone()),
                           format="DD MMM YYYY HH:mm" if language() == "en" else "YYYY/MM/DD HH:mm", width=150),
                       "what": st.column_config.TextColumn(_("What happened"), width="large"),
                       "status": st.column_config.TextColumn(_("Outcome"), width=80),
                       "cycle": st.column_config.TextColumn(_("Cycle"), width=90,
                                                            help=_("The start of the provisioning cycle's id"))})
    n = len(rows)
    st.caption(ngettext("Showing the newest {n} matching record (at most 500). Select a record to see its steps, "
                        "what changed, and the person or group it concerns.",
                        "Showing the newest {n} matching records (at most 500). Select a record to see its "
                        "steps, what changed, and the person or group it concerns.", n).format(n=fmt_number(n)))
    dircache.csv_download(ngettext("Download this {n} record (CSV, times in UTC)",
                                   "Download these {n} records (CSV, times in UTC)", n).format(n=fmt_number(n)),
                          rows, f"{conn.name}-provisioning-logs", key="sync_history.csv")
    picked = list(event.selection.rows) if event is not None else []
    if picked and 0 <= picked[0] < len(rows):
        return rows.iloc[picked[0]]
    return None


def _filter_cycle(cycle_id: str) -> None:
    for key in (F_IDENTITY, F_ACTION, F_STATUS, F_CODE):
        st.session_state.pop(key, None)
    st.session_state[F_CYCLE] = cycle_id


def _open_target(target: Any) -> None:
    """Open the person (Users page) or group (Groups & roles page) a record concerns, by the pages' documented
    session keys."""
    if target.kind == "user":
        st.session_state[session.KEY_USER_DETAIL] = target.scim_id
        st.session_state[hist.KEY_OPEN_HISTORY] = target.scim_id  # the Users page opens on their History
        st.switch_page("pages/users.py")
    st.session_state[session.KEY_GROUP_DETAIL] = target.scim_id
    st.switch_page("pages/groups.py")


def _details_text(details: Any) -> str | None:
    """A step's details (Entra sends a JSON object of name/value pairs) as "name: value · name: value"; any
    other text as it is."""
    text = as_text(details)
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if not isinstance(parsed, dict):
        return text
    pairs = []
    for key, value in parsed.items():
        shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else as_text(value)
        if shown:
            pairs.append(f"{key}: {shown}")
    return " · ".join(pairs) or None


def _steps(box: Any, steps: list[dict]) -> None:
    """The record's steps, one paragraph each (numbered in bold, not a Markdown list), their details below."""
    for i, s in enumerate(steps, 1):
        kind = str(s.get("type") or "").lower()
        words = STEP_WORDS.get(kind)
        name = _(words) if words else (s.get("type") or s.get("name") or _("step"))
        box.markdown(f"**{i}.** {_status_badge(s.get('status'))} **{md_escape(name)}**"
                     f" — {md_escape(s.get('description'), limit=600)}")
        details = _details_text(s.get("details"))
        if details:
            box.caption(md_escape(details, limit=400))


def _matched_by(how: str | None) -> str:
    """Which of the record's identifiers found the object (``console.timeline.resolve_target``), in words."""
    words = {"SCIM id": _("SCIM id"), "Entra object id": _("Entra object id"), "user name": _("user name"),
             "name": _("name")}
    return words.get(how or "", how or "")


def _failure(box: Any, record: Any, row: pd.Series) -> None:
    """The error of a failed record: its short name and code, what it means and the fix (the console's words),
    Entra's own reason and recommendation (as Entra wrote them), the kind of failure."""
    info = {str(k).lower(): v for k, v in (record.get("provisioningStatusInfo") or record.get("statusInfo") or
                                           {}).items()} if isinstance(record, dict) else {}
    error = {str(k).lower(): v for k, v in (info.get("errorinformation") or {}).items()} \
        if isinstance(info.get("errorinformation"), dict) else {}
    code = as_text(row["error_code"])
    parts = [_error_head(code), _meaning_and_fix(code)]
    if as_text(error.get("reason")):
        parts.append(_("**Entra's reason:** {text}").format(text=md_escape(error.get("reason"), limit=1000)))
    if as_text(error.get("recommendedaction")):
        parts.append(_("**Entra recommends:** {text}").format(
            text=md_escape(error.get("recommendedaction"), limit=1000)))
    category = error_category_text(as_text(error.get("errorcategory")))
    if category:
        parts.append(_("**Kind of failure:** {text}").format(text=md_escape(category)))
    box.error("\n\n".join(parts), icon=":material/report:")


def record_details(ctx: Context, conn: Connection, row: pd.Series) -> None:
    record = get_record(ctx, conn, str(row["id"]))
    steps, props = record_steps(record)
    is_user = (as_text(row["identity_type"]) or "").lower() != "group"
    name = row["source_name"] if is_user and as_text(row["source_name"]) else (row["target_name"] or
                                                                              row["source_name"])
    box = st.container(border=True)
    box.subheader(md_escape(record_sentence(row["action"], row["status"], row["identity_type"], name,
                                               meaning=False)), divider="gray")
    cycle = as_text(row["cycle_id"])
    box.caption(" · ".join([fmt.fmt_time(row["time"]),
                            _("provisioning cycle {id}").format(id=md_escape(short_cycle(cycle))),
                            _("change {id}").format(id=md_escape(short_cycle(row["change_id"]))),
                            _("record {id}").format(id=md_escape(row["id"], limit=80))]))
    if as_text(row["error_code"]) or (as_text(row["status"]) or "") == "failure":
        _failure(box, record, row)
        source = as_text(row.get("source_id"))
        if source and conn.entra is not None and conn.entra.can_manage_job:
            with box.expander(_("Try again now: provision on demand"), icon=":material/bolt:"):
                _ondemand.panel(conn, key=f"sync_history.ondemand.{row['id']}", object_id=source,
                                kind="Group" if not is_user else "User", label=as_text(name) or source)
    d = dircache.directory(conn)
    target = resolve_target(row, d.users if d is not None else None, d.groups if d is not None else None, record)
    left, right = box.columns([3, 2], vertical_alignment="center")
    label = md_escape(target.label)
    if target.scim_id:
        how = md_escape(_matched_by(target.matched_by))
        left.markdown(_("**Concerns:** {name} (person in 6clicks, found by {how})").format(name=label, how=how)
                      if target.kind == "user" else
                      _("**Concerns:** {name} (group in 6clicks, found by {how})").format(name=label, how=how))
        short = md_escape(target.label, limit=60)
        if right.button(_("Open {name} — details and history").format(name=short) if target.kind == "user"
                        else _("Open {name}").format(name=short),
                        key="sync_history.open_target", type="primary", icon=":material/open_in_new:"):
            _open_target(target)
    else:
        left.markdown(_("**Concerns:** {name} — not in the latest directory snapshot (never created in 6clicks, or "
                        "deleted since).").format(name=label) if target.kind == "user" else
                      _("**Concerns:** {name} — not in the latest directory snapshot (not created, or deleted "
                        "since).").format(name=label))
    if cycle:
        right.button(_("Show this cycle's records"), key="sync_history.this_cycle", on_click=_filter_cycle,
                     args=(cycle,), icon=":material/filter_list:")
    box.markdown(_("**Steps**"))
    if steps:
        _steps(box, steps)
    else:
        box.markdown(_("_No steps recorded._"))
    if props:
        box.markdown(_("**What changed**"))
        box.dataframe(plain_table(pd.DataFrame(
            [{"property": property_words(p["property"]), "before": p["old"], "after": p["new"]} for p in props])),
            hide_index=True, width="stretch",
            column_config={"property": _("Property"), "before": _("Before"), "after": _("After")})
    with box.expander(_("The record as Entra sent it (JSON)"), icon=":material/data_object:"):
        st.json(record, expanded=False)
