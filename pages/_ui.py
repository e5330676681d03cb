"""Shared page helpers: the open context, the selected connection, error screens, the token badge and banner,
time formatting in the operator's zone, the cached directory view, sign-in and the operator's identity.

Pages import this module as ``from pages import _ui as ui``. Nothing here holds or shows a secret: the
credential store is read by the console core only; pages see fingerprints.

Session-state keys (documented for other pages):
- ``connection``: the selected connection's name.
- ``users.selected_ids``: list of SCIM ids of the users selected on the Users page (operations read it).
- ``users.detail_id`` / ``groups.detail_id``: the user / group whose detail view is open.
- ``groups.selected_ids``: list of SCIM ids of the groups selected on the Groups & roles page.
- ``result.*``: the outcome panel of an action (e.g. ``result.connection``); every ``result.*`` key is dropped
  when the operator moves to another page (``forget_other_pages``), so a panel belongs to the action that made it.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from console.directory.people import display_labels
from console.errors import ConsoleError
from console.text import INVISIBLE_PATTERN, reveal
from console.text import plain as _neutralise

log = logging.getLogger("console.app")

KEY_CONNECTION = "connection"
KEY_SELECTED_USERS = "users.selected_ids"
KEY_USER_DETAIL = "users.detail_id"
KEY_GROUP_DETAIL = "groups.detail_id"
KEY_SELECTED_GROUPS = "groups.selected_ids"
KEY_PENDING_CONNECTION = "connection.pending"  # select this connection at the next run (before the picker)
ENV_OPERATORS = "SCIM_CONSOLE_OPERATORS"
LOG_FILE = "console-app.log"

LEVEL_COLOURS = {"ok": "green", "notice": "blue", "warning": "orange", "critical": "red", "expired": "red",
                 "rejected": "red", "missing": "gray"}
LEVEL_ICONS = {"ok": ":material/verified:", "notice": ":material/schedule:", "warning": ":material/warning:",
               "critical": ":material/error:", "expired": ":material/block:", "rejected": ":material/block:",
               "missing": ":material/key_off:"}

# --- text: what comes from outside is shown as text, never as Markdown ---------------------------------------
#
# Streamlit renders Markdown in far more places than st.markdown: titles and headers, captions, alerts, toasts,
# metric labels *and values*, help tooltips, progress and status texts, and the labels of buttons, expanders,
# tabs, popovers, page links, radio and segmented-control options. Its renderer (react-markdown with remark-gfm,
# remark-math and remark-directive, plus Streamlit's own plugins) turns `![x](url)` into a remote image,
# `[text](url)` into a link, `:red[...]` into colour, `:material/...:` and `:smile:` into icons, `$...$` into
# maths and `# x` into a heading. Directory data, log records, server messages and typed text therefore reach
# those elements only through ``md_escape``; plain-text elements (st.text, st.code, st.json, dataframes, and the
# options of st.selectbox / st.multiselect, which Streamlit shows verbatim) get ``plain`` instead.

_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character CommonMark lets us escape
_WJ = "\u2060"  # WORD JOINER: invisible, breaks the patterns below without changing what is seen
# Rewrites that run on text *after* backslash escapes are resolved, so escaping alone cannot stop them:
# emoji / :streamlit: / :material_x: shortcodes, GFM literal autolinks (http://, www., e-mail addresses) and
# Streamlit's typographic arrows (" -> " becomes "→").
_SHORTCODE = re.compile(r":(?=[A-Za-z0-9_+\-]+:)")
_AUTOLINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)|(?<=[-.\w+])(?=@[-\w]+(?:\.[-\w]+)+)")
_ARROW = re.compile(r"(?:^|(?<=\s))(<->|->|<-|--|>=|<=|~=)(?=\s|$)")


def plain(value: Any, *, limit: int | None = 300, multiline: bool = False, empty: str = "—") -> str:
    """Text for a plain-text element (st.text, selectbox options): controls and bidi overrides made visible,
    line breaks collapsed unless ``multiline``, at most ``limit`` characters; ``empty`` when there is none."""
    return _neutralise(value, limit=limit, multiline=multiline, empty=empty)


def _escape_line(line: str) -> str:
    line = _SHORTCODE.sub(":" + _WJ, line)
    line = _AUTOLINK.sub(_WJ, line)
    line = _ARROW.sub(lambda m: m.group(1)[0] + _WJ + m.group(1)[1:], line)
    return _MD_PUNCT.sub(r"\\\1", line)


def md_escape(value: Any, *, limit: int | None = 300, multiline: bool = False, empty: str = "—") -> str:
    """``value`` as a Markdown fragment that Streamlit renders as exactly that text (see above): safe inside
    any Markdown-rendering element or label, alone or inside the app's own Markdown (``f"**{md_escape(x)}**"``).
    ``multiline`` keeps line breaks (as hard breaks); otherwise the text is one line."""
    text = plain(value, limit=limit, multiline=multiline, empty=empty)
    if not multiline:
        return _escape_line(text)
    lines = [_escape_line(line.lstrip()) for line in text.split("\n")]
    return "\n".join(line + "  " if line and i + 1 < len(lines) and lines[i + 1] else line
                     for i, line in enumerate(lines))  # hard breaks inside a paragraph, blank lines stay blank


def plain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for st.dataframe: cells are shown verbatim there (no Markdown), but an RTL override would still
    reorder a cell and control characters would draw as boxes, so text cells holding any get them made visible
    (``[U+202E]``). Other cells, and frames without such characters, are returned as they are (no copy)."""
    out = frame
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not str(values.dtype).startswith(("str", "string")):
            continue
        try:
            hits = values.str.contains(INVISIBLE_PATTERN, regex=True, na=False).astype(bool)
        except (AttributeError, TypeError):  # not text after all (lists, numbers...)
            continue
        if not hits.any():
            continue
        if out is frame:
            out = frame.copy()
        fixed = values.astype(object).copy()
        fixed[hits] = [reveal(v) if isinstance(v, str) else v for v in values[hits]]
        out[column] = fixed
    return out


def plot_text(value: Any, *, limit: int | None = 120, empty: str = "—") -> str:
    """Text for a Plotly label, tick, legend, annotation or hover value: Plotly reads a subset of HTML there
    (``<a href>``, ``<b>``, ``<br>``...), so ``&``, ``<`` and ``>`` become entities it shows literally."""
    text = plain(value, limit=limit, empty=empty)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- context and connection --------------------------------------------------------------------------------


def data_dir() -> Path:
    from console.paths import data_dir as default_dir

    return default_dir()


@st.cache_resource(show_spinner=False)
def _open_context(path: str) -> Any:
    from console.context import open_context

    ctx = open_context(Path(path), credentials=_credentials_for_app())
    _install_log_file(ctx.data_dir)
    return ctx


def _credentials_for_app() -> Any:
    """The OS keyring wrapper; the demo connection's secrets go to its in-memory part (see console.credentials).
    The encrypted file keyring's passphrase comes from the environment or the page's unlock box, never from a
    prompt (the server may have inherited the terminal of ``python -m console app``)."""
    from console.credentials import default_credentials, env_passphrase

    return default_credentials(passphrase_provider=env_passphrase)


def context() -> Any:
    """The open ``console.context.Context`` for this app's data dir (shared by all sessions)."""
    return _open_context(str(data_dir()))


def connections() -> list[Any]:
    from console.connections import ConnectionRepo

    return list(ConnectionRepo(context().store).list())


def connection(required: bool = True) -> Any | None:
    """The selected ``Connection``. With ``required`` and none configured, shows the designed screen and stops."""
    from console.connections import ConnectionRepo

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


def default_connection(available: list[Any]) -> str | None:
    """The connection a new session opens on: the operator's last selection while it is healthy, else a healthy
    one (a real tenant before the demo); never an incomplete or broken one while a healthy one exists."""
    from console.setup import choose_connection

    return choose_connection(context(), available, operator())


def remember_selection() -> None:
    """on_change of the sidebar's picker: the operator's choice is remembered for the next start."""
    from console.setup import remember_connection

    name = st.session_state.get(KEY_CONNECTION)
    if name:
        remember_connection(context(), name, operator())


def select_connection(name: str | None) -> None:
    """Select ``name`` in the sidebar's picker from the next run on (the picker may already be drawn), and
    remember it as the operator's choice."""
    from console.setup import remember_connection

    st.session_state[KEY_PENDING_CONNECTION] = name
    if name:
        remember_connection(context(), name, operator())


def no_connection_screen() -> None:
    st.info("**No connection is configured yet.** Add your 6clicks tenant: its API base URL and the API key of a "
            "dedicated 6clicks user with the six SCIM permissions. **Set up a tenant** walks you through every step, "
            "from the keyring to the daily reminder.", icon=":material/link_off:")
    a, b = st.columns(2)
    a.page_link("pages/setup.py", label="Set up a tenant", icon=":material/checklist:")
    b.page_link("pages/connection.py", label="Add a connection", icon=":material/add_link:",
                query_params={"tab": "Add a connection"})


# --- errors -----------------------------------------------------------------------------------------------


def redact(text: str) -> str:
    """Secrets out of a text shown on a page or logged (the console core's one implementation)."""
    from console.redact import redact as core_redact

    return core_redact(text)


def _install_log_file(directory: Path) -> None:
    path = Path(directory) / LOG_FILE
    root = logging.getLogger("console")
    if any(isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path for h in root.handlers):
        return
    try:
        handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return
    from console.redact import redacting_handler

    root.addHandler(redacting_handler(handler, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


def log_path() -> Path:
    return data_dir() / LOG_FILE


def show_error(exc: BaseException, *, what: str | None = None) -> None:
    """st.error with the remedy; never a traceback. Console errors carry their own message and remedy."""
    # messages may carry a server's words (a SCIM error detail, a record's reason): shown as text, redacted first
    if isinstance(exc, ConsoleError):
        body = f"**{md_escape(redact(exc.message), limit=2000)}**"
        if exc.remedy:
            body += "\n\n" + md_escape(redact(exc.remedy), limit=2000, multiline=True)
    elif hasattr(exc, "remedy"):  # scim_client.ScimError and friends: str() = message + remedy
        body = f"**{md_escape(redact(str(exc)), limit=2000)}**"
    else:
        body = (f"**Something went wrong{' while ' + md_escape(what) if what else ''}: {type(exc).__name__}.**"
                f"\n\nTry again; if it keeps happening, send the details in {md_escape(str(log_path()))} to your "
                "administrator (the log never contains secrets).")
    st.error(body, icon=":material/error:")


def log_exception(exc: BaseException) -> None:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("page error: %s", redact(detail))


@contextmanager
def guard(what: str | None = None) -> Iterator[None]:
    """Wrap a page body (or a panel): unexpected exceptions become st.error with a remedy and a log entry."""
    try:
        yield
    except Exception as exc:  # Streamlit's stop/rerun/switch_page are BaseExceptions and pass through
        log_exception(exc)
        show_error(exc, what=what)


def _leave_legacy_pages_mode() -> bool:
    """Streamlit decides per process whether a ``pages/`` folder means its legacy multipage mode, and only
    ``st.navigation`` (in app.py) switches that off. When the very first request of a server process asks for a
    page URL (a browser tab reconnecting after a restart), that page runs alone in legacy mode, with a
    navigation listing every file in ``pages/``. Switch the mode off as ``st.navigation`` does and report
    whether it was on, so the caller reruns through app.py."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this internal: nothing to fix
        return False
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
            from pages import _access

            _access.require_access()
            render_shell()
        with guard(what):
            body()
    finally:
        shell_done()


# --- time ---------------------------------------------------------------------------------------------------


def operator_zone() -> tzinfo:
    name = None
    try:
        name = st.context.timezone
    except Exception:
        name = None
    name = name or os.environ.get("TZ")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo or UTC


#: the one date-and-time format of the console, in the operator's zone: "1 Dec 2026, 18:05" (text) and the
#: same for tables (``time_column``, a moment.js pattern); dates alone: "1 Dec 2026"
TIME_FORMAT = "D MMM YYYY, HH:mm"
DATE_FORMAT = "D MMM YYYY"


def zone_name() -> str:
    """The operator's zone as people say it: "Europe/Berlin", else its abbreviation."""
    zone = operator_zone()
    return str(getattr(zone, "key", None) or datetime.now(zone).tzname() or "UTC")


def local(dt: Any) -> datetime | None:
    """``dt`` (aware, naive = UTC, ISO text or a pandas timestamp) in the operator's zone; None when missing."""
    if dt is None or (not isinstance(dt, str) and pd.isna(dt)):
        return None
    if isinstance(dt, str):
        try:
            dt = datetime.fromisoformat(dt.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(dt, pd.Timestamp):
        dt = dt.to_pydatetime()
    if not isinstance(dt, datetime):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(operator_zone())


def fmt_time(dt: Any, *, date_only: bool = False, zone: bool = True) -> str:
    """The console's one date-and-time text, in the operator's zone: "1 Dec 2026, 18:05 CET" (the zone's
    abbreviation, since the operator's browser and the server may disagree; without it with ``zone=False``,
    "1 Dec 2026" with ``date_only``); "—" when there is none. Tables show the same format without the zone
    (``time_column``; its header's help names the zone)."""
    value = local(dt)
    if value is None:
        return "—"
    text = f"{value.day} {value:%b %Y}"
    if date_only:
        return text
    text += f", {value:%H:%M}"
    return f"{text} {value.tzname()}" if zone and value.tzname() else text


def local_times(values: Any) -> pd.Series:
    """A column of times (aware, naive = UTC or ISO text) converted to the operator's zone for ``time_column``."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    return pd.to_datetime(series, utc=True, errors="coerce", format="mixed").dt.tz_convert(operator_zone())


def time_column(label: str, *, date_only: bool = False, **kwargs: Any) -> Any:
    """A ``st.column_config.DatetimeColumn`` in the console's format (values from ``local_times``)."""
    kwargs.setdefault("help", f"In your time zone ({zone_name()}).")
    return st.column_config.DatetimeColumn(label, format=DATE_FORMAT if date_only else TIME_FORMAT, **kwargs)


def ago(dt: Any, now: datetime | None = None) -> str:
    """How long ago (or, for a future time, how soon): "just now", "45 s ago", "5 min ago", "3 h ago",
    "1 day ago", "12 days ago", "in 20 min"; "never" when missing."""
    from console.text import count

    value = local(dt)
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    future = seconds < -60
    seconds = abs(seconds)
    if seconds < 60:
        return "just now" if seconds < 10 or future else f"{int(seconds)} s ago"
    if seconds < 3600:
        span = f"{int(seconds // 60)} min"
    elif seconds < 86400:
        span = f"{int(seconds // 3600)} h"
    else:
        span = count(int(seconds // 86400), "day")
    return f"in {span}" if future else f"{span} ago"


# --- state that belongs to one page -------------------------------------------------------------------------

KEY_PAGE = "ui.page"              # the page of the previous run
KEY_PAGE_STATE = "ui.page_state"  # {page: session-state keys (or prefixes ending in ".") that belong to it}


def _page_id() -> str | None:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        return None
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


# --- token ---------------------------------------------------------------------------------------------------


def token_service() -> Any:
    from console.tokens.service import TokenService

    return TokenService(context())


def token_status(conn: Any) -> Any | None:
    """``TokenStatus`` for ``conn`` or None when the credential store cannot be read (shown by the caller)."""
    try:
        return token_service().status(conn.name)
    except ConsoleError as exc:
        log.warning("token status for %s: %s", conn.name, exc)
        return None


def token_label(status: Any) -> str:
    if status is None:
        return "Token: unknown"
    level = status.level
    if level == "missing":
        return "No token"
    if level == "rejected":
        return "Token rejected"
    if level == "expired":
        return "Token expired"
    days = status.days_left
    if days is None:
        return "Token: expiry unknown"
    approx = "≈" if getattr(status, "estimated", False) else ""
    return f"Token: {approx}{days} day{'s' if days != 1 else ''} left"


def token_badge(status: Any, *, where: Any = None) -> None:
    target = where or st
    level = status.level if status is not None else "missing"
    target.badge(token_label(status), color=LEVEL_COLOURS.get(level, "gray"),  # type: ignore[arg-type]
                 icon=LEVEL_ICONS.get(level), help=(md_escape(status.message) if status is not None else None))


def token_banner(conn: Any, status: Any) -> None:
    """A banner on every page once a reminder threshold is reached, or when the token is unusable."""
    if status is None or status.level in ("ok",):
        return
    text = f"**{md_escape(conn.name)}: {md_escape(status.message, limit=1000)}**"
    if status.remedy:
        text += " " + md_escape(status.remedy, limit=1000)
    if status.level in ("critical", "expired", "rejected"):
        st.error(text, icon=":material/key_off:")
    elif status.level == "missing":
        from console.setup import connection_health

        health = connection_health(context(), conn, deep=True)  # the one exact next step (key, or Generate)
        st.warning(f"**{md_escape(conn.name)} is incomplete: it has no token yet.** "
                   + md_escape(health.next_step, limit=1000), icon=":material/key_off:")
    elif status.level == "warning":
        st.warning(text, icon=":material/warning:")
    else:
        st.info(text, icon=":material/schedule:")


def keyring_banner(conn: Any) -> None:
    """When the selected (non-demo) connection's secrets cannot be read: say why and what to do."""
    if conn is None or getattr(conn, "is_demo", False):
        return
    from console.credentials import ENV_PASSPHRASE

    info = context().credentials.backend_info()
    if not info.secure:
        st.error(f"**The secrets of {md_escape(conn.name)} cannot be read: {md_escape(info.label)}.** Token tests, "
                 f"refreshes and rotations need them. {md_escape(info.remedy, limit=1000)}",
                 icon=":material/key_off:")
    elif info.locked and not os.environ.get(ENV_PASSPHRASE):
        st.warning("**The encrypted keyring is locked.** Unlock it on the Connection & token page to refresh the "
                   "directory or use the token.", icon=":material/lock:")


def demo_label(conn: Any) -> None:
    if conn is not None and getattr(conn, "is_demo", False):
        st.badge("DEMO — simulated tenant, nothing here is real", color="violet", icon=":material/science:")


# --- directory ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Directory:
    """A read-only, prepared view of one snapshot, shared by all sessions (never mutate its frames)."""

    snapshot_id: Any
    taken_at: datetime
    users: pd.DataFrame        # snapshot users + "search" (lower-case haystack), "label" (display label),
    #                            "groups" (number of groups and roles)
    groups: pd.DataFrame       # snapshot groups (kind, member_count) + "label" (roles without the rule's marker)
    memberships: pd.DataFrame  # group_id, user_id
    snapshot: Any

    def member_ids(self, group_id: str) -> pd.Index:
        return pd.Index(self.memberships.loc[self.memberships["group_id"] == group_id, "user_id"].unique())

    def user_group_ids(self, user_id: str) -> list[str]:
        return self.memberships.loc[self.memberships["user_id"] == user_id, "group_id"].tolist()


_dir_lock = threading.Lock()


@st.cache_resource(show_spinner="Loading the directory…", max_entries=3)
def _directory(path: str, conn_name: str, snapshot_id: Any, role_rule: str, _snapshot: Any,
               _conn: Any) -> Directory:
    return build_directory(_snapshot, _conn)


def build_directory(snap: Any, conn: Any) -> Directory:
    """Prepare a snapshot for the pages: a lower-case search haystack and membership counts per user, and
    groups classified by the connection's current role rule."""
    users = snap.users.copy()
    for column in ("userName", "email", "givenName", "familyName", "displayName", "externalId"):
        if column not in users.columns:
            users[column] = None
    haystack = users["userName"].fillna("").astype(str)
    for column in ("email", "givenName", "familyName", "displayName"):
        haystack = haystack + "\x1f" + users[column].fillna("").astype(str)
    users["search"] = haystack.str.lower()
    users["label"] = display_labels(users)  # the one display name of console.directory.people (displayName is often absent)
    memberships = snap.memberships
    counts = memberships.groupby("user_id").size() if len(memberships) else pd.Series(dtype="int64")
    users["groups"] = users["id"].map(counts).fillna(0).astype("int64")
    users = users.reset_index(drop=True)
    groups = snap.groups.copy()
    if len(groups):  # the rule may have been edited since the snapshot: classify with the current one
        groups["kind"] = ["role" if conn.is_role(str(n)) else "group" for n in groups["displayName"]]
    elif "kind" not in groups.columns:
        groups["kind"] = pd.Series(dtype="object")
    # the name where the context already says group or role: a role without its rule's marker (console.directory.roles)
    from console.directory.roles import role_label
    from console.text import as_text

    groups["label"] = pd.Series([(role_label(conn, n) if k == "role" else as_text(n)) or str(i) for n, k, i
                                 in zip(groups["displayName"], groups["kind"], groups["id"], strict=True)],
                                index=groups.index, dtype=object)
    snap.__dict__.pop("users", None)  # the prepared copy above replaces the snapshot's lazily loaded frame
    return Directory(snapshot_id=snap.id, taken_at=snap.taken_at, users=users, groups=groups,
                     memberships=memberships, snapshot=snap)


def latest_snapshot(conn: Any) -> Any | None:
    from console.directory.store import latest_snapshot as latest

    return latest(context(), conn)


def directory(conn: Any) -> Directory | None:
    """The latest snapshot of ``conn`` as a cached ``Directory``, or None when no snapshot was taken yet."""
    snap = latest_snapshot(conn)
    if snap is None:
        return None
    return _directory(str(data_dir()), conn.name, snap.id, str(getattr(conn, "role_rule", "")), snap, conn)


def run_with_progress(work: Callable[[Callable[[str, float], None]], Any], bar: Any) -> Any:
    """Run ``work(report)`` in a worker thread and mirror its ``report(text, fraction)`` calls on ``bar``
    (an ``st.progress``) from the script thread: the core reports from its own threads, which cannot touch
    Streamlit elements. Re-raises the worker's exception."""
    state: dict[str, Any] = {"text": "", "fraction": 0.0}
    outcome: dict[str, Any] = {}

    def report(text: str, fraction: float) -> None:
        state["text"], state["fraction"] = text, min(max(float(fraction), 0.0), 1.0)

    def target() -> None:
        try:
            outcome["result"] = work(report)
        except BaseException as exc:  # handed to the script thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="console-ui-work", daemon=True)
    worker.start()
    shown: tuple[str, float] | None = None
    while worker.is_alive():
        worker.join(0.2)
        current = (str(state["text"]), round(float(state["fraction"]), 3))
        if current != shown and current[0]:
            bar.progress(current[1], text=current[0])
            shown = current
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def take_snapshot_with_progress(conn: Any, bar: Any) -> Any:
    from console.demo import SnapshotProgress
    from console.directory.take import take_snapshot

    ctx = context()

    def work(report: Callable[[str, float], None]) -> Any:
        tracker = SnapshotProgress()

        def on_progress(phase: str, done: int, total: int | None) -> None:
            tracker.update(phase, done, total)
            report(f"Fetched {tracker.text()}", tracker.fraction())

        report("Listing users and groups…", 0.0)
        return take_snapshot(ctx, conn, progress=on_progress)

    return run_with_progress(work, bar)


def refresh_directory(conn: Any, *, where: Any = None) -> Any | None:
    """Take a snapshot with a progress bar; returns the snapshot or None (the error is shown)."""
    target = where or st
    with target.status(f"Fetching the directory of {md_escape(conn.name)}…", expanded=True) as status:
        bar = st.progress(0.0, text="Listing users and groups…")
        try:
            snap = take_snapshot_with_progress(conn, bar)
        except Exception as exc:
            log_exception(exc)
            status.update(label="The directory could not be fetched", state="error")
            show_error(exc, what="fetching the directory")
            return None
        bar.progress(1.0, text="Done")
        label = f"Directory fetched: {snap.user_count:,} users, {snap.group_count + snap.role_count:,} groups and roles"
        problems = refresh_entra(conn, bar) if getattr(conn, "entra", None) is not None else []
        for problem in problems:
            show_error(problem, what="reading Entra provisioning data")
        status.update(label=label + ("; Entra data could not be read" if problems else ""),
                      state="error" if problems else "complete", expanded=bool(problems))
    return snap


def refresh_entra(conn: Any, bar: Any) -> list[BaseException]:
    """New provisioning logs and the job's status from Graph (history module); returns the errors."""
    from console.entra.health import poll_job
    from console.entra.logs import fetch_logs

    ctx = context()
    problems: list[BaseException] = []
    for text, call in (("Reading new provisioning logs from Microsoft Graph…", fetch_logs),
                       ("Reading the provisioning job's status…", poll_job)):
        bar.progress(1.0, text=text)
        try:
            run_with_progress(lambda _report, call=call: call(ctx, conn), bar)
        except Exception as exc:
            log_exception(exc)
            problems.append(exc)
    return problems


def no_snapshot_screen(conn: Any) -> None:
    st.info(f"**No directory snapshot of {md_escape(conn.name)} yet.** Fetch it now to see its users, groups and "
            "roles.",
            icon=":material/cloud_download:")
    if st.button("Fetch the directory now", key="empty.fetch", type="primary", icon=":material/refresh:"):
        if refresh_directory(conn) is not None:
            st.rerun()


# --- operations hook ---------------------------------------------------------------------------------------


def ops_module() -> Any | None:
    """``pages/_ops_ui.py`` (owned by operations) when it exists: its ``users_actions(conn, user_ids)`` and
    ``groups_actions(conn, group_ids)`` render the action panels on the Users and Groups & roles pages."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("pages._ops_ui") is None:
        return None
    return importlib.import_module("pages._ops_ui")


# --- sign-in ------------------------------------------------------------------------------------------------


def _secrets_section(name: str) -> Any | None:
    from streamlit.errors import StreamlitSecretNotFoundError

    try:
        if name in st.secrets:
            return st.secrets[name]
    except (StreamlitSecretNotFoundError, FileNotFoundError, KeyError):
        return None
    return None


def sign_in_required() -> bool:
    return _secrets_section("auth") is not None


def allowed_operators() -> set[str]:
    allowed = {e.strip().lower() for e in os.environ.get(ENV_OPERATORS, "").split(",") if e.strip()}
    configured = _secrets_section("operators")
    if configured is not None:
        emails = configured.get("emails", []) if hasattr(configured, "get") else configured
        allowed |= {str(e).strip().lower() for e in emails if str(e).strip()}
    return allowed


def require_sign_in() -> None:
    """With ``[auth]`` in secrets: sign in through st.login and check the allow-list; otherwise a no-op."""
    if not sign_in_required():
        return
    if not st.user.is_logged_in:
        st.title("SCIM operator console for 6clicks")
        st.info("Sign in with your organisation account to continue.", icon=":material/login:")
        st.button("Sign in", on_click=st.login, type="primary", icon=":material/login:")
        st.stop()
    email = str(st.user.get("email") or "").lower()
    allowed = allowed_operators()
    if not allowed or email not in allowed:
        st.error(f"**{md_escape(email) if email else 'This account'} is not an operator of this console.** Ask an "
                 "administrator to "
                 f"add the address to `{ENV_OPERATORS}` or to `[operators] emails` in the app's secrets.",
                 icon=":material/block:")
        st.button("Sign out", on_click=st.logout)
        st.stop()


def operator() -> str:
    """Who is operating (for the audit log): the signed-in e-mail, else the OS user."""
    try:
        if sign_in_required() and st.user.is_logged_in:
            return str(st.user.get("email") or "unknown")
    except Exception as exc:  # no session (CLI, tests): fall back to the OS user
        log.debug("operator: no signed-in user (%s)", type(exc).__name__)
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


# --- users table (pure functions; vectorised so 100,000 users stay responsive) -------------------------------

USER_SORTS = {"User name": "userName", "E-mail": "email", "Name": "label",
              "Family name": "familyName", "Last modified": "lastModified", "Created": "created",
              "Number of groups and roles": "groups"}


def filter_users(d: Directory, *, query: str = "", active: str = "All", group_ids: list[str] | None = None,
                 role_ids: list[str] | None = None) -> pd.DataFrame:
    """Users of ``d`` matching the search (userName / e-mail / names, case-insensitive, all words), the
    active filter ("All" | "Active" | "Inactive") and membership of any of ``group_ids`` and any of ``role_ids``."""
    users = d.users
    mask = pd.Series(True, index=users.index)
    for word in query.lower().split():
        mask &= users["search"].str.contains(word, regex=False)
    if active == "Active":
        mask &= users["active"].fillna(False).astype(bool)
    elif active == "Inactive":
        mask &= ~users["active"].fillna(False).astype(bool)
    for ids in (group_ids, role_ids):
        if ids:
            members = d.memberships.loc[d.memberships["group_id"].isin(ids), "user_id"]
            mask &= users["id"].isin(members)
    return users[mask]


def sort_users(users: pd.DataFrame, by: str, descending: bool = False) -> pd.DataFrame:
    column = USER_SORTS.get(by, by)
    if column not in users.columns:
        return users
    if users[column].dtype == object or str(users[column].dtype).startswith("str"):
        return users.sort_values(column, ascending=not descending, na_position="last",
                                 key=lambda s: s.fillna("").astype(str).str.lower(), kind="stable")
    return users.sort_values(column, ascending=not descending, na_position="last", kind="stable")


def page_slice(frame: pd.DataFrame, page: int, size: int) -> pd.DataFrame:
    pages = max(1, -(-len(frame) // size))
    page = min(max(page, 1), pages)
    return frame.iloc[(page - 1) * size: page * size]


def page_count(total: int, size: int) -> int:
    return max(1, -(-total // size))


def group_names_for(d: Directory, user_ids: pd.Series | list[str], kind: str, *, full: bool = False,
                    separator: str = ", ") -> dict[str, str]:
    """``{user_id: "Finance, Sales"}`` for the given users and group kind (a visible page, or every user of an
    export). Roles are named without the role rule's marker ("Auditor", not "Role - Auditor") unless ``full``
    (the name as 6clicks has it, for exports)."""
    ids = pd.Index(user_ids)
    m = d.memberships[d.memberships["user_id"].isin(ids)]
    if m.empty:
        return {}
    column = "displayName" if full else "label"
    names = d.groups.set_index("id")
    m = m.join(names[[column, "kind"]], on="group_id")
    m = m[(m["kind"] == kind) & m[column].notna()]
    if m.empty:
        return {}
    m = m.assign(name=m[column].astype(str))
    m = m.sort_values("name", key=lambda s: s.str.lower(), kind="stable")
    return m.groupby("user_id", sort=False)["name"].agg(separator.join).to_dict()


USERS_CSV_COLUMNS = ["id", "userName", "email", "givenName", "familyName", "displayName", "active", "externalId",
                     "groups", "roles", "created", "lastModified"]


def users_csv(d: Directory, frame: pd.DataFrame) -> bytes:
    """The Users export of ``frame`` (rows of ``d.users``): the SCIM attributes, then the names of each person's
    groups and roles as 6clicks has them ("Finance; Sales"), then created / last modified (UTC, ISO 8601).
    Formula-neutralised UTF-8 CSV with a BOM (``console.csvsafe``)."""
    from console.csvsafe import to_csv_bytes

    out = frame[[c for c in USERS_CSV_COLUMNS if c in frame.columns and c != "groups"]].copy()
    ids = frame["id"]
    for kind, column in (("group", "groups"), ("role", "roles")):
        names = group_names_for(d, ids, kind, full=True, separator="; ")
        out[column] = [names.get(i, "") for i in ids]
    for column in ("created", "lastModified"):
        if column in out.columns:
            times = pd.to_datetime(out[column], utc=True, errors="coerce")
            out[column] = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(times.notna(), "")
    return to_csv_bytes(out[[c for c in USERS_CSV_COLUMNS if c in out.columns]])


def csv_download(label: str, frame: pd.DataFrame | Callable[[], pd.DataFrame], file_name: str, key: str) -> None:
    """A "Download CSV" button for a table, written by ``console.csvsafe`` (no cell can start a formula). Tables
    leave the app only this way: ``client.disableDataExport`` hides the grid's own CSV export, which writes cells
    verbatim."""
    from console.csvsafe import to_csv_bytes

    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in file_name.removesuffix(".csv")) or "export"
    st.download_button(label, data=lambda: to_csv_bytes(frame() if callable(frame) else frame),
                       file_name=f"{stem}.csv", mime="text/csv", icon=":material/download:", key=key)


# --- the shell: embedded demo, sidebar, banners (rendered by app.py; by a page when app.py did not run) ------

_shell = threading.local()


@st.cache_resource(show_spinner=False)
def _demo_slot(data_dir: str) -> dict[str, Any]:
    """Holds the demo sandbox handle for this data dir across reruns and sessions (``console.demo`` is
    itself idempotent and thread-safe; this only keeps the handle where every session finds it)."""
    return {"handle": None, "error": None}


def start_demo_if_wanted(ctx: Any) -> None:
    from console import demo

    slot = _demo_slot(str(ctx.data_dir))
    handle = slot["handle"]
    if handle is not None and handle.alive():
        return
    selected = st.session_state.get(KEY_PENDING_CONNECTION) or st.session_state.get(KEY_CONNECTION)
    chosen_demo = bool(selected) and any(c.is_demo and c.name == selected for c in connections())
    if not (demo.demo_wanted(ctx) or (chosen_demo and not demo.demo_disabled())):
        return
    if slot["error"] is not None:  # do not retry on every rerun: show what failed and offer a retry
        show_error(slot["error"], what="starting the demo")
        st.info("You can still add a real connection on the **Connection & token** page.")
        if not st.button("Try starting the demo again", key="demo.retry", icon=":material/refresh:"):
            return
        slot["error"] = None
    with st.status("Starting the demo tenant (a simulated 6clicks with Entra history)…", expanded=True) as box:
        bar = st.progress(0.0, text="Starting…")
        try:
            slot["handle"] = run_with_progress(lambda report: demo.ensure_demo(ctx, progress=report), bar)
            slot["error"] = None
        except Exception as exc:
            log_exception(exc)
            slot["error"] = exc
            box.update(label="The demo tenant could not be started", state="error")
            show_error(exc, what="starting the demo")
            st.info("You can still add a real connection on the **Connection & token** page.")
            return
        box.update(label="Demo tenant ready", state="complete", expanded=False)


def sidebar(ctx: Any) -> tuple[Any, Any]:
    conns = connections()
    with st.sidebar:
        if not conns:
            st.caption("No connection configured.")
            return None, None
        from console.setup import healths

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

        st.selectbox("Connection", names, key=KEY_CONNECTION, format_func=label, on_change=remember_selection,
                     help="Opens on your last choice while it works; an incomplete or broken connection is marked.")
        conn = connection(required=False)
        if conn is None:
            return None, None
        if conn.is_demo:
            st.badge("DEMO", color="violet", icon=":material/science:",
                     help="A simulated 6clicks tenant with simulated Entra provisioning; nothing here is real.")
        status = token_status(conn)
        token_badge(status)
        if status is not None and status.expires_at is not None:
            st.caption(f"Token expires {fmt_time(status.expires_at, date_only=True)}"
                       + (" (estimated)" if getattr(status, "estimated", False) else ""))
        with guard("reading the directory's freshness"):
            snap = latest_snapshot(conn)
            st.caption(f"Directory fetched {ago(snap.taken_at)}" if snap is not None
                       else "Directory not fetched yet")
        if st.button("Refresh", key="sidebar.refresh", icon=":material/refresh:", width="stretch",
                     help="Fetch the directory (users, groups, roles) again"
                          + ("; read new Entra provisioning logs and the job's status" if conn.entra else "") + "."):
            if refresh_directory(conn) is not None:
                st.rerun()
        st.caption(f"Operator: {md_escape(operator())}")
    return conn, status


def render_shell() -> None:
    """Start the demo when wanted, draw the sidebar and the banners. Called by app.py on every run; a page
    calls it itself when app.py did not run first (Streamlit's legacy ``pages/`` mode: AppTest reruns, or the
    very first request of a server process arriving on a page URL)."""
    _shell.rendered = True
    forget_other_pages()
    with guard("starting the console"):
        ctx = context()
        if st.session_state.get(KEY_CONNECTION) is None and KEY_PENDING_CONNECTION not in st.session_state:
            available = connections()
            if available:  # decided before the demo starts: a chosen demo is started even beside a real tenant
                st.session_state[KEY_PENDING_CONNECTION] = default_connection(available)
        start_demo_if_wanted(ctx)
        start_reminders(ctx)
        selected, token = sidebar(ctx)
        if selected is not None:
            keyring_banner(selected)
            token_banner(selected, token)


def shell_done() -> None:
    _shell.rendered = False


@st.cache_resource(show_spinner=False)
def _reminder_thread(data_dir: str) -> Any:
    from console.notify.reminders import start_reminder_thread

    return start_reminder_thread(context())


def start_reminders(ctx: Any) -> Any:
    """While the app runs it sends due reminders itself (``console.notify.reminders.remind_all``, the code and records
    of ``python -m console remind``): one thread per process, whatever the number of sessions."""
    thread = _reminder_thread(str(ctx.data_dir))
    if thread is not None and not thread.is_alive():  # stopped or died: start a new one
        _reminder_thread.clear()
        thread = _reminder_thread(str(ctx.data_dir))
    return thread
