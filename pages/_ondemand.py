"""Provision on demand, as one panel the Users page, Sync history and the Setup check share: ask Entra to
provision one user (or group) now and show its steps and result in plain words."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from console.connections import Connection
from console.entra.ondemand import OnDemandResult, provision_on_demand
from console.i18n import _, pgettext
from pages._ui import errors, session, text

ICONS = {"success": ":material/check_circle:", "skipped": ":material/skip_next:",
         "failure": ":material/error:", "unknown": ":material/help:"}


def _status(value: str) -> str:
    """A step's status as Entra words it (Success, Skipped, ...), in the admin center's words; other values as
    they came."""
    words = {"success": pgettext("provisioning status", "Success"),
             "skipped": pgettext("provisioning status", "Skipped"),
             "failure": pgettext("provisioning status", "Failure"),
             "warning": pgettext("provisioning status", "Warning")}
    return words.get(value.strip().lower(), value)


def _kind(value: str) -> str:
    return {"User": _("User"), "Group": _("Group")}.get(value, value)


def show_result(result: OnDemandResult) -> None:
    body = text.md_escape(result.summary(), limit=1000)
    if result.error_code:
        body += "\n\n" + _("**{code}**: {explanation}").format(
            code=text.md_escape(result.error_code, limit=120), explanation=text.md_escape(result.explanation,
                                                                                            limit=800))
        body += "\n\n" + _("Fix: {fix}").format(fix=text.md_escape(result.fix, limit=800))
    {"success": st.success, "skipped": st.info}.get(result.outcome, st.warning)(body, icon=ICONS[result.outcome])
    if result.steps:
        st.dataframe(text.plain_table(pd.DataFrame(
            [{_("Step"): s.name, _("Status"): _status(s.status), _("What Entra did"): s.description}
             for s in result.steps])), hide_index=True, width="stretch")
    if result.changed:
        st.caption(_("Changed: {changes}").format(changes=text.md_escape("; ".join(result.changed), limit=1500)))


def panel(conn: Connection, *, key: str, object_id: str = "", kind: str = "User", label: str = "") -> None:
    """A button that provisions ``object_id`` (an Entra object id) now, or, without one, a field to enter it."""
    if conn.entra is None or not conn.entra.can_manage_job:
        st.caption(_("Provision on demand needs the connection's Microsoft Graph settings with the job id "
                     "(Connection & token > Microsoft Graph)."))
        return
    result_key = f"result.ondemand.{key}"
    if not object_id:
        object_id = st.text_input(_("Entra object id"), key=f"{key}.id", max_chars=100,
                                  help=_("The user's Object ID in Entra (for a provisioned 6clicks user: their "
                                         "externalId).")).strip()
        kind = st.radio(_("Kind"), ["User", "Group"], horizontal=True, key=f"{key}.kind", format_func=_kind)
    what = label or object_id
    if st.button(_("Provision {what} on demand").format(what=text.md_escape(what, limit=60)) if what
                 else _("Provision on demand"),
                 key=f"{key}.go", icon=":material/bolt:", disabled=not object_id,
                 help=_("Entra provisions this one object now, outside the 40-minute cycle, and reports each step.")):
        with errors.guard(_("provisioning on demand")), st.spinner(_("Entra is provisioning it (usually under 30 s)…")):
            st.session_state[result_key] = provision_on_demand(session.context(), conn, object_id, object_type=kind)
    result = st.session_state.get(result_key)
    if isinstance(result, OnDemandResult) and result.object_id == object_id:
        show_result(result)
