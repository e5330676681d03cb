"""Connection & token: the keyring's state (create with a confirmed passphrase, unlock), the selected connection's
token (test, generate, import, rotate, expiry timeline, .ics) with the way the token gets into Entra right after
it was made, the connection's settings, Microsoft Graph (permissions per feature beside the fields, the job read
from the service principal), reminders (channels, Send test, the daily job), and adding a connection, which is
saved only once its check passed.

Tabs follow the ``tab`` query parameter, so a link can open one (``setup_ui.link_to_tab``). The outcome of an
action lives in ``result.connection`` and goes when the admin leaves the page (``shell.page_state``) or the token
changes. Secrets typed here go from the password field straight into the keyring through the console core; they
are never cached or shown (fingerprints only), except the token in the run where the admin asked to reveal it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from console.connections import (
    AUTH_MODES,
    DEFAULT_GRAPH_BASE_URL,
    DEFAULT_LOGIN_BASE_URL,
    Connection,
    ConnectionRepo,
    EntraSettings,
    describe_role_rule,
    split_role_rule,
)
from console.graph import GraphClient, check_access, find_jobs
from console.notify.reminders import describe_channels, set_notify_urls, token_ics
from console.setup import SetupError, add_connection_checked, connection_health, store_key_and_token
from console.tokens.service import EXPIRY_SOURCES, TEST_RESULTS
from pages import _setup_ui as setup_ui
from pages._ui import banners, errors, session, shell
from pages._ui import format as fmt
from pages._ui.text import md_escape, plain, plot_text

KEY_RESULT = "result.connection"  # the last action's outcome (no secret): {action, connection, fingerprint, ...}
KEY_PENDING_TAB = "connection.pending_tab"
KEY_JOBS = "result.connection.jobs"  # jobs found on the service principal when there are several
KEY_ACCESS = "result.connection.access"  # the last Graph access check
AUTH_LABELS = {"6clicks-api-key": "6clicks API key → long-lived token", "static-token": "A pasted static token"}
ROLE_KINDS = {"prefix": "start with", "regex": "match the pattern"}
ROTATION_WORDS = {"pushed": "pushed to Entra", "manual": "Entra updated by hand", "failed": "failed"}


# --- token ---------------------------------------------------------------------------------------------------
def token_summary(conn: Any, status: Any) -> None:

    banners.token_badge(status)
    if status is None:
        st.error("The token's state cannot be read: the keyring is not usable (see above).")
        return
    a, b, c, d = st.columns(4)
    a.metric("Days left", "—" if status.days_left is None else f"{status.days_left}")
    b.metric("Expires", fmt.fmt_time(status.expires_at, date_only=True),
             help="Estimated (365 days from issue): the token carries no readable expiry."
             if status.estimated else None)
    c.metric("Fingerprint", f"…{status.fingerprint}" if status.fingerprint else "—",
             help="Last 4 hex characters of the token's SHA-256; the token itself is never shown.")
    tested = TEST_RESULTS.get(status.last_test_result or "", status.last_test_result or "never")
    d.metric("Last test", md_escape(tested) if status.last_test_at else "never",
             help=f"Tested {fmt.fmt_time(status.last_test_at)}" if status.last_test_at else None)
    if status.level != "missing":
        st.caption(md_escape(f"{status.message} {status.remedy or ''}", limit=1000))
    if status.issued_at or status.expiry_source:
        source = EXPIRY_SOURCES.get(status.expiry_source or "", "unknown")
        st.caption((f"Issued {fmt.fmt_time(status.issued_at)} · " if status.issued_at else "")
                   + f"expiry date {md_escape(source)}")


def _remember(action: str, conn: Any, status: Any, **extra: Any) -> None:
    """The outcome of ``action`` for the panel under the buttons (no secret); it goes with the page."""
    st.session_state[KEY_RESULT] = {
        "action": action, "connection": conn.name, "fingerprint": getattr(status, "fingerprint", None),
        "level": getattr(status, "level", None), "message": getattr(status, "message", ""),
        "remedy": getattr(status, "remedy", ""), "at": datetime.now(UTC), **extra}


def _attempt(action: str, conn: Any, call: Any, **extra: Any) -> None:
    try:
        result = call()
    except Exception as exc:  # TokenError etc. carry message + remedy; nothing was replaced
        errors.log_exception(exc)
        errors.show_error(exc, what=action.lower())
        return
    _remember(action, conn, result, **extra)
    st.rerun()


def token_actions(conn: Any) -> None:
    svc = banners.token_service()
    cols = st.columns(3)
    if cols[0].button("Test token", key="token.test", icon=":material/network_check:", width="stretch",
                      help="Asks 6clicks for one user with the stored token (GET /scim/Users)."):
        with st.spinner("Testing the token…"):
            _attempt("Tested", conn, lambda: svc.test(conn.name))
    api_key_mode = conn.auth_mode == "6clicks-api-key"
    if cols[1].button("Generate token", key="token.generate", icon=":material/key:", width="stretch",
                      disabled=not api_key_mode,
                      help="Exchange the stored API key for a new long-lived token (Entra keeps the old one until "
                           "you give it the new one)."):
        first = getattr(banners.token_status(conn), "level", None) == "missing"  # Entra has no older token then
        with st.spinner("Generating a token…"):
            _attempt("Generated", conn, lambda: svc.generate(conn.name), first=first)
    if cols[2].button("Rotate token", key="token.rotate", icon=":material/autorenew:", width="stretch",
                      type="primary", disabled=not api_key_mode,
                      help="New token, tested, then written to Entra's provisioning job when Microsoft Graph is set "
                           "up (otherwise the steps to do it by hand)."):
        st.session_state["token.confirm_rotate"] = True
    if st.session_state.get("token.confirm_rotate"):
        rotate_confirmation(conn)
    with st.expander("Import a token", icon=":material/content_paste:"):
        st.caption("For a token generated elsewhere (e.g. in 6clicks' Swagger page), or the static bearer token of "
                   "another SCIM provider. It is tested, then goes straight into the keyring.")
        with st.form("token.import_form", clear_on_submit=True):
            pasted = st.text_input("Access token", type="password", key="token.import_value")
            estimated = st.checkbox("It has no readable expiry: assume 365 days from today (shown as estimated)",
                                    key="token.import_estimated")
            if st.form_submit_button("Import token", icon=":material/upload:"):
                if not pasted.strip():
                    st.error("Paste the token first.")
                else:
                    try:
                        result = svc.import_token(conn.name, pasted.strip(), accept_estimated=estimated)
                    except Exception as exc:  # refused tokens are not stored; the previous one stays
                        errors.show_error(exc, what="importing the token")
                    else:
                        _remember("Imported", conn, result)
                        st.rerun()


def rotate_confirmation(conn: Any) -> None:
    with st.container(border=True):
        push = conn.entra is not None and conn.entra.can_manage_job
        st.markdown("**Rotate the token now?** A new long-lived token is generated from the stored API key and "
                    "tested. " + ("It is then written to Entra's provisioning job through Microsoft Graph." if push
                                  else "Microsoft Graph is not set up with a job, so you will give it to Entra "
                                  "yourself (the steps follow)."))
        a, b = st.columns(2)
        if a.button("Rotate", key="token.rotate_confirm", type="primary", icon=":material/autorenew:"):
            st.session_state["token.confirm_rotate"] = False
            try:
                with st.status("Rotating the token…", expanded=True) as box:
                    result = banners.token_service().rotate(conn.name, push_to_entra=push)
                    box.update(label="Rotation finished", state="complete", expanded=False)
            except Exception as exc:  # the old token stays and keeps working
                errors.log_exception(exc)
                errors.show_error(exc, what="rotating the token")
                return
            _remember("Rotated", conn, result.status, pushed=bool(result.pushed), push_error=result.push_error,
                      rotation=result.message)
            st.rerun()
        if b.button("Cancel", key="token.rotate_cancel"):
            st.session_state["token.confirm_rotate"] = False
            st.rerun()


def result_panel(conn: Any, status: Any) -> bool:
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
            if st.button("Close", key="token.result_close", icon=":material/close:"):
                st.session_state.pop(KEY_RESULT, None)
                st.rerun()
        with top:
            if action == "Tested":
                bad = done.get("level") in ("rejected", "expired", "missing")
                (st.error if bad else st.success)(
                    f"**Tested:** {message}" + (f" {md_escape(done.get('remedy'), limit=1000)}" if bad else ""),
                    icon=":material/network_check:")
                return False
            if action == "Rotated" and done.get("pushed"):
                st.success(f"**Token rotated and written to Entra's provisioning job; Entra validated it.** "
                           f"{message}", icon=":material/check_circle:")
                return False
            words = {"Generated": "Token generated", "Imported": "Token imported", "Rotated": "Token rotated"}
            text = f"**{words.get(action, action)}: …{md_escape(done.get('fingerprint'))}.** {message}"
            if done.get("push_error"):
                text += f"\n\nNot pushed to Entra: {md_escape(done['push_error'], limit=600)}"
            st.success(text, icon=":material/check_circle:")
        setup_ui.entra_steps(conn, key="token.entra_now",
                             heading="**Now give Entra this token**" + (
                                 ": provisioning starts once it has it." if done.get("first") else
                                 " (it keeps using the old one until you do):"))
    return True


def expiry_timeline(conn: Any, status: Any) -> None:
    if status is None or status.expires_at is None:
        st.caption("No expiry to show yet: generate or import a token.")
        return
    now = datetime.now(UTC)
    issued = status.issued_at or (status.expires_at - timedelta(days=365))
    zone = fmt.operator_zone()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[fmt.local(issued), fmt.local(status.expires_at)], y=["Token", "Token"],
                             mode="lines+markers", line={"width": 14, "color": "#2e7d32"},
                             name=f"Token …{status.fingerprint or ''}",
                             hovertemplate="%{x|%d %b %Y}<extra></extra>"))
    labelled = sorted(conn.reminder_days, reverse=True)[:3]  # the short ones would overlap at a year's scale
    for days in sorted(conn.reminder_days, reverse=True):
        at = status.expires_at - timedelta(days=days)
        fig.add_trace(go.Scatter(x=[fmt.local(at)], y=["Reminders"], mode="markers+text",
                                 marker={"size": 11, "symbol": "diamond",
                                         "color": "#ef6c00" if at <= now else "#90a4ae"},
                                 text=[f"{days} d" if days in labelled else ""], textposition="bottom center",
                                 showlegend=False,
                                 hovertemplate=f"Reminder {days} days before expiry: %{{x|%d %b %Y}}<extra></extra>"))
    today = fmt.local(now)
    fig.add_shape(type="line", x0=today, x1=today, y0=0, y1=1, yref="paper", line={"dash": "dot", "color": "#1565c0"})
    fig.add_annotation(x=today, y=1, yref="paper", text="today", showarrow=False, yanchor="bottom")
    for rotation in banners.token_service().rotations(conn.name, limit=20):
        started = rotation.get("started_at")
        if started:
            outcome = ROTATION_WORDS.get(str(rotation.get("outcome")), str(rotation.get("outcome")))
            fig.add_trace(go.Scatter(x=[fmt.local(datetime.fromisoformat(started))], y=["Rotations"],
                                     mode="markers", marker={"size": 10, "symbol": "circle",
                                                             "color": "#2e7d32" if rotation.get("outcome") != "failed"
                                                             else "#c62828"},
                                     showlegend=False,
                                     hovertemplate=f"Rotation ({plot_text(outcome)}): "
                                     "%{x|%d %b %Y %H:%M}<extra></extra>"))
    fig.update_layout(height=240, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
                      xaxis_title=f"Time ({getattr(zone, 'key', str(zone))})")
    st.plotly_chart(fig, width="stretch", key="connection.timeline")


def ics_download(conn: Any, status: Any) -> None:
    if status is None or status.expires_at is None:
        return

    try:
        data = token_ics(session.context(), conn, status)
    except Exception as exc:
        errors.log_exception(exc)
        errors.show_error(exc, what="building the calendar file")
        return
    st.download_button("Add the expiry and reminders to a calendar (.ics)", data=data,
                       file_name=f"{conn.name}-token-expiry.ics".replace(" ", "_"), mime="text/calendar",
                       icon=":material/event:", key="token.ics")


def incomplete_box(conn: Any, health: Any, info: Any) -> None:
    """An incomplete connection says so, with its one next step, and takes the key right here."""

    with st.container(border=True):
        st.warning(f"**{md_escape(conn.name)} is incomplete.** {md_escape(health.message, limit=600)}\n\n"
                   f"**Next step:** {md_escape(health.next_step, limit=600)}", icon=":material/build:")
        if conn.auth_mode != "6clicks-api-key":
            st.caption("Paste its token under **Import a token** below.")
            return
        if not (info.secure and not info.locked) and not conn.is_demo:
            st.caption("Unlock or create the keyring at the top of this page first.")
            return
        generation = st.session_state.setdefault("connection.key_generation", 0)
        with st.form(f"conn.key.{conn.name}.{generation}"):
            key = st.text_input("API key", type="password", key=f"conn.key.{conn.name}.{generation}.value",
                                help="Of a dedicated 6clicks user with exactly the six SCIM permissions. Checked with "
                                     "6clicks, then stored in the keyring; the first token is generated at once.")
            submitted = st.form_submit_button("Check the key and generate the token", type="primary",
                                              icon=":material/key:")
        if submitted:
            try:
                with st.spinner("Checking the key with 6clicks and generating the token…"):
                    status = store_key_and_token(session.context(), conn.name, key)
            except Exception as exc:  # a refused key changes nothing; the field keeps what was typed
                errors.log_exception(exc)
                errors.show_error(exc, what="storing the API key")
                return
            st.session_state["connection.key_generation"] = generation + 1
            _remember("Generated", conn, status, first=True)
            st.rerun()


def token_tab(conn: Any, info: Any) -> None:

    st.subheader(md_escape(conn.name) + (" · DEMO" if conn.is_demo else ""), divider="gray")
    health = connection_health(session.context(), conn, deep=True)
    if health.state == "incomplete":
        incomplete_box(conn, health, info)
    status = banners.token_status(conn)
    token_summary(conn, status)
    token_actions(conn)
    shown = result_panel(conn, status)
    if status is not None and status.fingerprint and not shown:
        where = banners.token_service().in_entra(conn)
        label = ("The token in Entra: " + ({"pushed": "pushed through Graph", "confirmed": "confirmed by you"}
                                            .get(where or "", "not confirmed yet")))
        with st.expander(label, icon=":material/cloud_sync:", expanded=False):
            setup_ui.entra_steps(conn, key="token.entra")
    st.markdown("**Expiry timeline**")
    expiry_timeline(conn, status)
    ics_download(conn, status)


# --- connection settings -----------------------------------------------------------------------------------------
def _role_rule_inputs(prefix: str, rule: str | None) -> str:

    kind, value = split_role_rule(rule)
    a, b = st.columns([1, 2])
    chosen = a.selectbox("Roles are groups whose names", list(ROLE_KINDS), index=list(ROLE_KINDS).index(kind),
                         format_func=ROLE_KINDS.__getitem__, key=f"{prefix}.role_kind",
                         help="How 6clicks roles are told from groups (both arrive from Entra as SCIM groups).")
    text = b.text_input("Role names text", value=value, key=f"{prefix}.role_rule",
                        help="e.g. “Role - ” (with its trailing space) or, for a pattern, ^(Role|Roles) - ")
    return f"{chosen}:{text}"


def settings_tab(conn: Any, info: Any) -> None:

    if conn.is_demo:
        st.info("This is the embedded demo: its URLs and secrets are set up automatically at each start. The role "
                "rule can still be changed here.", icon=":material/science:")
    st.caption(f"SCIM base URL in use: {md_escape(conn.scim_url)} · Tenant URL for Entra: "
               f"{md_escape(conn.tenant_url)} · Roles: {md_escape(describe_role_rule(conn.role_rule))}")
    generation = st.session_state.setdefault("connection.form_generation", 0)
    prefix = f"conn.edit.{conn.name}.{generation}"
    with st.form(prefix):
        api_url = st.text_input("6clicks API base URL", value=conn.api_url, key=f"{prefix}.api_url",
                                disabled=conn.is_demo)
        scim_url = st.text_input("SCIM base URL (leave empty for API URL + /scim)",
                                 value="" if conn.scim_url_derived else conn.scim_url, key=f"{prefix}.scim_url",
                                 disabled=conn.is_demo)
        auth_mode = st.selectbox("How the bearer token is obtained", AUTH_MODES,
                                 index=AUTH_MODES.index(conn.auth_mode), key=f"{prefix}.auth",
                                 format_func=AUTH_LABELS.__getitem__, disabled=conn.is_demo)
        api_key = st.text_input("New API key (leave empty to keep the stored one)", type="password",
                                key=f"{prefix}.api_key", disabled=conn.is_demo,
                                help="Checked with 6clicks before it replaces the stored one.")
        role_rule = _role_rule_inputs(prefix, conn.role_rule)
        submitted = st.form_submit_button("Save changes", type="primary", icon=":material/save:")
    if submitted:
        if api_key.strip() and not (info.secure and not info.locked) and not conn.is_demo:
            st.error("**The API key cannot be stored: the keyring is not usable.** Unlock or create it at the top of "
                     "this page. Nothing was saved.", icon=":material/key_off:")
        else:
            try:
                if not conn.is_demo:
                    conn.api_url, conn.scim_url, conn.auth_mode = api_url, scim_url or None, auth_mode
                conn.role_rule = role_rule
                conn = ConnectionRepo(session.context().store).update(conn)
                note = ""
                if api_key.strip():
                    status = store_key_and_token(session.context(), conn.name, api_key)
                    note = (" The new API key was accepted by 6clicks and stored."
                            + (" Its first token was generated." if status.origin == "generated"
                               and status.level == "ok" and status.issued_at and
                               (datetime.now(UTC) - status.issued_at) < timedelta(minutes=5) else
                               " The current token stays valid until the old key is deleted in 6clicks: generate a "
                               "new one when you are ready."))
            except Exception as exc:  # InvalidInput etc.: message + remedy; the form's values are kept for a retry
                errors.show_error(exc, what="saving the connection")
            else:
                st.session_state["connection.form_generation"] = generation + 1
                setup_ui.flash("success", f"Connection {conn.name!r} saved." + note)
                st.rerun()
    if not conn.is_demo:
        remove_connection(conn)


def remove_connection(conn: Any) -> None:

    with st.expander("Remove this connection", icon=":material/delete:"):
        st.caption("Deletes its settings and its secrets from the keyring. Snapshots and history stay on disk.")
        confirm = st.text_input(f"Type {md_escape(conn.name)} to confirm", key=f"remove.{conn.name}")
        if st.button("Remove", key=f"remove.button.{conn.name}", disabled=confirm.strip() != conn.name):
            try:
                ConnectionRepo(session.context()).remove(conn.name)
            except Exception as exc:
                errors.show_error(exc, what="removing the connection")
                return
            session.select_connection(None)
            st.session_state.pop("connection", None)
            setup_ui.flash("success", f"Connection {conn.name!r} removed.")
            st.rerun()


# --- Microsoft Graph -------------------------------------------------------------------------------------------
def graph_tab(conn: Any, info: Any) -> None:

    st.caption("Optional. With Microsoft Graph the console reads Entra's provisioning logs and the job's health "
               "(Sync history, alerts) and writes new tokens into Entra itself. It uses an app registration of its "
               "own with a client secret.")
    e = conn.entra
    form_col, help_col = st.columns([3, 2], gap="large")
    with help_col:
        setup_ui.permissions_list()
        setup_ui.own_list("**Where to find the values** (Entra admin center):\n"
                    "- Tenant id and client id: App registrations > the console's app > Overview (Directory (tenant) "
                    "ID, Application (client) ID).\n"
                    "- Client secret: the same app > Certificates & secrets > New client secret > its **Value**.\n"
                    "- Service principal id: Enterprise applications > the **6clicks SCIM app** > Overview > "
                    "**Object ID** (not the app registration's object id).\n"
                    "- The provisioning job id is then read from that service principal for you.", "graph.where")
    generation = st.session_state.setdefault("connection.graph_generation", 0)
    prefix = f"conn.graph.{conn.name}.{generation}"
    with form_col, st.form(prefix):
        c1, c2 = st.columns(2)
        tenant = c1.text_input("Tenant id", value=e.tenant_id if e else "", key=f"{prefix}.tenant")
        client = c2.text_input("Client id (app registration)", value=e.client_id if e else "", key=f"{prefix}.client")
        secret = st.text_input("Client secret" + (" (leave empty to keep the stored one)" if e else ""),
                               type="password", key=f"{prefix}.secret")
        sp = st.text_input("Service principal object id (the 6clicks SCIM enterprise app)",
                           value=e.service_principal_id if e else "", key=f"{prefix}.sp")
        job = st.text_input("Provisioning job id (leave empty: found for you)", value=e.job_id if e else "",
                            key=f"{prefix}.job")
        with st.expander("Other clouds"):
            graph = st.text_input("Graph base URL", value=e.graph_base_url if e else DEFAULT_GRAPH_BASE_URL,
                                  key=f"{prefix}.graph")
            login = st.text_input("Login base URL", value=e.login_base_url if e else DEFAULT_LOGIN_BASE_URL,
                                  key=f"{prefix}.login")
        save = st.form_submit_button("Save and find the job", type="primary", icon=":material/travel_explore:")
    if save:
        save_graph(conn, info, tenant, client, secret, sp, job, graph, login, prefix_generation=generation)
    choose_job(conn)
    if e is not None:
        a, b = st.columns(2)
        if a.button("Check what the app may do", key="graph.check", icon=":material/fact_check:",
                    help="Signs in and reads one log record and the job list (no writes)."):
            check_graph(conn)
        if b.button("Remove the Graph settings", key="graph.remove", icon=":material/link_off:"):

            conn.entra = None
            ConnectionRepo(session.context()).update(conn)
            session.context().credentials.delete(conn.name, "graph_client_secret")
            setup_ui.flash("success", "Microsoft Graph settings and client secret removed.")
            st.rerun()
        show_access()


def save_graph(conn: Any, info: Any, tenant: str, client: str, secret: str, sp: str, job: str, graph: str,
               login: str, *, prefix_generation: int) -> None:

    if not tenant.strip() or not client.strip():
        st.error("Give both the tenant id and the client id (App registrations > the app > Overview).")
        return
    if secret.strip() and not (info.secure and not info.locked) and not conn.is_demo:
        st.error("**The client secret cannot be stored: the keyring is not usable.** Unlock or create it at the top "
                 "of this page. Nothing was saved.", icon=":material/key_off:")
        return
    ctx = session.context()
    try:
        conn.entra = EntraSettings(tenant_id=tenant, client_id=client, service_principal_id=sp, job_id=job,
                                   graph_base_url=graph, login_base_url=login)
        conn = ConnectionRepo(ctx.store).update(conn)
        if secret.strip():
            ctx.credentials.set(conn.name, "graph_client_secret", secret.strip())
    except Exception as exc:
        errors.show_error(exc, what="saving the Graph settings")
        return
    st.session_state["connection.graph_generation"] = prefix_generation + 1
    message = "Microsoft Graph settings saved."
    if conn.entra is not None and conn.entra.service_principal_id and not conn.entra.job_id:
        try:
            with st.spinner("Reading the provisioning jobs of the service principal…"), \
                    GraphClient.for_connection(ctx, conn) as client_:
                jobs = find_jobs(client_)
        except Exception as exc:
            errors.log_exception(exc)
            setup_ui.flash("warning", f"{message} The job could not be found yet: {getattr(exc, 'message', exc)} "
                           f"{getattr(exc, 'remedy', '')}")
            st.rerun()
        scim = [j for j in jobs if j.is_scim]
        if len(scim) == 1:
            _store_job(conn, scim[0].id)
            message += f" The provisioning job {scim[0].id} was found on the service principal and stored."
        elif jobs:
            st.session_state[KEY_JOBS] = {"connection": conn.name,
                                          "jobs": [(j.id, j.template, j.status) for j in jobs]}
            message += " The service principal has several provisioning jobs: choose one below."
        else:
            message += (" The service principal has no provisioning job yet: in Entra set its Provisioning mode to "
                        "Automatic and save, then save here again.")
    elif conn.entra is not None and not conn.entra.service_principal_id:
        message += " Add the service principal's object id to find the job."
    setup_ui.flash("success", message)
    st.rerun()


def _store_job(conn: Any, job_id: str) -> None:

    conn.entra = replace(conn.entra, job_id=job_id)
    ConnectionRepo(session.context().store).update(conn)


def choose_job(conn: Any) -> None:
    found = st.session_state.get(KEY_JOBS)
    if not found or found.get("connection") != conn.name:
        return
    with st.container(border=True):
        options = [j[0] for j in found["jobs"]]
        labels = {j[0]: f"{j[0]} ({j[1] or 'unknown template'}, {j[2] or 'unknown status'})" for j in found["jobs"]}
        chosen = st.selectbox("Provisioning job of the 6clicks SCIM app", options,
                              format_func=lambda j: plain(labels.get(j, j)), key="graph.job_choice")
        if st.button("Use this job", key="graph.job_use", type="primary"):
            _store_job(conn, chosen)
            st.session_state.pop(KEY_JOBS, None)
            setup_ui.flash("success", f"Job {chosen} stored.")
            st.rerun()


def check_graph(conn: Any) -> None:

    try:
        with st.spinner("Checking Microsoft Graph…"), GraphClient.for_connection(session.context(), conn) as client:
            checks = check_access(client)
    except Exception as exc:
        errors.log_exception(exc)
        errors.show_error(exc, what="checking Microsoft Graph")
        return
    st.session_state[KEY_ACCESS] = {"connection": conn.name, "checks": [
        (c.feature, c.permissions, c.state, c.message) for c in checks]}


def show_access() -> None:
    done = st.session_state.get(KEY_ACCESS)
    if not done:
        return
    words = {"ok": ("works", st.success), "missing": ("permission missing", st.error), "error": ("failed", st.error),
             "not-checked": ("checked at the first push", st.info)}
    for feature, permissions, state, message in done["checks"]:
        word, show = words.get(state, (state, st.info))
        show(f"**{md_escape(feature)}: {word}** ({md_escape(permissions)})"
             + (f"\n\n{md_escape(message, limit=600)}" if message and state != "not-checked" else ""))


# --- reminders -------------------------------------------------------------------------------------------------
def reminders_tab(conn: Any) -> None:

    try:
        channels = describe_channels(session.context(), conn)
    except Exception as exc:  # a locked or unusable keyring: say so, the rest of the form still works
        channels = None
        st.caption(f"Configured notification channels cannot be read: {md_escape(getattr(exc, 'message', exc))}")
    if channels:
        st.markdown("**Notification channels:** " + ", ".join(md_escape(c["description"]) for c in channels))
    elif channels is not None:
        st.caption("No notification channel yet: reminders show in the app (banner, Overview) only.")
    # a new generation of the form after each save: the typed URLs (they carry credentials) leave session state
    generation = st.session_state.setdefault("reminders.generation", 0)
    prefix = f"reminders.{conn.name}.{generation}"
    with st.form(prefix):
        days = st.text_input("Remind me this many days before the token expires",
                             value=", ".join(str(d) for d in conn.reminder_days), key=f"{prefix}.days")
        urls = st.text_input("Notification URLs (apprise, comma-separated; leave empty to keep)", type="password",
                             key=f"{prefix}.urls",
                             help="e.g. msteams://…, slack://…, mailtos://…, json://host/path — stored in the keyring, "
                                  "since they carry credentials.")
        saved = st.form_submit_button("Save reminder settings", icon=":material/notifications:")
    if saved:
        try:
            conn.reminder_days = tuple(int(d) for d in days.replace(";", ",").split(",") if d.strip())
            ConnectionRepo(session.context().store).update(conn)
            if urls.strip():
                set_notify_urls(session.context(), conn, [u.strip() for u in urls.split(",") if u.strip()])
        except ValueError:
            st.error("Reminder days must be whole numbers separated by commas, e.g. 60, 30, 14, 7, 3, 1.")
        except Exception as exc:
            errors.show_error(exc, what="saving the reminder settings")
        else:
            st.session_state["reminders.generation"] = generation + 1
            setup_ui.flash("success", "Reminder settings saved." + (" Use Send test to check the channel."
                                                                     if urls.strip() else ""))
            st.rerun()
    setup_ui.send_test(conn, key=f"reminders.{conn.name}")
    st.divider()
    setup_ui.daily_job(session.context())


# --- add a connection ---------------------------------------------------------------------------------------
def add_tab(info: Any) -> None:

    st.caption("The connection is checked before it is saved: 6clicks must accept the API key, and the first token "
               "must answer the SCIM endpoint. If anything fails, nothing is saved and the form keeps what you typed.")
    if not (info.secure and not info.locked):
        st.warning("Create or unlock the keyring at the top of this page first: the API key and token are kept "
                   "there.", icon=":material/lock:")
    auth_mode = st.selectbox("How the bearer token is obtained", AUTH_MODES, key="conn.new.auth",
                             format_func=AUTH_LABELS.__getitem__,
                             help="6clicks: an API key, exchanged for a one-year token. Other SCIM providers: a "
                                  "static bearer token you paste.")
    generation = st.session_state.setdefault("connection.form_generation", 0)
    prefix = f"conn.new.{generation}"
    with st.form(prefix):
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key=f"{prefix}.name", placeholder="e.g. Production")
        api_url = c2.text_input("6clicks API base URL", placeholder="https://api-au.6clicks.io", key=f"{prefix}.api_url")
        scim_url = st.text_input("SCIM base URL (leave empty for API URL + /scim)", key=f"{prefix}.scim_url")
        token = ""
        estimated = False
        api_key = ""
        if auth_mode == "6clicks-api-key":
            api_key = st.text_input("API key", type="password", key=f"{prefix}.api_key",
                                    help="Of a dedicated 6clicks user with exactly the six SCIM permissions. Checked "
                                         "with 6clicks, stored in the keyring, never shown again.")
        else:
            token = st.text_input("Access token", type="password", key=f"{prefix}.token")
            estimated = st.checkbox("It has no readable expiry: assume 365 days from today", key=f"{prefix}.estimated")
        role_rule = _role_rule_inputs(prefix, None)
        submitted = st.form_submit_button("Check and add the connection", type="primary", icon=":material/add_link:")
    if not submitted:
        return
    if not (info.secure and not info.locked):
        st.error("**The API key and token cannot be stored: the keyring is not usable.** "
                 f"{md_escape(info.remedy, empty='Create or unlock it at the top of this page.')} Nothing was "
                 "saved.", icon=":material/key_off:")
        return
    try:
        conn = Connection(name=name, api_url=api_url, scim_url=scim_url or None, auth_mode=auth_mode or AUTH_MODES[0],
                          role_rule=role_rule)
        with st.spinner("Checking the key with 6clicks and the token with the SCIM endpoint…"):
            conn = add_connection_checked(session.context(), conn, api_key=api_key, token=token,
                                          accept_estimated=estimated)
    except SetupError as exc:
        fields = {"api_key": "API key", "api_url": "6clicks API base URL", "scim_url": "SCIM base URL",
                  "token": "Access token", "name": "Name"}
        errors.show_error(exc)
        if exc.field in fields:
            st.caption(f"Correct the **{fields[exc.field]}** field and click the button again.")
        return
    except Exception as exc:  # InvalidInput (a bad URL or name), a locked keyring…: nothing was saved
        errors.show_error(exc, what="adding the connection")
        return
    status = banners.token_service().status(conn)
    session.select_connection(conn.name)
    st.session_state["connection.form_generation"] = generation + 1
    st.session_state[KEY_PENDING_TAB] = setup_ui.TAB_TOKEN
    _remember("Generated" if auth_mode == "6clicks-api-key" else "Imported", conn, status, first=True)
    setup_ui.flash("success", f"Connection {conn.name!r} added: "
                   + ("6clicks accepted the API key and " if auth_mode == "6clicks-api-key" else "")
                   + f"the first token …{status.fingerprint} works. Now give it to Entra (below).")
    st.rerun()


def main() -> None:
    ctx = session.context()
    shell.page_state(KEY_RESULT, KEY_RESULT + ".")  # outcome panels go when the admin opens another page
    st.title("Connection & token")
    setup_ui.show_flash()
    info = setup_ui.keyring_box(ctx, "connection")
    conn = session.connection(required=False)
    pending = st.session_state.pop(KEY_PENDING_TAB, None)
    if pending in setup_ui.TABS:
        st.session_state["tab"] = pending
    tabs = dict(zip(setup_ui.TABS, st.tabs(list(setup_ui.TABS), key="tab", bind="query-params"), strict=True))
    if conn is None:
        for tab in (setup_ui.TAB_TOKEN, setup_ui.TAB_SETTINGS, setup_ui.TAB_GRAPH, setup_ui.TAB_REMINDERS):
            with tabs[tab]:
                st.info("**No connection is configured yet.** Add your 6clicks tenant under **Add a connection**; "
                        "**Set up a tenant** lists every step.", icon=":material/link_off:")
                st.page_link(setup_ui.SETUP_PAGE, label="Set up a tenant", icon=":material/checklist:")
    else:
        with tabs[setup_ui.TAB_TOKEN], errors.guard("showing the token"):
            token_tab(conn, info)
        with tabs[setup_ui.TAB_SETTINGS], errors.guard("showing the connection settings"):
            settings_tab(conn, info)
        with tabs[setup_ui.TAB_GRAPH], errors.guard("showing the Microsoft Graph settings"):
            graph_tab(conn, info)
        with tabs[setup_ui.TAB_REMINDERS], errors.guard("showing the reminder settings"):
            reminders_tab(conn)
    with tabs[setup_ui.TAB_ADD], errors.guard("adding a connection"):
        add_tab(info)


shell.run_page(main, "showing the connection")
