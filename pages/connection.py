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

import streamlit as st

from console.i18n import _
from pages import _setup_ui as setup_ui
from pages._connection.forms import add_tab, reminders_tab, settings_tab
from pages._connection.graph import graph_tab
from pages._connection.token import KEY_PENDING_TAB, KEY_RESULT, token_tab
from pages._ui import errors, session, shell


def main() -> None:
    ctx = session.context()
    shell.page_state(KEY_RESULT, KEY_RESULT + ".")  # outcome panels go when the admin opens another page
    st.title(_("Connection & token"))
    setup_ui.show_flash()
    info = setup_ui.keyring_box(ctx, "connection")
    conn = session.connection(required=False)
    # the tab to open, named by its English name (a pending tab, a link from another page) or by its label in
    # another language (the session switched language): shown by its label in this run's language
    wanted = setup_ui.tab_of(st.session_state.pop(KEY_PENDING_TAB, None))
    if wanted is None:
        current = st.session_state.get("tab")
        asked = st.query_params.get("tab")
        for value in (current, asked):
            tab = setup_ui.tab_of(value)
            if tab is not None and value != setup_ui.tab_label(tab):
                wanted = tab
                break
    if wanted is not None:
        st.session_state["tab"] = setup_ui.tab_label(wanted)
    labels = [setup_ui.tab_label(t) for t in setup_ui.TABS]
    tabs = dict(zip(setup_ui.TABS, st.tabs(labels, key="tab", bind="query-params"), strict=True))
    if conn is None:
        for tab in (setup_ui.TAB_TOKEN, setup_ui.TAB_SETTINGS, setup_ui.TAB_GRAPH, setup_ui.TAB_REMINDERS):
            with tabs[tab]:
                st.info(_("**No connection is configured yet.** Add your 6clicks tenant under **Add a connection**; "
                          "**Set up a tenant** lists every step."), icon=":material/link_off:")
                st.page_link(setup_ui.SETUP_PAGE, label=_("Set up a tenant"), icon=":material/checklist:")
    else:
        with tabs[setup_ui.TAB_TOKEN], errors.guard(_("showing the token")):
            token_tab(conn, info)
        with tabs[setup_ui.TAB_SETTINGS], errors.guard(_("showing the connection settings")):
            settings_tab(conn, info)
        with tabs[setup_ui.TAB_GRAPH], errors.guard(_("showing the Microsoft Graph settings")):
            graph_tab(conn, info)
        with tabs[setup_ui.TAB_REMINDERS], errors.guard(_("showing the reminder settings")):
            reminders_tab(conn)
    with tabs[setup_ui.TAB_ADD], errors.guard(_("adding a connection")):
        add_tab(info)


shell.run_page(main, _("showing the connection"))
