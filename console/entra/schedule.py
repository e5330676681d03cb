"""When Entra's next provisioning cycle is expected, from a ``JobOverview``: the one answer (``next_cycle``) and
the words (``next_cycle_words``) the Overview and Sync history pages and the CLI show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console.entra.health import JobOverview


@dataclass(frozen=True)
class NextCycle:
    """When Entra's next provisioning cycle is expected: the one answer every page and command shows.

    ``state``: ``expected`` (``at`` is ahead), ``due`` (``at`` has passed by less than the overdue margin: the
    cycle probably ran and its logs are not fetched yet), ``overdue`` (no cycle for more than two intervals),
    ``paused`` (the job's schedule is paused or disabled), ``quarantine`` (``at`` is Entra's next attempt, when
    known) or ``unknown`` (no cycle seen yet)."""

    state: str
    at: datetime | None
    interval: timedelta
    last_end: datetime | None


def next_cycle(ov: JobOverview, now: datetime | None = None) -> NextCycle:
    """The next cycle from a ``job_overview`` (``ov.next_expected`` = the last cycle's end + the schedule's
    interval), told apart from a paused job, a quarantine and an overdue one."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if ov.quarantine:
        return NextCycle("quarantine", ov.quarantine.get("next_attempt"), ov.interval, ov.last_cycle_end)
    if str(ov.schedule_state or "").lower() in ("paused", "disabled"):
        return NextCycle("paused", None, ov.interval, ov.last_cycle_end)
    if ov.next_expected is None:
        return NextCycle("unknown", None, ov.interval, ov.last_cycle_end)
    if ov.overdue:
        return NextCycle("overdue", ov.next_expected, ov.interval, ov.last_cycle_end)
    return NextCycle("expected" if ov.next_expected > now else "due", ov.next_expected, ov.interval,
                     ov.last_cycle_end)


def relative(when: datetime, now: datetime | None = None) -> str:
    """``in 25 min`` / ``12 min ago`` / ``in 3 h`` / ``2 days ago``: how far ``when`` is from ``now``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    seconds = (when - now).total_seconds()
    ahead, span = seconds >= 0, abs(seconds)
    minutes = int(span // 60)
    if minutes < 1:
        return "in 1 min" if ahead else "just now"
    if minutes < 120:
        text = f"{minutes} min"
    elif minutes < 48 * 60:
        text = f"{minutes // 60} h"
    else:
        text = f"{minutes // (24 * 60)} days"
    return f"in {text}" if ahead else f"{text} ago"


def next_cycle_words(nc: NextCycle, fmt: Callable[[datetime], str], now: datetime | None = None
                     ) -> tuple[str, str]:
    """(short, sentence) for ``nc``: the short form for a metric ("in 25 min", "overdue", "paused"), the
    sentence for a caption or its help. ``fmt`` formats a time for the reader (the page's operator zone, UTC on
    the command line)."""
    if nc.state == "quarantine":
        if nc.at is None:
            return "in quarantine", "Entra does not run cycles while the job is in quarantine."
        return "in quarantine", f"In quarantine: Entra tries again {fmt(nc.at)} ({relative(nc.at, now)})."
    if nc.state == "paused":
        return "paused", "None: the provisioning job is paused in Entra."
    if nc.state == "unknown" or nc.at is None:
        return "not known yet", "Not known yet: no provisioning cycle has been seen."
    every = f"every {int(nc.interval.total_seconds() // 60)} min"
    if nc.state == "expected":
        return relative(nc.at, now), f"Expected {fmt(nc.at)} ({relative(nc.at, now)}; cycles run {every})."
    if nc.state == "due":
        return "due now", (f"Due since {fmt(nc.at)} ({relative(nc.at, now)}): it has probably run; fetch the logs "
                           "to see it.")
    return "overdue", (f"Overdue: expected {fmt(nc.at)} ({relative(nc.at, now)}), and no cycle has been seen "
                       "since.")
