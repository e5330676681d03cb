"""When Entra's next provisioning cycle is expected, from a ``JobOverview``: the one answer (``next_cycle``) and
the words (``next_cycle_words``, in the current language) the Overview and Sync history pages and the CLI
show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console.entra.health import JobOverview
from console.i18n import _, fmt_days_left, fmt_number


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
    """``in 25 min`` / ``12 min ago`` / ``in 3 h`` / ``2 days ago`` (``25 分後`` / ``12 分前`` ...): how far
    ``when`` is from ``now``, in the current language."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    seconds = (when - now).total_seconds()
    ahead, span = seconds >= 0, abs(seconds)
    minutes = int(span // 60)
    if minutes < 1:
        return _("in 1 min") if ahead else _("just now")
    if minutes < 120:  # "min" and "h" take no plural
        return (_("in {n} min") if ahead else _("{n} min ago")).format(n=fmt_number(minutes))
    if minutes < 48 * 60:
        return (_("in {n} h") if ahead else _("{n} h ago")).format(n=fmt_number(minutes // 60))
    days = minutes // (24 * 60)
    return fmt_days_left(days if ahead else -days)  # "in 3 days" / "3 days ago" (あと 3 日 / 3 日前)


def next_cycle_words(nc: NextCycle, fmt: Callable[[datetime], str], now: datetime | None = None
                     ) -> tuple[str, str]:
    """(short, sentence) for ``nc`` in the current language: the short form for a metric ("in 25 min",
    "overdue", "paused"), the sentence for a caption or its help. ``fmt`` formats a time for the reader (the
    page's operator zone, UTC on the command line)."""
    if nc.state == "quarantine":
        if nc.at is None:
            return _("in quarantine"), _("Entra does not run cycles while the job is in quarantine.")
        return _("in quarantine"), _("In quarantine: Entra tries again {at} ({relative}).").format(
            at=fmt(nc.at), relative=relative(nc.at, now))
    if nc.state == "paused":
        return _("paused"), _("None: the provisioning job is paused in Entra.")
    if nc.state == "unknown" or nc.at is None:
        return _("not known yet"), _("Not known yet: no provisioning cycle has been seen.")
    minutes = fmt_number(int(nc.interval.total_seconds() // 60))
    rel = relative(nc.at, now)
    if nc.state == "expected":
        return rel, _("Expected {at} ({relative}; cycles run every {minutes} min).").format(
            at=fmt(nc.at), relative=rel, minutes=minutes)
    if nc.state == "due":
        return _("due now"), _("Due since {at} ({relative}): it has probably run; fetch the logs to see it.").format(
            at=fmt(nc.at), relative=rel)
    return _("overdue"), _("Overdue: expected {at} ({relative}), and no cycle has been seen since.").format(
        at=fmt(nc.at), relative=rel)
