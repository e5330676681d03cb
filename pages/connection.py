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

from pages import _setup_ui as setup_ui
from pages._connection.forms import add_tab, reminders_tab, settings_tab
from pages._connection.graph import graph_tab
from pages._connection.token import KEY_PENDING_TAB, KEY_RESULT, token_tab
from pages._ui import errors, session, shell


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
