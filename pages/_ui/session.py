"""The open context and the selected connection.

Session-state keys (documented for other pages):
- ``connection``: the selected connection's name; ``connection.pending``: select this one at the next run.
- ``users.selected_ids``: list of SCIM ids of the users selected on the Users page (operations read it).
- ``users.detail_id`` / ``groups.detail_id``: the user / group whose detail view is open.
- ``groups.selected_ids``: list of SCIM ids of the groups selected on the Groups & roles page.
- ``result.*``: the outcome panel of an action (e.g. ``result.connection``); every ``result.*`` key is dropped
  when the operator moves to another page (``pages._ui.shell.forget_other_pages``), so a panel belongs to the
  action that made it.

Nothing here holds or shows a secret: the credential store is read by the console core only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, overload

import streamlit as st

from console.connections import Connection, ConnectionRepo
from console.context import Context, open_context
from console.credentials import CredentialStore, default_credentials, env_passphrase
from console.errors import ConsoleError
from console.i18n import _
from console.paths import data_dir as default_dir
from console.setup import choose_connection, remember_connection
from pages._ui.errors import install_log_file
from pages._ui.signin import operator

KEY_CONNECTION = "connection"
KEY_SELECTED_USERS = "users.selected_ids"
KEY_USER_DETAIL = "users.detail_id"
KEY_GROUP_DETAIL = "groups.detail_id"
KEY_SELECTED_GROUPS = "groups.selected_ids"
KEY_PENDING_CONNECTION = "connection.pending"  # select this connection at the next run (before the picker)


def data_dir() -> Path:
    """The console's data directory (``SCIM_CONSOLE_HOME``), read on every call."""
    return default_dir()


@st.cache_resource(show_spinner=False)
def _open_context(path: str) -> Context:
    ctx = open_context(Path(path), credentials=_credentials_for_app())
    install_log_file(ctx.data_dir)
    return ctx


def _credentials_for_app() -> CredentialStore:
    """The OS keyring wrapper; the demo connection's secrets go to its in-memory part (see console.credentials).
    The encrypted file keyring's passphrase comes from the environment or the page's unlock box, never from a
    prompt (the server may have inherited the terminal of ``python -m console app``)."""
    return default_credentials(passphrase_provider=env_passphrase)


def context() -> Context:
    """The open ``console.context.Context`` for this app's data dir (shared by all sessions)."""
    return _open_context(str(data_dir()))


def connections() -> list[Connection]:
    """Every configured connection."""
    return list(ConnectionRepo(context().store).list())


@overload
def connection(required: Literal[True] = True) -> Connection: ...


@overload
def connection(required: bool) -> Connection | None: ...


def connection(required: bool = True) -> Connection | None:
    """The selected ``Connection``. With ``required`` and none configured, shows the designed screen and stops."""
    name = st.session_state.get(KEY_CONNECTION)
    conn = None
    if name:
        try:
            conn = ConnectionRepo(context().store).get(name)
        except ConsoleError:
            conn = None
    if conn is None:
        available = connections()
        chosen = default_connection(available)
        conn = next((c for c in available if c.name == chosen), None)
    if conn is None and required:
        no_connection_screen()
        st.stop()
    return conn


def default_connection(available: list[Connection]) -> str | None:
    """The connection a new session opens on: the operator's last selection while it is healthy, else a healthy
    one (a real tenant before the demo); never an incomplete or broken one while a healthy one exists."""
    return choose_connection(context(), available, operator())


def remember_selection() -> None:
    """on_change of the sidebar's picker: the operator's choice is remembered for the next start."""
    name = st.session_state.get(KEY_CONNECTION)
    if name:
        remember_connection(context(), name, operator())


def select_connection(name: str | None) -> None:
    """Select ``name`` in the sidebar's picker from the next run on (the picker may already be drawn), and
    remember it as the operator's choice."""
    st.session_state[KEY_PENDING_CONNECTION] = name
    if name:
        remember_connection(context(), name, operator())


def no_connection_screen() -> None:
    """The designed screen when no connection exists: where to set one up."""
    st.info(_("**No connection is configured yet.** Add your 6clicks tenant: its API base URL and the API key of a "
              "dedicated 6clicks user with the six SCIM permissions. **Set up a tenant** walks you through every "
              "step, from the keyring to the daily reminder."), icon=":material/link_off:")
    a, b = st.columns(2)
    a.page_link("pages/setup.py", label=_("Set up a tenant"), icon=":material/checklist:")
    b.page_link("pages/connection.py", label=_("Add a connection"), icon=":material/add_link:",
                query_params={"tab": "Add a connection"})  # the tab's key on that page, not a text
