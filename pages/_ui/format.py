"""Times in the operator's zone, in the operator's language: the console's one date-and-time format (text and table
columns: "1 Dec 2026, 18:05 CET" / "2026年12月1日 18:05 JST") and "5 min ago" / "5 分前"."""

from __future__ import annotations

import os
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st
from babel.dates import format_date
from streamlit.elements.lib.column_types import ColumnConfig

from console.i18n import _, fmt_date, fmt_datetime, fmt_days_left, fmt_number, language, locale


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
#: same for tables (``time_column``, a moment.js pattern); dates alone: "1 Dec 2026". English; per language in
#: ``TABLE_FORMATS`` (the text comes from ``console.i18n.fmt_datetime`` / ``fmt_date``, which agree with them)
TIME_FORMAT = "D MMM YYYY, HH:mm"
DATE_FORMAT = "D MMM YYYY"
TABLE_FORMATS: dict[str, tuple[str, str]] = {"en": (TIME_FORMAT, DATE_FORMAT),
                                             "ja": ("YYYY年M月D日 HH:mm", "YYYY年M月D日")}


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
    """The console's one date-and-time text, in the operator's zone and language: "1 Dec 2026, 18:05 CET" /
    "2026年12月1日 18:05 CET" (the zone's abbreviation, since the operator's browser and the server may disagree;
    without it with ``zone=False``; "1 Dec 2026" / "2026年12月1日" with ``date_only``); "—" when there is none.
    Tables show the same format without the zone (``time_column``; its header's help names the zone)."""
    value = local(dt)
    if value is None:
        return "—"
    if date_only:
        return fmt_date(value)
    return fmt_datetime(value, zone=(value.tzname() or None) if zone else None)


def fmt_short_date(dt: Any) -> str:
    """A date for a metric's value, where a long text would be cut off: "2 Dec 2027" / "2027/12/02" (Babel's
    medium Japanese date: "2027年12月2日" does not fit a quarter of the page at 1280 px); "—" when there is none."""
    value = local(dt)
    if value is None:
        return "—"
    return fmt_date(value) if language() == "en" else format_date(value, format="medium", locale=locale())


def local_times(values: Any) -> pd.Series:
    """A column of times (aware, naive = UTC or ISO text) converted to the operator's zone for ``time_column``."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    return pd.to_datetime(series, utc=True, errors="coerce", format="mixed").dt.tz_convert(operator_zone())


def time_column(label: str, *, date_only: bool = False, **kwargs: Any) -> ColumnConfig:
    """A ``st.column_config.DatetimeColumn`` in the console's format for the operator's language (values from
    ``local_times``)."""
    kwargs.setdefault("help", _("In your time zone ({zone}).").format(zone=zone_name()))
    when, day = TABLE_FORMATS.get(language(), TABLE_FORMATS["en"])
    return st.column_config.DatetimeColumn(label, format=day if date_only else when, **kwargs)


def ago(dt: Any, now: datetime | None = None) -> str:
    """How long ago (or, for a future time, how soon), in the operator's language: "just now", "45 s ago",
    "5 min ago", "3 h ago", "1 day ago", "12 days ago", "in 20 min" / "たった今", "45 秒前", "5 分前", "3 時間前",
    "1 日前", "あと 20 分"; "never" / "なし" when missing."""
    value = local(dt)
    if value is None:
        return _("never")
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    future = seconds < -60
    seconds = abs(seconds)
    if seconds < 60:
        return _("just now") if seconds < 10 or future else _("{n} s ago").format(n=fmt_number(int(seconds)))
    if seconds < 3600:
        n = fmt_number(int(seconds // 60))
        return _("in {n} min").format(n=n) if future else _("{n} min ago").format(n=n)
    if seconds < 86400:
        n = fmt_number(int(seconds // 3600))
        return _("in {n} h").format(n=n) if future else _("{n} h ago").format(n=n)
    days = int(seconds // 86400)
    return fmt_days_left(days if future else -days)  # "in 3 days" / "3 days ago": console.i18n's words
