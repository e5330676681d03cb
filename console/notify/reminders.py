"""Token-expiry reminders: thresholds, the reminder run shared by cron and the app, and the app's reminder thread.

For a token with fingerprint F, the thresholds (days before expiry, per connection, default 60, 30, 14, 7, 3, 1)
plus ``expired`` and ``rejected`` each have the key ``token:F:<threshold>``. A run sends only the most urgent
threshold reached and not yet sent on a channel (through ``console.notify.channels``); the less urgent ones it
passed (cron did not run in between) are recorded as skipped so they never arrive late and out of order. A new
token starts afresh. ``remind_all`` also sends the connection's new provisioning alerts (``console.notify.alerts``).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import ENV_FILE, ENV_MODE
from console.errors import ConsoleError
from console.i18n import _, count, fmt_datetime, fmt_days_left, use_language
from console.notify.alerts import Alert, notify_alerts
from console.notify.channels import NotificationResult, record, send_notification
from console.notify.language import reminder_language
from console.tokens.service import TokenService
from console.tokens.status import TokenStatus

log = logging.getLogger(__name__)


# -- token reminders --------------------------------------------------------------------------------------------
@dataclass
class ReminderOutcome:
    connection: str
    status: TokenStatus
    key: str | None  # the reminder due now (None: nothing reached yet)
    title: str = ""
    notification: NotificationResult | None = None
    message: str = ""


def reached_thresholds(status: TokenStatus, days: tuple[int, ...]) -> list[str]:
    """The reminder thresholds this status has reached, least urgent first (e.g. ['60', '30', '14'])."""
    if status.level == "missing" or status.fingerprint is None:
        return []
    reached: list[str] = []
    if status.days_left is not None:
        reached = [str(d) for d in sorted(days, reverse=True) if status.days_left <= d]
    if status.level == "expired":
        reached = [str(d) for d in sorted(days, reverse=True)] + ["expired"]
    if status.level == "rejected":
        reached.append("rejected")
    return reached


def reminder_text(conn: Connection, status: TokenStatus, threshold: str) -> tuple[str, str]:
    """The title and body of the reminder for ``threshold``, in the current language (``remind_connection``
    makes them in the connection's reminder language; ``status`` must have been computed in it too)."""
    if threshold == "expired":
        title = _("6clicks SCIM token for {name} has EXPIRED").format(name=conn.name)
    elif threshold == "rejected":
        title = _("6clicks SCIM token for {name} was REJECTED").format(name=conn.name)
    else:
        title = _("6clicks SCIM token for {name} expires {left}").format(
            name=conn.name, left=fmt_days_left(status.days_left or 0))
    lines = [status.message]
    if status.expires_at:
        when = fmt_datetime(status.expires_at.astimezone(UTC), zone="UTC")
        lines.append((_("Expiry: {when} (estimated)") if status.estimated else _("Expiry: {when}")).format(when=when))
    lines.append(_("Token fingerprint: …{fp}").format(fp=status.fingerprint))
    if status.remedy:
        lines.append(_("What to do: {remedy}").format(remedy=status.remedy))
    lines.append(_("Provisioning from Entra stops when the token lapses; 6clicks sends no warning of its own."))
    return title, "\n".join(lines)


def remind_connection(ctx: Context, conn: Connection, *, dry_run: bool = False, test: bool = False,
                      ) -> ReminderOutcome:
    """Send the most urgent reminder due for ``conn``'s token. The reminder (and the status it quotes) is written
    in the connection's reminder language (``console.notify.language``), whoever runs this (so is the outcome's
    ``status``); the outcome's ``message`` is for whoever runs it, in the current language."""
    svc = TokenService(ctx)
    with use_language(reminder_language(ctx, conn)):
        status = svc.test(conn.name) if test else svc.status(conn)
        reached = reached_thresholds(status, conn.reminder_days)
        if reached:
            title, body = reminder_text(conn, status, reached[-1])
    if not reached:
        return ReminderOutcome(conn.name, status, None, message=_("No reminder due."))
    prefix = f"token:{status.fingerprint}:"
    urgent = reached[-1]
    key = prefix + urgent
    result = send_notification(ctx, conn, title, body, key, dry_run=dry_run)
    if not dry_run:
        for channel in result.sent + result.already:
            for earlier in reached[:-1]:  # passed thresholds never arrive late
                record(ctx, conn, prefix + earlier, channel, "skipped", f"superseded by {urgent}")
    if result.no_channels:
        message = _("Reminder due, but no notification channel is configured (Connection & token > Reminders, or "
                    "python -m console token notify-urls set).")
    elif dry_run:
        message = _("Would send {title!r} to {channels}.").format(
            title=title, channels=count(len(result.would_send), "{n} channel", "{n} channels"))
    elif result.sent:
        message = _("Sent {title!r} to {channels}.").format(
            title=title, channels=count(len(result.sent), "{n} channel", "{n} channels"))
    elif result.failed:
        message = _("Sending {title!r} failed on {channels}; it will be retried.").format(
            title=title, channels=count(len(result.failed), "{n} channel", "{n} channels"))
    else:
        message = _("{title!r} was already sent.").format(title=title)
    if result.failed and result.sent:
        message += " " + _("{channels} failed and will be retried.").format(
            channels=count(len(result.failed), "{n} channel", "{n} channels"))
    return ReminderOutcome(conn.name, status, key, title, result, message)


def _connections(ctx: Context, connection: str | None) -> list[Connection]:
    """The named connection, or every real one (the demo's secrets live in the app's memory only)."""
    repo = ConnectionRepo(ctx.store)
    return [repo.get(connection)] if connection else [c for c in repo.list() if not c.is_demo]


def run_reminders(ctx: Context, connection: str | None = None, *, dry_run: bool = False,
                  test: bool = False) -> list[ReminderOutcome]:
    conns = _connections(ctx, connection)
    return [remind_connection(ctx, c, dry_run=dry_run, test=test) for c in conns]


# -- one reminder run, shared by `python -m console remind` (cron) and the app's background thread --------------
@dataclass
class RemindRun:
    outcomes: list[ReminderOutcome] = field(default_factory=list)
    alerts: list[tuple[str, Alert, NotificationResult]] = field(default_factory=list)  # (connection, alert, delivery)
    problems: list[str] = field(default_factory=list)  # what could not be done, one line each
    reminder_errors: int = 0  # connections whose token reminders could not be sent (a locked keyring…)

    @property
    def undelivered(self) -> bool:
        """A due reminder or alert could not be delivered (no channel, or a channel failed): exit code 1."""
        for o in self.outcomes:
            n = o.notification
            if o.key and n is not None and (n.no_channels or n.failed):
                return True
        return any(n.failed for _c, _a, n in self.alerts)


def remind_all(ctx: Context, connection: str | None = None, *, dry_run: bool = False, test: bool = False,
               source: str = "cli") -> RemindRun:
    """Send the due token reminders and the new provisioning alerts of every real connection (or one), each
    once per threshold and channel. ``python -m console remind`` and the app's reminder thread both call this,
    with the same records of what was sent (and a claim while sending), so the two never double-send. A
    connection whose secrets cannot be read (a locked keyring) is reported in ``problems`` and skipped."""
    run = RemindRun()
    conns = _connections(ctx, connection)
    for conn in conns:
        try:
            run.outcomes.append(remind_connection(ctx, conn, dry_run=dry_run, test=test))
        except ConsoleError as exc:
            run.reminder_errors += 1
            run.problems.append(_("{name}: token reminders could not be sent: {error}").format(name=conn.name,
                                                                                                 error=exc))
        try:
            run.alerts.extend((conn.name, a, n) for a, n in notify_alerts(ctx, conn, dry_run=dry_run))
        except Exception as exc:  # alerts must never stop the token reminders
            run.problems.append(_("{name}: provisioning alerts could not be computed: {error}").format(
                name=conn.name, error=exc))
    if not dry_run:
        ctx.store.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                          (f"remind.last_run.{source}", ctx.now().isoformat()))
    return run


def last_runs(ctx: Context) -> dict[str, datetime]:
    """When ``remind_all`` last ran, by source ("cli": cron or a shell; "app": the app's thread)."""
    out: dict[str, datetime] = {}
    for row in ctx.store.query("SELECT key, value FROM settings WHERE key LIKE 'remind.last_run.%'"):
        try:
            out[str(row["key"]).rsplit(".", 1)[-1]] = datetime.fromisoformat(row["value"])
        except ValueError:
            continue
    return out


def cron_line(ctx: Context, *, hour: int = 8, minute: int = 0) -> str:
    """The crontab line for this machine: absolute python, the console's folder as working directory, its data
    folder and keyring settings (never the passphrase: see ``cron_note``), output appended to a log."""
    repo_root = Path(__file__).resolve().parent.parent
    home = Path(ctx.data_dir).resolve()
    env = [f"SCIM_CONSOLE_HOME={shlex.quote(str(home))}"]
    for name in (ENV_MODE, ENV_FILE):
        value = os.environ.get(name, "").strip()
        if value:
            env.append(f"{name}={shlex.quote(value)}")
    command = (f"cd {shlex.quote(str(repo_root))} && {' '.join(env)} {shlex.quote(sys.executable)} -m console "
               f"remind >> {shlex.quote(str(home / 'remind.log'))} 2>&1")
    return f"{minute} {hour} * * * " + command.replace("%", "\\%")


def cron_note(ctx: Context) -> str:
    """What the cron line needs besides itself (the keyring's passphrase), in words."""
    info = ctx.credentials.backend_info()
    if info.mode == "cryptfile" or "Encrypted file keyring" in info.label:
        return _("The encrypted file keyring needs its passphrase: add a line SCIM_CONSOLE_KEYRING_PASSPHRASE=… at "
                 "the top of the crontab (crontab -e; the file is readable by your user only), or use a desktop "
                 "keyring.")
    if not info.persistent:
        return _("This console keeps secrets in memory only, so a cron job cannot read them: use a desktop keyring "
                 "or SCIM_CONSOLE_KEYRING=cryptfile.")
    return _("The desktop keyring must be reachable from cron (a logged-in session); otherwise use the encrypted "
             "file keyring.")


# -- the app's reminder thread ------------------------------------------------------------------------------------
ENV_REMIND_EVERY = "SCIM_CONSOLE_REMIND_EVERY"
DEFAULT_REMIND_EVERY = 3600.0
FIRST_REMIND_DELAY = 20.0


class ReminderThread(threading.Thread):
    """Runs ``remind_all(ctx, source="app")`` every ``interval`` seconds (``SCIM_CONSOLE_REMIND_EVERY``,
    default an hour) while the app runs. One per data folder and process: ``start_reminder_thread``."""

    def __init__(self, ctx: Context, interval: float, first_delay: float) -> None:
        super().__init__(name="console-reminders", daemon=True)
        self.ctx = ctx
        self.interval = interval
        self.first_delay = first_delay
        self.stopped = threading.Event()
        self.runs = 0
        self.last_problem: str | None = None

    def run(self) -> None:
        wait = self.first_delay
        while not self.stopped.wait(wait):
            wait = self.interval
            try:
                # the reminders speak their connections' languages; what this thread logs stays English
                with use_language("en"):
                    result = remind_all(self.ctx, source="app")
            except Exception as exc:  # the thread must survive anything; the next run tries again
                self.last_problem = f"{type(exc).__name__}"
                log.warning("the app's reminder run failed (%s); it runs again in %.0f s", type(exc).__name__,
                            self.interval)
                continue
            self.runs += 1
            self.last_problem = "; ".join(result.problems) or None
            for o in result.outcomes:
                if o.notification is not None and (o.notification.sent or o.notification.failed):
                    log.info("reminder thread: %s", o.message)
            for problem in result.problems:
                log.info("reminder thread: %s", problem)

    def stop(self) -> None:
        self.stopped.set()


_threads: dict[Path, ReminderThread] = {}
_threads_lock = threading.Lock()


def remind_interval() -> float:
    """Seconds between the app's reminder runs (``SCIM_CONSOLE_REMIND_EVERY``; 0 turns the thread off)."""
    raw = os.environ.get(ENV_REMIND_EVERY, "").strip()
    if not raw:
        return DEFAULT_REMIND_EVERY
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %.0f", ENV_REMIND_EVERY, raw, DEFAULT_REMIND_EVERY)
        return DEFAULT_REMIND_EVERY
    return 0.0 if value <= 0 else max(1.0, value)


def start_reminder_thread(ctx: Context, *, interval: float | None = None,
                          first_delay: float | None = None) -> ReminderThread | None:
    """Start the app's reminder thread for ``ctx``'s data folder, once per process (later calls, from any
    session, return the running one). None when turned off (``SCIM_CONSOLE_REMIND_EVERY=0``)."""
    key = Path(ctx.data_dir).resolve()
    with _threads_lock:
        thread = _threads.get(key)
        if thread is not None and thread.is_alive():
            return thread
        every = interval if interval is not None else remind_interval()
        if every <= 0:
            return None
        thread = ReminderThread(ctx, every, min(every, FIRST_REMIND_DELAY) if first_delay is None else first_delay)
        _threads[key] = thread
        thread.start()
        return thread


def stop_reminder_threads() -> None:
    with _threads_lock:
        for thread in _threads.values():
            thread.stop()
        _threads.clear()
