"""Connection & token: add and edit connections, the keyring's state, the token's life (generate, import,
test, rotate, expiry timeline, .ics reminder), reminder settings, and the exact Entra steps after a rotation.

Secrets typed here go from the password field straight into the credential store through the console core;
they are never kept in session state, cached or shown (fingerprints only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from pages import _ui as ui

KEY_ROTATION = "connection.rotation"  # the last rotation's outcome (no secrets) for the manual steps panel

# --- keyring -------------------------------------------------------------------------------------------------


def keyring_panel(ctx: Any) -> Any:
    info = ctx.credentials.backend_info()
    if info.secure and not info.locked:
        note = "" if info.persistent or "forgotten" in info.label else " Secrets are forgotten when the console stops."
        st.success(f"**Keyring:** {ui.md_escape(info.label)}.{note}", icon=":material/lock:")
    elif info.secure and info.locked:
        creating = "not created yet" in info.label
        st.warning(f"**Keyring:** {ui.md_escape(info.label)}. "
                   + ("Choose a passphrase to create it before adding a real connection."
                      if creating else "Unlock it to read or store secrets.")
                   + " The demo does not need it: its secrets live in memory only.", icon=":material/lock:")
        with st.form("connection.unlock", clear_on_submit=True):
            passphrase = st.text_input("New keyring passphrase" if creating else "Keyring passphrase",
                                       type="password", key="connection.passphrase")
            if st.form_submit_button("Create keyring" if creating else "Unlock", icon=":material/lock_open:"):
                try:
                    ctx.credentials.unlock(passphrase)
                except Exception as exc:  # wrong passphrase: message + remedy, nothing changed
                    ui.show_error(exc)
                else:
                    st.toast("Keyring unlocked.", icon=":material/lock_open:")
                    st.rerun()
    else:
        st.error(f"**No safe place for secrets:** {ui.md_escape(info.label)}.\n\n{ui.md_escape(info.remedy, limit=1000)}",
                 icon=":material/key_off:")
        st.caption("The demo connection still works: its secrets live in memory only.")
    return info


# --- token ---------------------------------------------------------------------------------------------------


def token_summary(conn: Any, status: Any) -> None:
    ui.token_badge(status)
    if status is None:
        st.error("The token's state cannot be read: the keyring is not usable (see above).")
        return
    a, b, c, d = st.columns(4)
    a.metric("Days left", "—" if status.days_left is None else f"{status.days_left}")
    b.metric("Expires", ui.fmt_time(status.expires_at, date_only=True),
             help="Estimated (365 days from issue): the token carries no readable expiry."
             if status.estimated else None)
    c.metric("Fingerprint", f"…{status.fingerprint}" if status.fingerprint else "—",
             help="Last 4 hex characters of the token's SHA-256; the token itself is never shown.")
    d.metric("Last test", ui.md_escape(status.last_test_result, empty="never") if status.last_test_at else "never",
             help=ui.fmt_time(status.last_test_at) if status.last_test_at else None)
    st.caption(ui.md_escape(f"{status.message} {status.remedy or ''}", limit=1000))
    if status.issued_at:
        st.caption(f"Issued {ui.fmt_time(status.issued_at)} · expiry source: "
                   f"{ui.md_escape(status.expiry_source, empty='unknown')}")


def _after(action: str, result: Any) -> None:
    level = getattr(result, "level", None)
    if level in ("rejected", "expired", "missing"):
        st.session_state["connection.flash"] = ("error", f"{action}: {result.message} {result.remedy or ''}")
    else:
        st.session_state["connection.flash"] = ("success", f"{action}: {getattr(result, 'message', 'done')}")


def _attempt(action: str, call: Any) -> None:
    try:
        result = call()
    except Exception as exc:  # TokenError etc. carry message + remedy; nothing was replaced
        ui.log_exception(exc)
        ui.show_error(exc, what=action.lower())
        return
    _after(action, result)
    st.rerun()


def token_actions(conn: Any) -> None:
    svc = ui.token_service()
    cols = st.columns(3)
    if cols[0].button("Test token", key="token.test", icon=":material/network_check:", width="stretch",
                      help="GET /scim/Users with the stored token."):
        with st.spinner("Testing the token…"):
            _attempt("Tested", lambda: svc.test(conn.name))
    api_key_mode = conn.auth_mode == "6clicks-api-key"
    if cols[1].button("Generate token", key="token.generate", icon=":material/key:", width="stretch",
                      disabled=not api_key_mode,
                      help="Exchange the stored API key for a new long-lived token (does not touch Entra)."):
        with st.spinner("Generating a token…"):
            _attempt("Generated", lambda: svc.generate(conn.name))
    if cols[2].button("Rotate token", key="token.rotate", icon=":material/autorenew:", width="stretch",
                      type="primary", disabled=not api_key_mode,
                      help="New token, verified, then pushed to Entra's provisioning job when possible."):
        st.session_state["token.confirm_rotate"] = True
    if st.session_state.get("token.confirm_rotate"):
        rotate_confirmation(conn)
    with st.expander("Import a token", icon=":material/content_paste:"):
        st.caption("For a token generated elsewhere (e.g. in 6clicks' Swagger page), or a static bearer token "
                   "of another SCIM provider. It goes straight into the keyring.")
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
                        ui.show_error(exc, what="importing the token")
                    else:
                        _after("Imported", result)
                        st.rerun()


def rotate_confirmation(conn: Any) -> None:
    with st.container(border=True):
        push = conn.entra is not None and conn.entra.can_manage_job
        st.markdown("**Rotate the token now?** A new long-lived token is generated from the stored API key and "
                    "tested. " + ("It is then written to Entra's provisioning job (Graph secrets)." if push else
                              "Entra is not connected with a job id, so you will paste it into Entra yourself."))
        a, b = st.columns(2)
        if a.button("Rotate", key="token.rotate_confirm", type="primary", icon=":material/autorenew:"):
            st.session_state["token.confirm_rotate"] = False
            try:
                with st.status("Rotating the token…", expanded=True) as box:
                    result = ui.token_service().rotate(conn.name, push_to_entra=push)
                    box.update(label="Rotation finished", state="complete", expanded=False)
            except Exception as exc:  # the old token stays and keeps working
                ui.log_exception(exc)
                ui.show_error(exc, what="rotating the token")
                return
            st.session_state[KEY_ROTATION] = {
                "connection": conn.name, "pushed": bool(result.pushed),
                "manual_steps": list(result.manual_steps or []), "message": result.message,
                "push_error": result.push_error, "at": datetime.now(UTC)}
            st.rerun()
        if b.button("Cancel", key="token.rotate_cancel"):
            st.session_state["token.confirm_rotate"] = False
            st.rerun()


def rotation_outcome(conn: Any) -> None:
    done = st.session_state.get(KEY_ROTATION)
    if not done or done.get("connection") != conn.name:
        return
    if done["pushed"]:
        st.success(f"**Token rotated and written to Entra's provisioning job.** "
                   f"{ui.md_escape(done['message'], limit=1000)}", icon=":material/check_circle:")
        return
    st.warning(f"**Token rotated; Entra still has the old one.** {ui.md_escape(done['message'], limit=1000)} Do "
               "this in Entra now:", icon=":material/assignment:")
    steps = done["manual_steps"] or ui.token_service().manual_steps(conn)
    # this page never displays a secret: the token is copied from the terminal command named in the steps
    st.markdown("\n".join(f"{i}. {ui.md_escape(step, limit=1000)}" for i, step in enumerate(steps, 1)))
    st.caption("The browser never shows the token; copy it from the terminal command above, on this machine.")


def expiry_timeline(conn: Any, status: Any) -> None:
    if status is None or status.expires_at is None:
        st.caption("No expiry to show yet: generate or import a token.")
        return
    now = datetime.now(UTC)
    issued = status.issued_at or (status.expires_at - timedelta(days=365))
    zone = ui.operator_zone()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[ui.local(issued), ui.local(status.expires_at)], y=["Token", "Token"],
                             mode="lines+markers", line={"width": 14, "color": "#2e7d32"},
                             name=f"Token …{status.fingerprint or ''}",
                             hovertemplate="%{x|%d %b %Y}<extra></extra>"))
    labelled = sorted(conn.reminder_days, reverse=True)[:3]  # the short ones would overlap at a year's scale
    for days in sorted(conn.reminder_days, reverse=True):
        at = status.expires_at - timedelta(days=days)
        fig.add_trace(go.Scatter(x=[ui.local(at)], y=["Reminders"], mode="markers+text",
                                 marker={"size": 11, "symbol": "diamond",
                                         "color": "#ef6c00" if at <= now else "#90a4ae"},
                                 text=[f"{days} d" if days in labelled else ""], textposition="bottom center",
                                 showlegend=False,
                                 hovertemplate=f"Reminder {days} days before expiry: %{{x|%d %b %Y}}<extra></extra>"))
    today = ui.local(now)
    fig.add_shape(type="line", x0=today, x1=today, y0=0, y1=1, yref="paper", line={"dash": "dot", "color": "#1565c0"})
    fig.add_annotation(x=today, y=1, yref="paper", text="today", showarrow=False, yanchor="bottom")
    for rotation in ui.token_service().rotations(conn.name, limit=20):
        started = rotation.get("started_at")
        if started:
            fig.add_trace(go.Scatter(x=[ui.local(datetime.fromisoformat(started))], y=["Rotations"],
                                     mode="markers", marker={"size": 10, "symbol": "circle",
                                                             "color": "#2e7d32" if rotation.get("outcome") != "failed"
                                                             else "#c62828"},
                                     showlegend=False,
                                     hovertemplate=f"Rotation ({ui.plot_text(rotation.get('outcome'))}): "
                                     "%{x|%d %b %Y %H:%M}<extra></extra>"))
    fig.update_layout(height=240, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
                      xaxis_title=f"Time ({getattr(zone, 'key', str(zone))})")
    st.plotly_chart(fig, width="stretch", key="connection.timeline")


def ics_download(conn: Any, status: Any) -> None:
    if status is None or status.expires_at is None:
        return
    from console.reminders import token_ics

    try:
        data = token_ics(ui.context(), conn, status)
    except Exception as exc:
        ui.log_exception(exc)
        ui.show_error(exc, what="building the calendar file")
        return
    st.download_button("Add the expiry and reminders to a calendar (.ics)", data=data,
                       file_name=f"{conn.name}-token-expiry.ics".replace(" ", "_"), mime="text/calendar",
                       icon=":material/event:", key="token.ics")


# --- connection forms ------------------------------------------------------------------------------------------


def connection_form(existing: Any | None, info: Any) -> None:
    from console.connections import AUTH_MODES, DEFAULT_GRAPH_BASE_URL, DEFAULT_LOGIN_BASE_URL, Connection

    new = existing is None
    # A new generation after each successful save gives fresh widgets, so typed secrets do not linger in the
    # widget state; on an error the fields keep what was typed (nothing is lost).
    generation = st.session_state.setdefault("connection.form_generation", 0)
    prefix = f"conn.new.{generation}" if new else f"conn.edit.{existing.name}.{generation}"
    with st.form(prefix):
        name = st.text_input("Name", value="" if new else existing.name, disabled=not new, key=f"{prefix}.name",
                             placeholder="e.g. Production")
        api_url = st.text_input("6clicks API base URL", value="" if new else existing.api_url,
                                placeholder="https://api-au.6clicks.io", key=f"{prefix}.api_url")
        scim_url = st.text_input("SCIM base URL (leave empty for API URL + /scim)",
                                 value="" if new or existing.scim_url_derived else existing.scim_url,
                                 key=f"{prefix}.scim_url")
        auth_mode = st.selectbox("How the bearer token is obtained", AUTH_MODES,
                                 index=0 if new else AUTH_MODES.index(existing.auth_mode), key=f"{prefix}.auth",
                                 format_func=lambda m: {"6clicks-api-key": "6clicks API key → long-lived token",
                                                        "static-token": "A pasted static token"}.get(m, m))
        api_key = st.text_input("API key" + ("" if new else " (leave empty to keep the stored one)"),
                                type="password", key=f"{prefix}.api_key",
                                help="Of a dedicated 6clicks user with exactly the six SCIM permissions. "
                                     "Stored in the keyring, never shown again.")
        role_rule = st.text_input("Role rule", value="prefix:Role - " if new else existing.role_rule,
                                  key=f"{prefix}.role_rule",
                                  help="How a SCIM group is recognised as a 6clicks role: 'prefix:TEXT' or "
                                       "'regex:EXPRESSION'.")
        st.markdown("**Entra provisioning (optional)** — to read provisioning logs and job health and to push "
                    "rotated tokens through Microsoft Graph.")
        e = None if new else existing.entra
        c1, c2 = st.columns(2)
        tenant = c1.text_input("Tenant id", value=e.tenant_id if e else "", key=f"{prefix}.tenant")
        client = c2.text_input("Client id (app registration)", value=e.client_id if e else "", key=f"{prefix}.client")
        sp = c1.text_input("Service principal object id", value=e.service_principal_id if e else "",
                           key=f"{prefix}.sp")
        job = c2.text_input("Provisioning job id", value=e.job_id if e else "", key=f"{prefix}.job")
        graph = c1.text_input("Graph base URL", value=e.graph_base_url if e else DEFAULT_GRAPH_BASE_URL,
                              key=f"{prefix}.graph")
        login = c2.text_input("Login base URL", value=e.login_base_url if e else DEFAULT_LOGIN_BASE_URL,
                              key=f"{prefix}.login")
        secret = st.text_input("Client secret" + ("" if new else " (leave empty to keep the stored one)"),
                               type="password", key=f"{prefix}.secret")
        submitted = st.form_submit_button("Add connection" if new else "Save changes", type="primary",
                                          icon=":material/save:")
    if not submitted:
        return
    from console.connections import ConnectionRepo, EntraSettings

    ctx = ui.context()
    repo = ConnectionRepo(ctx)
    entra = None
    if tenant.strip() or client.strip():
        entra = EntraSettings(tenant_id=tenant, client_id=client, service_principal_id=sp, job_id=job,
                              graph_base_url=graph, login_base_url=login)
    needs_keyring = bool(api_key or secret) and not (existing is not None and existing.is_demo)
    if needs_keyring and not (info.secure and not info.locked):
        st.error("**The API key and client secret cannot be stored: the keyring is not usable.** "
                 f"{ui.md_escape(info.remedy, empty='Unlock the keyring above.')} Nothing was saved.",
                 icon=":material/key_off:")
        return
    try:
        if new:
            conn = Connection(name=name, api_url=api_url, scim_url=scim_url or None, auth_mode=auth_mode,
                              entra=entra, role_rule=role_rule)
            conn = repo.add(conn)
        else:
            existing.api_url, existing.scim_url, existing.auth_mode = api_url, scim_url or None, auth_mode
            existing.entra, existing.role_rule = entra, role_rule
            conn = repo.update(existing)
        if api_key:
            ui.token_service().set_api_key(conn.name, api_key.strip())
        if secret:
            ctx.credentials.set(conn.name, "graph_client_secret", secret.strip())
    except Exception as exc:  # InvalidInput etc.: message + remedy; the form's values are kept for a retry
        ui.show_error(exc, what="saving the connection")
        return
    ui.select_connection(conn.name)
    st.session_state["connection.form_generation"] = generation + 1
    st.session_state["connection.flash"] = ("success", f"Connection {conn.name!r} saved."
                                            + (" Now generate its token." if new and api_key else ""))
    st.rerun()


def reminders_form(conn: Any) -> None:
    from console.connections import ConnectionRepo
    from console.reminders import describe_channels

    try:
        channels = describe_channels(ui.context(), conn)
    except Exception as exc:  # a locked or unusable keyring: say so, the rest of the form still works
        channels = None
        st.caption(f"Configured notification channels cannot be read: {ui.md_escape(str(exc), limit=1000)}")
    if channels:
        st.markdown("**Notification channels:** " + ", ".join(ui.md_escape(c["description"]) for c in channels))
    elif channels is not None:
        st.caption("No notification channel yet: reminders show here and on the Overview only.")

    with st.form(f"reminders.{conn.name}"):
        days = st.text_input("Remind me this many days before the token expires",
                             value=", ".join(str(d) for d in conn.reminder_days), key=f"reminders.days.{conn.name}")
        urls = st.text_input("Notification URLs (Apprise, comma-separated; leave empty to keep)", type="password",
                             key=f"reminders.urls.{conn.name}",
                             help="e.g. mailto://…, msteams://…, slack://… — stored in the keyring, since they "
                                  "carry credentials. `python -m console remind` sends them (run it daily).")
        saved = st.form_submit_button("Save reminder settings", icon=":material/notifications:")
    if not saved:
        return
    from console.reminders import set_notify_urls

    try:
        conn.reminder_days = tuple(int(d) for d in days.replace(";", ",").split(",") if d.strip())
        ConnectionRepo(ui.context().store).update(conn)
        if urls.strip():
            set_notify_urls(ui.context(), conn, [u.strip() for u in urls.split(",") if u.strip()])
    except ValueError:
        st.error("Reminder days must be whole numbers separated by commas, e.g. 60, 30, 14, 7, 3, 1.")
        return
    except Exception as exc:
        ui.show_error(exc, what="saving the reminder settings")
        return
    st.session_state["connection.flash"] = ("success", "Reminder settings saved.")
    st.rerun()


def remove_connection(conn: Any) -> None:
    from console.connections import ConnectionRepo

    with st.expander("Remove this connection", icon=":material/delete:"):
        st.caption("Deletes its settings and its secrets from the keyring. Snapshots and history stay on disk.")
        confirm = st.text_input(f"Type {ui.md_escape(conn.name)} to confirm", key=f"remove.{conn.name}")
        if st.button("Remove", key=f"remove.button.{conn.name}", disabled=confirm.strip() != conn.name):
            try:
                ConnectionRepo(ui.context()).remove(conn.name)
            except Exception as exc:
                ui.show_error(exc, what="removing the connection")
                return
            ui.select_connection(None)
            st.session_state["connection.flash"] = ("success", f"Connection {conn.name!r} removed.")
            st.rerun()


def main() -> None:
    ctx = ui.context()
    st.title("Connection & token")
    flash = st.session_state.pop("connection.flash", None)
    if flash:
        # flashes quote connection names and the core's messages: shown as text
        (st.success if flash[0] == "success" else st.error)(ui.md_escape(flash[1], limit=2000))
    info = keyring_panel(ctx)
    conn = ui.connection(required=False)
    tabs = st.tabs(["Token", "Connection settings", "Reminders", "Add a connection"])
    if conn is None:
        with tabs[0]:
            ui.no_connection_screen()
    else:
        with tabs[0], ui.guard("showing the token"):
            st.subheader(ui.md_escape(conn.name) + (" · DEMO" if conn.is_demo else ""), divider="gray")
            status = ui.token_status(conn)
            token_summary(conn, status)
            token_actions(conn)
            rotation_outcome(conn)
            st.markdown("**Expiry timeline**")
            expiry_timeline(conn, status)
            ics_download(conn, status)
        with tabs[1], ui.guard("showing the connection settings"):
            if conn.is_demo:
                st.info("This is the embedded demo: its URLs and secrets are set up automatically at each start. "
                        "The role rule and Entra ids can still be changed here.", icon=":material/science:")
            st.caption(f"SCIM base URL in use: {ui.md_escape(conn.scim_url)} · Entra: "
                       + ("connected" if conn.entra else "not configured (optional)"))
            connection_form(conn, info)
            remove_connection(conn)
        with tabs[2], ui.guard("showing the reminder settings"):
            reminders_form(conn)
    with tabs[3], ui.guard("adding a connection"):
        connection_form(None, info)


ui.run_page(main, "showing the connection")
