"""The shell around every page: page-owned state, the embedded demo, the sidebar (connection picker, token
badge, freshness, Refresh, operator) and the banners. app.py draws it on every run; ``run_page`` draws it when
app.py did not run first (Streamlit's legacy ``pages/`` mode, see ``_leave_legacy_pages_mode``: the one place
that handles it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from console import demo
from console.connections import Connection
from console.context import Context
from console.i18n import N_, _
from console.notify.reminders import ReminderThread, start_reminder_thread
from console.setup import healths
from console.tokens.status import TokenStatus
from pages import _access
from pages._ui.banners import keyring_banner, token_badge, token_banner, token_status
from pages._ui.dircache import latest_snapshot, refresh_directory
from pages._ui.errors import guard, log_exception, show_error
from pages._ui.format import ago, fmt_time
from pages._ui.lang import apply_language, language_picker
from pages._ui.progress import run_with_progress
from pages._ui.session import (
    KEY_CONNECTION,
    KEY_PENDING_CONNECTION,
    connection,
    connections,
    context,
    default_connection,
    remember_selection,
)
from pages._ui.signin import operator
from pages._ui.text import md_escape, plain


def _leave_legacy_pages_mode() -> bool:
    """Streamlit decides per process whether a ``pages/`` folder means its legacy multipage mode, and only
    ``st.navigation`` (in app.py) switches that off. When the very first request of a server process asks for a
    page URL (a browser tab reconnecting after a restart), that page runs alone in legacy mode, with a
    navigation listing every file in ``pages/``. Switch the mode off as ``st.navigation`` does and report
    whether it was on, so the caller reruns through app.py."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        return True
    return False


def run_page(body: Callable[[], None], what: str | None = None) -> None:
    """Run a page body: the shell first if app.py did not draw it in this run, then the body under guard."""
    try:
        if not getattr(_shell, "rendered", False):
            if _leave_legacy_pages_mode():
                st.rerun()  # run again through app.py: its navigation, sidebar and banners
            apply_language()  # as app.py does first: the way-in page too is in the run's language
            _access.require_access()
            render_shell()
        with guard(what):
            body()
    finally:
        shell_done()


KEY_PAGE = "ui.page"              # the page of the previous run
KEY_PAGE_STATE = "ui.page_state"  # {page: session-state keys (or prefixes ending in ".") that belong to it}


def _page_id() -> str | None:
    run = get_script_run_ctx()
    return getattr(run, "page_script_hash", None) or None if run is not None else None


def page_state(*keys: str) -> None:
    """Declare session-state ``keys`` (a key ending in "." stands for every key it starts) as belonging to the
    page running now: they are dropped when the operator opens another page, so a result panel, a preview or
    a "done" message goes with the page that made it instead of greeting the operator ten minutes later."""
    page = _page_id()
    if page is None:
        return
    owned = st.session_state.setdefault(KEY_PAGE_STATE, {})
    owned.setdefault(page, set()).update(keys)


def forget_other_pages() -> None:
    """Called on every run (``render_shell``): when the page changed since the previous run, drop every
    ``result.*`` panel and the state other pages declared with ``page_state``. The one place that tracks the
    page (session key ``ui.page``)."""
    page = _page_id()
    if page is None:
        return
    last = st.session_state.get(KEY_PAGE)
    st.session_state[KEY_PAGE] = page
    if last is None or last == page:
        return
    # every ``result.*`` outcome panel belongs to the action (and page) that made it, not to the next visit
    for key in [k for k in list(st.session_state.keys()) if str(k).startswith("result.")]:
        del st.session_state[key]
    owned: dict[str, set[str]] = st.session_state.get(KEY_PAGE_STATE, {})
    for owner, keys in list(owned.items()):
        if owner == page:
            continue
        for key in [k for k in list(st.session_state.keys()) if isinstance(k, str)]:
            if any(key == k or (k.endswith(".") and key.startswith(k)) for k in keys):
                del st.session_state[key]
        owned.pop(owner, None)


_shell = threading.local()


@dataclass
class _DemoSlot:
    handle: demo.DemoSandbox | None = None
    error: Exception | None = None


@st.cache_resource(show_spinner=False)
def _demo_slot(data_dir: str) -> _DemoSlot:
    """Holds the demo sandbox handle for this data dir across reruns and sessions (``console.demo`` is
    itself idempotent and thread-safe; this only keeps the handle where every session finds it)."""
    return _DemoSlot()


def start_demo_if_wanted(ctx: Context) -> None:
    slot = _demo_slot(str(ctx.data_dir))
    handle = slot.handle
    if handle is not None and handle.alive():
        return
    selected = st.session_state.get(KEY_PENDING_CONNECTION) or st.session_state.get(KEY_CONNECTION)
    chosen_demo = bool(selected) and any(c.is_demo and c.name == selected for c in connections())
    if not (demo.demo_wanted(ctx) or (chosen_demo and not demo.demo_disabled())):
        return
    if slot.error is not None:  # do not retry on every rerun: show what failed and offer a retry
        show_error(slot.error, what=N_("starting the demo"))
        st.info(_("You can still add a real connection on the **Connection & token** page."))
        if not st.button(_("Try starting the demo again"), key="demo.retry", icon=":material/refresh:"):
            return
        slot.error = None
    with st.status(_("Starting the demo tenant (a simulated 6clicks with Entra history)…"), expanded=True) as box:
        bar = st.progress(0.0, text=_("Starting…"))
        try:
            slot.handle = run_with_progress(lambda report: demo.ensure_demo(ctx, progress=report), bar)
            slot.error = None
        except Exception as exc:
            log_exception(exc)
            slot.error = exc
            box.update(label=_("The demo tenant could not be started"), state="error")
            show_error(exc, what=N_("starting the demo"))
            st.info(_("You can still add a real connection on the **Connection & token** page."))
            return
        box.update(label=_("Demo tenant ready"), state="complete", expanded=False)


def sidebar(ctx: Context) -> tuple[Connection | None, TokenStatus | None]:
    conns = connections()
    with st.sidebar:
        if not conns:
            st.caption(_("No connection configured."))
            return None, None
        names = [c.name for c in conns]
        demo_names = {c.name for c in conns if c.is_demo}
        health = healths(ctx, conns)
        pending = st.session_state.pop(KEY_PENDING_CONNECTION, None)
        if pending in names:
            st.session_state[KEY_CONNECTION] = pending
        if st.session_state.get(KEY_CONNECTION) not in names:
            st.session_state[KEY_CONNECTION] = default_connection(conns)

        def label(n: str) -> str:  # options are plain text (see "text" above)
            extra = [w for w in ("DEMO" if n in demo_names else "", health[n].label) if w]
            return " · ".join([plain(n), *extra])

        st.selectbox(_("Connection"), names, key=KEY_CONNECTION, format_func=label, on_change=remember_selection,
                     help=_("Opens on your last choice while it works; an incomplete or broken connection is "
                            "marked."))
        conn = connection(required=False)
        if conn is None:
            return None, None
        if conn.is_demo:
            st.badge("DEMO", color="violet", icon=":material/science:",
                     help=_("A simulated 6clicks tenant with simulated Entra provisioning; nothing here is real."))
        status = token_status(conn)
        token_badge(status)
        if status is not None and status.expires_at is not None:
            date = fmt_time(status.expires_at, date_only=True)
            st.caption(_("Token expires {date} (estimated)").format(date=date)
                       if getattr(status, "estimated", False) else _("Token expires {date}").format(date=date))
        with guard(N_("reading the directory's freshness")):
            snap = latest_snapshot(conn)
            st.caption(_("Directory fetched {ago}").format(ago=ago(snap.taken_at)) if snap is not None
                       else _("Directory not fetched yet"))
        if st.button(_("Refresh"), key="sidebar.refresh", icon=":material/refresh:", width="stretch",
                     help=_("Fetch the directory (users, groups, roles) again; read new Entra provisioning logs and "
                            "the job's status.") if conn.entra
                     else _("Fetch the directory (users, groups, roles) again.")):
            if refresh_directory(conn) is not None:
                st.rerun()
        st.caption(_("Operator: {name}").format(name=md_escape(operator())))
    return conn, status


def render_shell() -> None:
    """Start the demo when wanted, draw the sidebar and the banners. Called by app.py on every run; a page
    calls it itself when app.py did not run first (Streamlit's legacy ``pages/`` mode: AppTest reruns, or the
    very first request of a server process arriving on a page URL)."""
    _shell.rendered = True
    apply_language()
    forget_other_pages()
    with guard(N_("starting the console")):
        ctx = context()
        if st.session_state.get(KEY_CONNECTION) is None and KEY_PENDING_CONNECTION not in st.session_state:
            available = connections()
            if available:  # decided before the demo starts: a chosen demo is started even beside a real tenant
                st.session_state[KEY_PENDING_CONNECTION] = default_connection(available)
        start_demo_if_wanted(ctx)
        start_reminders(ctx)
        selected, token = sidebar(ctx)
        with st.sidebar:
            language_picker()
        if selected is not None:
            keyring_banner(selected)
            token_banner(selected, token)


def shell_done() -> None:
    _shell.rendered = False


@st.cache_resource(show_spinner=False)
def _reminder_thread(data_dir: str) -> ReminderThread | None:
    return start_reminder_thread(context())


def start_reminders(ctx: Context) -> ReminderThread | None:
    """While the app runs it sends due reminders itself (``console.notify.reminders.remind_all``, the code and records
    of ``python -m console remind``): one thread per process, whatever the number of sessions."""
    thread = _reminder_thread(str(ctx.data_dir))
    if thread is not None and not thread.is_alive():  # stopped or died: start a new one
        _reminder_thread.clear()
        thread = _reminder_thread(str(ctx.data_dir))
    return thread
