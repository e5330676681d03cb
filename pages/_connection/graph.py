"""The Microsoft Graph tab of Connection & token: the fields beside the one permission list per feature, Save
and find the job (read from the service principal), choosing among several jobs, and the access check."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from console.connections import (
    DEFAULT_GRAPH_BASE_URL,
    DEFAULT_LOGIN_BASE_URL,
    Connection,
    ConnectionRepo,
    EntraSettings,
)
from console.credentials import BackendInfo
from console.errors import InvalidInput
from console.graph import GraphClient, check_access, find_jobs
from console.i18n import N_, _
from pages import _setup_ui as setup_ui
from pages._ui import errors, session
from pages._ui.text import md_escape, plain

KEY_JOBS = "result.connection.jobs"  # jobs found on the service principal when there are several
KEY_ACCESS = "result.connection.access"  # the last Graph access check
#: an access check's state in words (``_(value)``)
ACCESS_WORDS = {"ok": N_("works"), "missing": N_("permission missing"), "error": N_("failed"),
                "not-checked": N_("checked at the first push")}


# --- Microsoft Graph -------------------------------------------------------------------------------------------
def graph_tab(conn: Connection, info: BackendInfo) -> None:
    st.caption(_("Optional. With Microsoft Graph the console reads Entra's provisioning logs and the job's health "
                 "(Sync history, alerts) and writes new tokens into Entra itself. It uses an app registration of its "
                 "own with a client secret."))
    e = conn.entra
    form_col, help_col = st.columns([3, 2], gap="large")
    with help_col:
        setup_ui.permissions_list()
        setup_ui.own_list("\n".join((
            _("**Where to find the values** (Entra admin center):"),
            "- " + _("Tenant id and client id: App registrations > the console's app > Overview (Directory (tenant) "
                     "ID, Application (client) ID)."),
            "- " + _("Client secret: the same app > Certificates & secrets > New client secret > its **Value**."),
            "- " + _("Service principal id: Enterprise applications > the **6clicks SCIM app** > Overview > "
                     "**Object ID** (not the app registration's object id)."),
            "- " + _("The provisioning job id is then read from that service principal for you."))), "graph.where")
    generation = st.session_state.setdefault("connection.graph_generation", 0)
    prefix = f"conn.graph.{conn.name}.{generation}"
    with form_col, st.form(prefix):
        c1, c2 = st.columns(2)
        tenant = c1.text_input(_("Tenant id"), value=e.tenant_id if e else "", key=f"{prefix}.tenant")
        client = c2.text_input(_("Client id (app registration)"), value=e.client_id if e else "",
                               key=f"{prefix}.client")
        secret = st.text_input(_("Client secret (leave empty to keep the stored one)") if e else _("Client secret"),
                               type="password", key=f"{prefix}.secret")
        sp = st.text_input(_("Service principal object id (the 6clicks SCIM enterprise app)"),
                           value=e.service_principal_id if e else "", key=f"{prefix}.sp")
        job = st.text_input(_("Provisioning job id (leave empty: found for you)"), value=e.job_id if e else "",
                            key=f"{prefix}.job")
        with st.expander(_("Other clouds")):
            graph = st.text_input(_("Graph base URL"), value=e.graph_base_url if e else DEFAULT_GRAPH_BASE_URL,
                                  key=f"{prefix}.graph")
            login = st.text_input(_("Login base URL"), value=e.login_base_url if e else DEFAULT_LOGIN_BASE_URL,
                                  key=f"{prefix}.login")
        save = st.form_submit_button(_("Save and find the job"), type="primary", icon=":material/travel_explore:")
    if save:
        save_graph(conn, info, tenant, client, secret, sp, job, graph, login, prefix_generation=generation)
    choose_job(conn)
    if e is not None:
        a, b = st.columns(2)
        if a.button(_("Check what the app may do"), key="graph.check", icon=":material/fact_check:",
                    help=_("Signs in and reads one log record and the job list (no writes).")):
            check_graph(conn)
        if b.button(_("Remove the Graph settings"), key="graph.remove", icon=":material/link_off:"):

            conn.entra = None
            ConnectionRepo(session.context()).update(conn)
            session.context().credentials.delete(conn.name, "graph_client_secret")
            setup_ui.flash("success", _("Microsoft Graph settings and client secret removed."))
            st.rerun()
        show_access()


def save_graph(conn: Connection, info: BackendInfo, tenant: str, client: str, secret: str, sp: str, job: str, graph: str,
               login: str, *, prefix_generation: int) -> None:
    if not tenant.strip() or not client.strip():
        st.error(_("Give both the tenant id and the client id (App registrations > the app > Overview)."))
        return
    if secret.strip() and not (info.secure and not info.locked) and not conn.is_demo:
        st.error(_("**The client secret cannot be stored: the keyring is not usable.** Unlock or create it at the "
                   "top of this page. Nothing was saved."), icon=":material/key_off:")
        return
    ctx = session.context()
    try:
        conn.entra = EntraSettings(tenant_id=tenant, client_id=client, service_principal_id=sp, job_id=job,
                                   graph_base_url=graph, login_base_url=login)
        conn = ConnectionRepo(ctx.store).update(conn)
        if secret.strip():
            ctx.credentials.set(conn.name, "graph_client_secret", secret.strip())
    except Exception as exc:
        errors.show_error(exc, what=_("saving the Graph settings"))
        return
    st.session_state["connection.graph_generation"] = prefix_generation + 1
    message = _("Microsoft Graph settings saved.")
    if conn.entra is not None and conn.entra.service_principal_id and not conn.entra.job_id:
        try:
            with st.spinner(_("Reading the provisioning jobs of the service principal…")), \
                    GraphClient.for_connection(ctx, conn) as client_:
                jobs = find_jobs(client_)
        except Exception as exc:
            errors.log_exception(exc)
            setup_ui.flash("warning", message + " " + _("The job could not be found yet: {error}").format(
                error=errors.error_text(exc)))
            st.rerun()
        scim = [j for j in jobs if j.is_scim]
        if len(scim) == 1:
            _store_job(conn, scim[0].id)
            message += " " + _("The provisioning job {job} was found on the service principal and stored.").format(
                job=scim[0].id)
        elif jobs:
            st.session_state[KEY_JOBS] = {"connection": conn.name,
                                          "jobs": [(j.id, j.template, j.status) for j in jobs]}
            message += " " + _("The service principal has several provisioning jobs: choose one below.")
        else:
            message += " " + _("The service principal has no provisioning job yet: in Entra set its Provisioning "
                               "mode to Automatic and save, then save here again.")
    elif conn.entra is not None and not conn.entra.service_principal_id:
        message += " " + _("Add the service principal's object id to find the job.")
    setup_ui.flash("success", message)
    st.rerun()


def _store_job(conn: Connection, job_id: str) -> None:
    if conn.entra is None:  # the Graph settings were removed meanwhile (another tab)
        raise InvalidInput(_("Microsoft Graph is not configured for this connection."),
                           _("Save the Microsoft Graph settings first, then find the job again."))
    conn.entra = replace(conn.entra, job_id=job_id)
    ConnectionRepo(session.context().store).update(conn)


def choose_job(conn: Connection) -> None:
    found = st.session_state.get(KEY_JOBS)
    if not found or found.get("connection") != conn.name:
        return
    with st.container(border=True):
        options = [j[0] for j in found["jobs"]]
        labels = {j[0]: _("{job} ({template}, {status})").format(job=j[0], template=j[1] or _("unknown template"),
                                                                  status=j[2] or _("unknown status"))
                  for j in found["jobs"]}
        chosen = st.selectbox(_("Provisioning job of the 6clicks SCIM app"), options,
                              format_func=lambda j: plain(labels.get(j, j)), key="graph.job_choice")
        if st.button(_("Use this job"), key="graph.job_use", type="primary"):
            _store_job(conn, chosen)
            st.session_state.pop(KEY_JOBS, None)
            setup_ui.flash("success", _("Job {job} stored.").format(job=chosen))
            st.rerun()


def check_graph(conn: Connection) -> None:
    try:
        with st.spinner(_("Checking Microsoft Graph…")), \
                GraphClient.for_connection(session.context(), conn) as client:
            checks = check_access(client)
    except Exception as exc:
        errors.log_exception(exc)
        errors.show_error(exc, what=_("checking Microsoft Graph"))
        return
    st.session_state[KEY_ACCESS] = {"connection": conn.name, "checks": [
        (c.feature, c.permissions, c.state, c.message) for c in checks]}


def show_access() -> None:
    done = st.session_state.get(KEY_ACCESS)
    if not done:
        return
    shows = {"ok": st.success, "missing": st.error, "error": st.error, "not-checked": st.info}
    for feature, permissions, state, message in done["checks"]:
        word = _(ACCESS_WORDS[state]) if state in ACCESS_WORDS else state
        show = shows.get(state, st.info)
        # the feature's name was marked for translation where it is defined (console.graph.GRAPH_PERMISSIONS)
        show(f"**{md_escape(_(feature))}: {md_escape(word)}** ({md_escape(permissions)})"
             + (f"\n\n{md_escape(message, limit=600)}" if message and state != "not-checked" else ""))
