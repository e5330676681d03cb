"""Times in the operator's zone: the console's one date-and-time format (text and table columns) and "5 min
ago"."""

from __future__ import annotations

import os
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

from console.text import count


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


def time_column(label: str, *, date_only: bool = False, **kwargs: Any) -> ColumnConfig:
    """A ``st.column_config.DatetimeColumn`` in the console's format (values from ``local_times``)."""
    kwargs.setdefault("help", f"In your time zone ({zone_name()}).")
    return st.column_config.DatetimeColumn(label, format=DATE_FORMAT if date_only else TIME_FORMAT, **kwargs)


def ago(dt: Any, now: datetime | None = None) -> str:
    """How long ago (or, for a future time, how soon): "just now", "45 s ago", "5 min ago", "3 h ago",
    "1 day ago", "12 days ago", "in 20 min"; "never" when missing."""
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
