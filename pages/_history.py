"""Shared by the Overview, Sync history and Users pages (history area): the provisioning job's overview, read
once per version of the stored data so that every page shows the same figures; the next cycle in words; time
axes for Plotly charts that stay sensible from one snapshot to a year; and a timeline drawn as wrapped lines.

Everything shown here comes from the console core (``console.entra.health``, ``console.timeline``); log and
directory text is escaped (``md_escape`` for Markdown, ``plot_text`` for Plotly).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from console import timeline
from console.connections import Connection
from console.entra import health, schedule
from console.entra.health import JobOverview
from console.entra.logstore import history_version
from console.i18n import N_, _, language
from console.timeline import SOURCE_DIRECTORY
from pages._ui import dircache, session
from pages._ui import format as fmt
from pages._ui.text import md_escape

#: tick labels by tick spacing: never finer than minutes (a single snapshot once showed millisecond ticks); English
#: here, per language in ``tick_formats()`` (Plotly's d3 formats: numeric months in Japanese, "12月1日")
TICK_FORMATS: list[dict[str, Any]] = [
    {"dtickrange": [None, 86_400_000], "value": "%d %b %H:%M"},
    {"dtickrange": [86_400_000, "M1"], "value": "%d %b"},
    {"dtickrange": ["M1", "M12"], "value": "%b %Y"},
    {"dtickrange": ["M12", None], "value": "%Y"},
]
_TICKS_JA = ["%-m月%-d日 %H:%M", "%-m月%-d日", "%Y年%-m月", "%Y年"]
#: the shortest span a time axis shows (one point, or points minutes apart, still get a readable axis)
MIN_SPAN = timedelta(days=1)
#: how far past the latest point or now a widened axis may reach (a share of ``MIN_SPAN``)
FUTURE_PAD = 0.04
HOVER_TIME = "%d %b %Y %H:%M"  # English; ``hover_time()`` per language
_HOVER_TIME_JA = "%Y年%-m月%-d日 %H:%M"
#: the person whose details the Users page opens on their History tab (set by Sync history's record link)
KEY_OPEN_HISTORY = "users.open_history"
#: the badge before a timeline entry: an Entra record's outcome in words, or "snapshot" for a change seen between
#: two directory snapshots (badges, not coloured text or lists: nothing on these pages looks like a data element);
#: {word} is the translated word (``outcome_badge``)
OUTCOME_BADGES = {"success": (":green-badge[:material/check: {word}]", N_("done")),
                  "failure": (":red-badge[{word}]", N_("failed")),
                  "warning": (":orange-badge[{word}]", N_("warning")),
                  "skipped": (":gray-badge[{word}]", N_("skipped")),
                  "seen": (":blue-badge[:material/photo_camera: {word}]", N_("snapshot"))}
OTHER_OUTCOME = (":gray-badge[{word}]", N_("other outcome"))


def outcome_badge(key: str | None) -> str:
    """The badge of an outcome (``OUTCOME_BADGES``; "other outcome" for an unknown one) in the run's language."""
    markup, word = OUTCOME_BADGES.get(str(key), OTHER_OUTCOME)
    return markup.format(word=_(word))


# --- one overview of the job for every page ------------------------------------------------------------------

def version(conn: Connection) -> tuple:
    return history_version(session.context(), conn.name)


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def _overview(data_dir: str, conn_name: str, has_graph: bool, stamp: tuple, lang: str,
              _conn: Connection) -> JobOverview:
    return health.job_overview(session.context(), _conn)  # its texts (quarantine reason, fix) in ``lang``


def job_overview(conn: Connection) -> JobOverview:
    """``console.entra.health.job_overview`` for ``conn``, computed once per change of the stored logs, job polls
    and snapshots (and at most a minute old) and language, shared by the Overview and Sync history pages."""
    return _overview(str(session.data_dir()), conn.name, conn.entra is not None, version(conn), language(), conn)


def next_cycle(ov: JobOverview, now: datetime | None = None) -> tuple[str, str]:
    """(short, sentence) for the next cycle, in the operator's zone: the same words on every page."""
    now = now or datetime.now(UTC)
    return schedule.next_cycle_words(schedule.next_cycle(ov, now), fmt.fmt_time, now)


# --- time axes -----------------------------------------------------------------------------------------------

def local_naive(values: Any) -> pd.Series:
    """UTC timestamps -> the operator's wall-clock time (Plotly draws tz-aware values as UTC)."""
    s = pd.to_datetime(pd.Series(values), utc=True)
    return s.dt.tz_convert(fmt.operator_zone()).dt.tz_localize(None)


def iso_list(values: Any) -> list[str]:
    return [t.isoformat() for t in local_naive(values)]


def local_point(t: datetime | pd.Timestamp) -> pd.Timestamp:
    return local_naive([t]).iloc[0]


def axis_range(values: Any, since: datetime | None = None, until: datetime | None = None) -> list[str] | None:
    """[start, end] of a time axis in the operator's wall-clock time: the chosen period (``since`` .. ``until``
    or now) from its first data point, else the data's extent; widened around its middle to at least
    ``MIN_SPAN``, reaching past the latest point (or now) by ``FUTURE_PAD`` at most."""
    points = local_naive(values) if values is not None and len(values) else pd.Series([], dtype="datetime64[ns]")
    if since is not None:
        lo, hi = local_point(since), local_point(until or datetime.now(UTC))
        if len(points):
            # from the first data point: a period longer than the data gets no empty stretch, and a point just
            # before the period (a whole cycle that overlaps it, the latest snapshot before it) stays visible
            lo, hi = pd.Timestamp(points.min()), max(hi, pd.Timestamp(points.max()))
    elif len(points):
        lo, hi = pd.Timestamp(points.min()), pd.Timestamp(points.max())
    else:
        return None
    if hi - lo < MIN_SPAN:
        middle = lo + (hi - lo) / 2
        lo, hi = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
        # never far into the future: a snapshot taken a minute ago sits near the right edge, not mid-axis
        latest = max(pd.Timestamp(points.max()) if len(points) else lo, local_point(datetime.now(UTC)))
        if hi > latest + MIN_SPAN * FUTURE_PAD:
            hi = latest + MIN_SPAN * FUTURE_PAD
            lo = hi - MIN_SPAN
    return [lo.isoformat(), hi.isoformat()]


def tick_formats() -> list[dict[str, Any]]:
    """``TICK_FORMATS`` in the run's language."""
    if language() != "ja":
        return TICK_FORMATS
    return [{**stop, "value": value} for stop, value in zip(TICK_FORMATS, _TICKS_JA, strict=True)]


def hover_time() -> str:
    """The hover text's time format (d3) in the run's language: "01 Dec 2026 18:05" / "2026年12月1日 18:05"."""
    return _HOVER_TIME_JA if language() == "ja" else HOVER_TIME


def time_axis(fig: go.Figure, values: Any, since: datetime | None = None, *, title: str | None = None) -> None:
    """A date x axis over ``axis_range`` with tick labels that never go below minutes, titled with the
    operator's zone."""
    fig.update_xaxes(type="date", range=axis_range(values, since), tickformatstops=tick_formats(),
                     hoverformat=hover_time(),
                     title_text=title or _("time ({zone})").format(zone=fmt.operator_zone()))


# --- a timeline as lines -------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, ttl=60, max_entries=32)
def _person_timeline(data_dir: str, conn_name: str, user_id: str, stamp: tuple, lang: str,
                     _users: Any) -> pd.DataFrame:
    return timeline.person_timeline(session.context(), conn_name, user_id, users=_users)  # "what" in ``lang``


def person_timeline(conn: Connection, user_id: str) -> pd.DataFrame:
    """``console.timeline.person_timeline`` with the cached directory's users, cached per data version."""
    d = dircache.directory(conn)
    return _person_timeline(str(session.data_dir()), conn.name, str(user_id), version(conn), language(),
                            d.users if d is not None else None)


def timeline_markdown(frame: pd.DataFrame, *, limit: int | None = None) -> str:
    """A timeline frame (``console.timeline.TIMELINE_COLUMNS``) as Markdown, one paragraph per entry: a badge
    (the record's outcome, or "snapshot" for a change seen between snapshots), the time and what happened,
    newest first. Every text from the directory or the logs is escaped."""
    lines = []
    rows = frame if limit is None else frame.head(limit)
    badges = {key: outcome_badge(key) for key in (*OUTCOME_BADGES, None)}
    for r in rows.itertuples(index=False):
        badge = badges["seen"] if r.source == SOURCE_DIRECTORY else badges.get(str(r.outcome), badges[None])
        lines.append(f"{badge} **{fmt.fmt_time(r.at)}** · {md_escape(r.what, limit=700)}")
    return "\n\n".join(lines)


def timeline_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """The timeline for a CSV download (times in UTC); the column names are messages (``dircache.localized``
    translates them unless the operator wants English column names)."""
    out = frame[["at", "source", "what", "outcome", "cycle_id", "record_id", "error_code"]].copy()
    out["at"] = pd.to_datetime(out["at"], utc=True)
    return out.rename(columns={"at": N_("time (UTC)"), "source": N_("source"), "what": N_("what happened"),
                               "outcome": N_("outcome"), "cycle_id": N_("cycle_id"), "record_id": N_("record_id"),
                               "error_code": N_("error_code")})
