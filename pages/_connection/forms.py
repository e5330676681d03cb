"""The forms of Connection & token: the connection's settings (URLs, auth mode, role rule) and its removal, the
reminder settings (days, notification URLs kept in the keyring, Send test, the daily job), and adding a
connection, saved only once 6clicks accepted its key and the first token answered SCIM."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from console.connections import AUTH_MODES, Connection, ConnectionRepo, describe_role_rule, split_role_rule
from console.credentials import BackendInfo
from console.errors import console_error
from console.i18n import LANGUAGES, N_, _
from console.notify.channels import describe_channels, set_notify_urls
from console.notify.language import reminder_language, set_reminder_language
from console.setup import SetupError, add_connection_checked, store_key_and_token
from pages import _setup_ui as setup_ui
from pages._connection.token import KEY_PENDING_TAB, remember_outcome
from pages._ui import banners, errors, session
from pages._ui.text import md_escape

AUTH_LABELS = {"6clicks-api-key": N_("6clicks API key → long-lived token"), "static-token": N_("A pasted static token")}
ROLE_KINDS = {"prefix": N_("start with"), "regex": N_("match the pattern")}


def _auth_label(mode: str) -> str:
    return _(AUTH_LABELS[mode]) if mode in AUTH_LABELS else mode


def _role_kind(kind: str) -> str:
    return _(ROLE_KINDS[kind]) if kind in ROLE_KINDS else kind


# --- connection settings -----------------------------------------------------------------------------------------
def _role_rule_inputs(prefix: str, rule: str | None) -> str:
    kind, value = split_role_rule(rule)
    a, b = st.columns([1, 2])
    chosen = a.selectbox(_("Roles are groups whose names"), list(ROLE_KINDS), index=list(ROLE_KINDS).index(kind),
                         format_func=_role_kind, key=f"{prefix}.role_kind",
                         help=_("How 6clicks roles are told from groups (both arrive from Entra as SCIM groups)."))
    text = b.text_input(_("Role names text"), value=value, key=f"{prefix}.role_rule",
                        help=_("e.g. “Role - ” (with its trailing space) or, for a pattern, ^(Role|Roles) - "))
    return f"{chosen}:{text}"


def settings_tab(conn: Connection, info: BackendInfo) -> None:
    if conn.is_demo:
        st.info(_("This is the embedded demo: its URLs and secrets are set up automatically at each start. The role "
                  "rule can still be changed here."), icon=":material/science:")
    st.caption(_("SCIM base URL in use: {scim} · Tenant URL for Entra: {tenant} · Roles: {roles}").format(
        scim=md_escape(conn.scim_url), tenant=md_escape(conn.tenant_url),
        roles=md_escape(describe_role_rule(conn.role_rule))))
    generation = st.session_state.setdefault("connection.form_generation", 0)
    prefix = f"conn.edit.{conn.name}.{generation}"
    with st.form(prefix):
        api_url = st.text_input(_("6clicks API base URL"), value=conn.api_url, key=f"{prefix}.api_url",
                                disabled=conn.is_demo)
        scim_url = st.text_input(_("SCIM base URL (leave empty for API URL + /scim)"),
                                 value="" if conn.scim_url_derived else conn.scim_url, key=f"{prefix}.scim_url",
                                 disabled=conn.is_demo)
        auth_mode = st.selectbox(_("How the bearer token is obtained"), AUTH_MODES,
                                 index=AUTH_MODES.index(conn.auth_mode), key=f"{prefix}.auth",
                                 format_func=_auth_label, disabled=conn.is_demo)
        api_key = st.text_input(_("New API key (leave empty to keep the stored one)"), type="password",
                                key=f"{prefix}.api_key", disabled=conn.is_demo,
                                help=_("Checked with 6clicks before it replaces the stored one."))
        role_rule = _role_rule_inputs(prefix, conn.role_rule)
        submitted = st.form_submit_button(_("Save changes"), type="primary", icon=":material/save:")
    if submitted:
        if api_key.strip() and not (info.secure and not info.locked) and not conn.is_demo:
            st.error(_("**The API key cannot be stored: the keyring is not usable.** Unlock or create it at the top "
                       "of this page. Nothing was saved."), icon=":material/key_off:")
        else:
            try:
                if not conn.is_demo:
                    conn.api_url, conn.scim_url, conn.auth_mode = api_url, scim_url or None, auth_mode
                conn.role_rule = role_rule
                conn = ConnectionRepo(session.context().store).update(conn)
                note = ""
                if api_key.strip():
                    status = store_key_and_token(session.context(), conn.name, api_key)
                    fresh = (status.origin == "generated" and status.level == "ok" and status.issued_at is not None
                             and (session.context().now() - status.issued_at) < timedelta(minutes=5))
                    note = " " + (_("The new API key was accepted by 6clicks and stored. Its first token was "
                                    "generated.") if fresh else
                                  _("The new API key was accepted by 6clicks and stored. The current token stays "
                                    "valid until the old key is deleted in 6clicks: generate a new one when you are "
                                    "ready."))
            except Exception as exc:  # InvalidInput etc.: message + remedy; the form's values are kept for a retry
                errors.show_error(exc, what=_("saving the connection"))
            else:
                st.session_state["connection.form_generation"] = generation + 1
                setup_ui.flash("success", _("Connection {name!r} saved.").format(name=conn.name) + note)
                st.rerun()
    if not conn.is_demo:
        remove_connection(conn)


def remove_connection(conn: Connection) -> None:
    with st.expander(_("Remove this connection"), icon=":material/delete:"):
        st.caption(_("Deletes its settings and its secrets from the keyring. Snapshots and history stay on disk."))
        confirm = st.text_input(_("Type {name} to confirm").format(name=md_escape(conn.name)), key=f"remove.{conn.name}")
        if st.button(_("Remove"), key=f"remove.button.{conn.name}", disabled=confirm.strip() != conn.name):
            try:
                ConnectionRepo(session.context()).remove(conn.name)
            except Exception as exc:
                errors.show_error(exc, what=_("removing the connection"))
                return
            session.select_connection(None)
            st.session_state.pop("connection", None)
            setup_ui.flash("success", _("Connection {name!r} removed.").format(name=conn.name))
            st.rerun()


# --- reminders -------------------------------------------------------------------------------------------------
def reminders_tab(conn: Connection) -> None:
    ctx = session.context()
    try:
        channels = describe_channels(ctx, conn)
    except Exception as exc:  # a locked or unusable keyring: say so, the rest of the form still works
        if console_error(exc) is None:
            errors.log_exception(exc)
        channels = None
        st.caption(_("Configured notification channels cannot be read: {error}").format(
            error=md_escape(errors.error_text(exc))))
    if channels:
        st.markdown(_("**Notification channels:** {channels}").format(
            channels=", ".join(md_escape(c["description"]) for c in channels)))
    elif channels is not None:
        st.caption(_("No notification channel yet: reminders show in the app (banner, Overview) only."))
    language = reminder_language(ctx, conn)
    # a new generation of the form after each save: the typed URLs (they carry credentials) leave session state
    generation = st.session_state.setdefault("reminders.generation", 0)
    prefix = f"reminders.{conn.name}.{generation}"
    with st.form(prefix):
        days = st.text_input(_("Remind me this many days before the token expires"),
                             value=", ".join(str(d) for d in conn.reminder_days), key=f"{prefix}.days")
        chosen = st.selectbox(_("Language of reminders and alerts"), list(LANGUAGES),
                              index=list(LANGUAGES).index(language), format_func=LANGUAGES.__getitem__,
                              key=f"{prefix}.language",
                              help=_("Reminders, alerts and test messages (chat and e-mail) and the calendar file "
                                     "(.ics) of this connection are written in this language, whoever or whatever "
                                     "sends them: cron, this app, or a Send test click."))
        urls = st.text_input(_("Notification URLs (apprise, comma-separated; leave empty to keep)"), type="password",
                             key=f"{prefix}.urls",
                             help=_("e.g. msteams://…, slack://…, mailtos://…, json://host/path — stored in the "
                                    "keyring, since they carry credentials."))
        saved = st.form_submit_button(_("Save reminder settings"), icon=":material/notifications:")
    if saved:
        try:
            conn.reminder_days = tuple(int(d) for d in days.replace(";", ",").split(",") if d.strip())
            ConnectionRepo(ctx.store).update(conn)
            if chosen != language:
                set_reminder_language(ctx, conn, chosen)
            if urls.strip():
                set_notify_urls(ctx, conn, [u.strip() for u in urls.split(",") if u.strip()])
        except ValueError:
            st.error(_("Reminder days must be whole numbers separated by commas, e.g. 60, 30, 14, 7, 3, 1."))
        except Exception as exc:
            errors.show_error(exc, what=_("saving the reminder settings"))
        else:
            st.session_state["reminders.generation"] = generation + 1
            setup_ui.flash("success", _("Reminder settings saved.") + (
                " " + _("Use Send test to check the channel.") if urls.strip() else ""))
            st.rerun()
    setup_ui.send_test(conn, key=f"reminders.{conn.name}")
    st.divider()
    setup_ui.daily_job(ctx)


# --- add a connection ---------------------------------------------------------------------------------------
def add_tab(info: BackendInfo) -> None:
    st.caption(_("The connection is checked before it is saved: 6clicks must accept the API key, and the first token "
                 "must answer the SCIM endpoint. If anything fails, nothing is saved and the form keeps what you "
                 "typed."))
    if not (info.secure and not info.locked):
        st.warning(_("Create or unlock the keyring at the top of this page first: the API key and token are kept "
                     "there."), icon=":material/lock:")
    auth_mode = st.selectbox(_("How the bearer token is obtained"), AUTH_MODES, key="conn.new.auth",
                             format_func=_auth_label,
                             help=_("6clicks: an API key, exchanged for a one-year token. Other SCIM providers: a "
                                    "static bearer token you paste."))
    generation = st.session_state.setdefault("connection.form_generation", 0)
    prefix = f"conn.new.{generation}"
    with st.form(prefix):
        c1, c2 = st.columns(2)
        name = c1.text_input(_("Name"), key=f"{prefix}.name", placeholder=_("e.g. Production"))
        api_url = c2.text_input(_("6clicks API base URL"), placeholder="https://api-au.6clicks.io",
                                key=f"{prefix}.api_url")
        scim_url = st.text_input(_("SCIM base URL (leave empty for API URL + /scim)"), key=f"{prefix}.scim_url")
        token = ""
        estimated = False
        api_key = ""
        if auth_mode == "6clicks-api-key":
            api_key = st.text_input(_("API key"), type="password", key=f"{prefix}.api_key",
                                    help=_("Of a dedicated 6clicks user with exactly the six SCIM permissions. "
                                           "Checked with 6clicks, stored in the keyring, never shown again."))
        else:
            token = st.text_input(_("Access token"), type="password", key=f"{prefix}.token")
            estimated = st.checkbox(_("It has no readable expiry: assume 365 days from today"),
                                    key=f"{prefix}.estimated")
        role_rule = _role_rule_inputs(prefix, None)
        submitted = st.form_submit_button(_("Check and add the connection"), type="primary",
                                          icon=":material/add_link:")
    if not submitted:
        return
    if not (info.secure and not info.locked):
        st.error(_("**The API key and token cannot be stored: the keyring is not usable.** {remedy} Nothing was "
                   "saved.").format(remedy=md_escape(info.remedy,
                                                     empty=_("Create or unlock it at the top of this page."))),
                 icon=":material/key_off:")
        return
    try:
        conn = Connection(name=name, api_url=api_url, scim_url=scim_url or None, auth_mode=auth_mode or AUTH_MODES[0],
                          role_rule=role_rule)
        with st.spinner(_("Checking the key with 6clicks and the token with the SCIM endpoint…")):
            conn = add_connection_checked(session.context(), conn, api_key=api_key, token=token,
                                          accept_estimated=estimated)
    except SetupError as exc:
        fields = {"api_key": _("API key"), "api_url": _("6clicks API base URL"), "scim_url": _("SCIM base URL"),
                  "token": _("Access token"), "name": _("Name")}
        errors.show_error(exc)
        if exc.field in fields:
            st.caption(_("Correct the **{field}** field and click the button again.").format(field=fields[exc.field]))
        return
    except Exception as exc:  # InvalidInput (a bad URL or name), a locked keyring…: nothing was saved
        errors.show_error(exc, what=_("adding the connection"))
        return
    status = banners.token_service().status(conn)
    session.select_connection(conn.name)
    st.session_state["connection.form_generation"] = generation + 1
    st.session_state[KEY_PENDING_TAB] = setup_ui.TAB_TOKEN
    remember_outcome("Generated" if auth_mode == "6clicks-api-key" else "Imported", conn, status, first=True)
    setup_ui.flash("success", (_("Connection {name!r} added: 6clicks accepted the API key and the first token …{fp} "
                                 "works. Now give it to Entra (below).") if auth_mode == "6clicks-api-key" else
                               _("Connection {name!r} added: the first token …{fp} works. Now give it to Entra "
                                 "(below).")).format(name=conn.name, fp=status.fingerprint))
    st.rerun()
