"""The Token tab of Connection & token: the token's days left, expiry and last test; Test, Generate, Rotate (with
confirmation) and Import; right after a new token, its way into Entra; the outcome panel (``result.connection``);
the expiry timeline and the .ics reminder; the box of an incomplete connection."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from console.connections import Connection
from console.credentials import BackendInfo
from console.i18n import N_, _, count, fmt_number, pgettext
from console.notify.calendar import token_ics
from console.setup import Health, connection_health, store_key_and_token
from console.tokens.rotation import in_entra, rotate, rotations
from console.tokens.status import TokenStatus, expiry_source_words, result_words
from pages import _setup_ui as setup_ui
from pages._ui import banners, errors, session
from pages._ui import format as fmt
from pages._ui.text import md_escape, plot_text

KEY_RESULT = "result.connection"  # the last action's outcome (no secret): {action, connection, fingerprint, ...}
KEY_PENDING_TAB = "connection.pending_tab"
ROTATION_WORDS = {"pushed": N_("pushed to Entra"), "manual": N_("Entra updated by hand"), "failed": N_("failed")}
#: the outcome panel's heading per action (the actions are stored by their English names)
ACTION_WORDS = {"Generated": N_("Token generated"), "Imported": N_("Token imported"), "Rotated": N_("Token rotated")}
IN_ENTRA_WORDS = {"pushed": N_("pushed through Graph"), "confirmed": N_("confirmed by you")}


# --- token ---------------------------------------------------------------------------------------------------
def token_summary(conn: Connection, status: TokenStatus | None) -> None:
    banners.token_badge(status)
    if status is None:
        st.error(_("The token's state cannot be read: the keyring is not usable (see above)."))
        return
    # the expiry date is the longest value ("2027年12月2日" in Japanese): its column is wide enough at 1280 px
    a, b, c, d = st.columns([0.7, 1.4, 1, 1.3])
    a.metric(_("Days left"), "—" if status.days_left is None else fmt_number(status.days_left))
    b.metric(_("Expires"), fmt.fmt_time(status.expires_at, date_only=True),
             help=_("Estimated (365 days from issue): the token carries no readable expiry.")
             if status.estimated else None)
    c.metric(_("Fingerprint"), f"…{status.fingerprint}" if status.fingerprint else "—",
             help=_("Last 4 hex characters of the token's SHA-256; the token itself is never shown."))
    d.metric(_("Last test"), md_escape(result_words(status.last_test_result)) if status.last_test_at else _("never"),
             help=_("Tested {when}").format(when=fmt.fmt_time(status.last_test_at)) if status.last_test_at else None)
    if status.level != "missing":
        st.caption(md_escape(f"{status.message} {status.remedy or ''}", limit=1000))
    if status.issued_at or status.expiry_source:
        source = md_escape(expiry_source_words(status.expiry_source))
        st.caption(_("Issued {when} · expiry date {source}").format(when=fmt.fmt_time(status.issued_at),
                                                                    source=source)
                   if status.issued_at else _("Expiry date {source}").format(source=source))


def remember_outcome(action: str, conn: Connection, status: TokenStatus | None, **extra: Any) -> None:
    """The outcome of ``action`` for the panel under the buttons (no secret); it goes with the page."""
    st.session_state[KEY_RESULT] = {
        "action": action, "connection": conn.name, "fingerprint": status.fingerprint if status else None,
        "level": status.level if status else None, "message": status.message if status else "",
        "remedy": status.remedy if status else "", "at": session.context().now(), **extra}


def _attempt(action: str, conn: Connection, call: Any, **extra: Any) -> None:
    try:
        result = call()
    except Exception as exc:  # TokenError etc. carry message + remedy; nothing was replaced
        errors.log_exception(exc)
        errors.show_error(exc, what=action.lower())
        return
    remember_outcome(action, conn, result, **extra)
    st.rerun()


def token_actions(conn: Connection) -> None:
    svc = banners.token_service()
    cols = st.columns(3)
    if cols[0].button(_("Test token"), key="token.test", icon=":material/network_check:", width="stretch",
                      help=_("Asks 6clicks for one user with the stored token (GET /scim/Users).")):
        with st.spinner(_("Testing the token…")):
            _attempt("Tested", conn, lambda: svc.test(conn.name))
    api_key_mode = conn.auth_mode == "6clicks-api-key"
    if cols[1].button(_("Generate token"), key="token.generate", icon=":material/key:", width="stretch",
                      disabled=not api_key_mode,
                      help=_("Exchange the stored API key for a new long-lived token (Entra keeps the old one until "
                             "you give it the new one).")):
        first = getattr(banners.token_status(conn), "level", None) == "missing"  # Entra has no older token then
        with st.spinner(_("Generating a token…")):
            _attempt("Generated", conn, lambda: svc.generate(conn.name), first=first)
    if cols[2].button(_("Rotate token"), key="token.rotate", icon=":material/autorenew:", width="stretch",
                      type="primary", disabled=not api_key_mode,
                      help=_("New token, tested, then written to Entra's provisioning job when Microsoft Graph is set "
                             "up (otherwise the steps to do it by hand).")):
        st.session_state["token.confirm_rotate"] = True
    if st.session_state.get("token.confirm_rotate"):
        rotate_confirmation(conn)
    with st.expander(_("Import a token"), icon=":material/content_paste:"):
        st.caption(_("For a token generated elsewhere (e.g. in 6clicks' Swagger page), or the static bearer token of "
                     "another SCIM provider. It is tested, then goes straight into the keyring."))
        with st.form("token.import_form", clear_on_submit=True):
            pasted = st.text_input(_("Access token"), type="password", key="token.import_value")
            estimated = st.checkbox(_("It has no readable expiry: assume 365 days from today (shown as estimated)"),
                                    key="token.import_estimated")
            if st.form_submit_button(_("Import token"), icon=":material/upload:"):
                if not pasted.strip():
                    st.error(_("Paste the token first."))
                else:
                    try:
                        result = svc.import_token(conn.name, pasted.strip(), accept_estimated=estimated)
                    except Exception as exc:  # refused tokens are not stored; the previous one stays
                        errors.show_error(exc, what=_("importing the token"))
                    else:
                        remember_outcome("Imported", conn, result)
                        st.rerun()


def rotate_confirmation(conn: Connection) -> None:
    with st.container(border=True):
        push = conn.entra is not None and conn.entra.can_manage_job
        st.markdown(_("**Rotate the token now?** A new long-lived token is generated from the stored API key and "
                      "tested. It is then written to Entra's provisioning job through Microsoft Graph.") if push else
                    _("**Rotate the token now?** A new long-lived token is generated from the stored API key and "
                      "tested. Microsoft Graph is not set up with a job, so you will give it to Entra yourself (the "
                      "steps follow)."))
        a, b = st.columns(2)
        if a.button(_("Rotate"), key="token.rotate_confirm", type="primary", icon=":material/autorenew:"):
            st.session_state["token.confirm_rotate"] = False
            try:
                with st.status(_("Rotating the token…"), expanded=True) as box:
                    result = rotate(banners.token_service(), conn.name, push_to_entra=push, progress=box.write)
                    box.update(label=_("Rotation finished"), state="complete", expanded=False)
            except Exception as exc:  # the old token stays and keeps working
                errors.log_exception(exc)
                errors.show_error(exc, what=_("rotating the token"))
                return
            remember_outcome("Rotated", conn, result.status, pushed=bool(result.pushed), push_error=result.push_error,
                      rotation=result.message)
            st.rerun()
        if b.button(_("Cancel"), key="token.rotate_cancel"):
            st.session_state["token.confirm_rotate"] = False
            st.rerun()


def result_panel(conn: Connection, status: TokenStatus | None) -> bool:
    """The outcome of the last action on this connection, while it is still about the current token. Returns
    True when it showed the Entra steps (so the page does not repeat them)."""
    done = st.session_state.get(KEY_RESULT)
    if not done or done.get("connection") != conn.name:
        return False
    current = getattr(status, "fingerprint", None)
    if done["action"] != "Tested" and done.get("fingerprint") != current:
        st.session_state.pop(KEY_RESULT, None)  # another token since: the panel is about nothing now
        return False
    action, message = done["action"], md_escape(done.get("message"), limit=1000)
    with st.container(border=True):
        top, close = st.columns([6, 1], vertical_alignment="center")
        with close:
            if st.button(_("Close"), key="token.result_close", icon=":material/close:"):
                st.session_state.pop(KEY_RESULT, None)
                st.rerun()
        with top:
            if action == "Tested":
                bad = done.get("level") in ("rejected", "expired", "missing")
                (st.error if bad else st.success)(
                    _("**Tested:** {message}").format(message=message)
                    + (f" {md_escape(done.get('remedy'), limit=1000)}" if bad else ""),
                    icon=":material/network_check:")
                return False
            if action == "Rotated" and done.get("pushed"):
                st.success(_("**Token rotated and written to Entra's provisioning job; Entra validated it.** "
                             "{message}").format(message=message), icon=":material/check_circle:")
                return False
            heading = _(ACTION_WORDS[action]) if action in ACTION_WORDS else action
            text = _("**{action}: …{fp}.** {message}").format(action=heading, fp=md_escape(done.get("fingerprint")),
                                                               message=message)
            if done.get("push_error"):
                text += "\n\n" + _("Not pushed to Entra: {error}").format(
                    error=md_escape(done["push_error"], limit=600))
            st.success(text, icon=":material/check_circle:")
        setup_ui.entra_steps(conn, key="token.entra_now",
                             heading=_("**Now give Entra this token**: provisioning starts once it has it.")
                             if done.get("first") else
                             _("**Now give Entra this token** (it keeps using the old one until you do):"))
    return True


def expiry_timeline(conn: Connection, status: TokenStatus | None) -> None:
    if status is None or status.expires_at is None:
        st.caption(_("No expiry to show yet: generate or import a token."))
        return
    now = session.context().now()
    issued = status.issued_at or (status.expires_at - timedelta(days=365))
    zone = fmt.operator_zone()
    # the hover's date in the operator's language (Plotly's d3 time format)
    day = pgettext("Plotly date format", "%d %b %Y")
    minute = pgettext("Plotly date and time format", "%d %b %Y %H:%M")
    token_row, reminders_row, rotations_row = _("Token"), _("Reminders"), _("Rotations")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[fmt.local(issued), fmt.local(status.expires_at)], y=[token_row, token_row],
                             mode="lines+markers", line={"width": 14, "color": "#2e7d32"},
                             name=_("Token …{fp}").format(fp=status.fingerprint or ""),
                             hovertemplate="%{x|" + day + "}<extra></extra>"))
    labelled = sorted(conn.reminder_days, reverse=True)[:3]  # the short ones would overlap at a year's scale
    for days in sorted(conn.reminder_days, reverse=True):
        at = status.expires_at - timedelta(days=days)
        before = count(days, "Reminder {n} day before expiry", "Reminder {n} days before expiry")
        fig.add_trace(go.Scatter(x=[fmt.local(at)], y=[reminders_row], mode="markers+text",
                                 marker={"size": 11, "symbol": "diamond",
                                         "color": "#ef6c00" if at <= now else "#90a4ae"},
                                 text=[count(days, "{n} d", "{n} d") if days in labelled else ""],
                                 textposition="bottom center", showlegend=False,
                                 hovertemplate=plot_text(before) + ": %{x|" + day + "}<extra></extra>"))
    today = fmt.local(now)
    fig.add_shape(type="line", x0=today, x1=today, y0=0, y1=1, yref="paper", line={"dash": "dot", "color": "#1565c0"})
    fig.add_annotation(x=today, y=1, yref="paper", text=_("today"), showarrow=False, yanchor="bottom")
    for rotation in rotations(banners.token_service(), conn.name, limit=20):
        started = rotation.get("started_at")
        if started:
            kind = str(rotation.get("outcome"))
            outcome = _(ROTATION_WORDS[kind]) if kind in ROTATION_WORDS else kind
            fig.add_trace(go.Scatter(x=[fmt.local(datetime.fromisoformat(started))], y=[rotations_row],
                                     mode="markers", marker={"size": 10, "symbol": "circle",
                                                             "color": "#2e7d32" if rotation.get("outcome") != "failed"
                                                             else "#c62828"},
                                     showlegend=False,
                                     hovertemplate=plot_text(_("Rotation ({outcome})").format(outcome=outcome))
                                     + ": %{x|" + minute + "}<extra></extra>"))
    fig.update_layout(height=240, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
                      xaxis_title=_("Time ({zone})").format(zone=getattr(zone, "key", str(zone))),
                      xaxis_tickformat=pgettext("Plotly axis date format", "%b %Y"))
    st.plotly_chart(fig, width="stretch", key="connection.timeline")


def ics_download(conn: Connection, status: TokenStatus | None) -> None:
    if status is None or status.expires_at is None:
        return

    try:
        data = token_ics(session.context(), conn, status)
    except Exception as exc:
        errors.log_exception(exc)
        errors.show_error(exc, what=_("building the calendar file"))
        return
    st.download_button(_("Add the expiry and reminders to a calendar (.ics)"), data=data,
                       file_name=f"{conn.name}-token-expiry.ics".replace(" ", "_"), mime="text/calendar",
                       icon=":material/event:", key="token.ics")


def incomplete_box(conn: Connection, health: Health, info: BackendInfo) -> None:
    """An incomplete connection says so, with its one next step, and takes the key right here."""
    with st.container(border=True):
        st.warning(_("**{name} is incomplete.** {message}").format(name=md_escape(conn.name),
                                                                     message=md_escape(health.message, limit=600))
                   + "\n\n" + _("**Next step:** {step}").format(step=md_escape(health.next_step, limit=600)),
                   icon=":material/build:")
        if conn.auth_mode != "6clicks-api-key":
            st.caption(_("Paste its token under **Import a token** below."))
            return
        if not (info.secure and not info.locked) and not conn.is_demo:
            st.caption(_("Unlock or create the keyring at the top of this page first."))
            return
        generation = st.session_state.setdefault("connection.key_generation", 0)
        with st.form(f"conn.key.{conn.name}.{generation}"):
            key = st.text_input(_("API key"), type="password", key=f"conn.key.{conn.name}.{generation}.value",
                                help=_("Of a dedicated 6clicks user with exactly the six SCIM permissions. Checked "
                                       "with 6clicks, then stored in the keyring; the first token is generated at "
                                       "once."))
            submitted = st.form_submit_button(_("Check the key and generate the token"), type="primary",
                                              icon=":material/key:")
        if submitted:
            try:
                with st.spinner(_("Checking the key with 6clicks and generating the token…")):
                    status = store_key_and_token(session.context(), conn.name, key)
            except Exception as exc:  # a refused key changes nothing; the field keeps what was typed
                errors.log_exception(exc)
                errors.show_error(exc, what=_("storing the API key"))
                return
            st.session_state["connection.key_generation"] = generation + 1
            remember_outcome("Generated", conn, status, first=True)
            st.rerun()


def token_tab(conn: Connection, info: BackendInfo) -> None:
    st.subheader(md_escape(conn.name) + (" · " + _("DEMO") if conn.is_demo else ""), divider="gray")
    health = connection_health(session.context(), conn, deep=True)
    if health.state == "incomplete":
        incomplete_box(conn, health, info)
    status = banners.token_status(conn)
    token_summary(conn, status)
    token_actions(conn)
    shown = result_panel(conn, status)
    if status is not None and status.fingerprint and not shown:
        where = in_entra(banners.token_service(), conn)
        label = _("The token in Entra: {state}").format(
            state=_(IN_ENTRA_WORDS[where]) if where in IN_ENTRA_WORDS else _("not confirmed yet"))
        with st.expander(label, icon=":material/cloud_sync:", expanded=False):
            setup_ui.entra_steps(conn, key="token.entra")
    st.markdown(_("**Expiry timeline**"))
    expiry_timeline(conn, status)
    ics_download(conn, status)
