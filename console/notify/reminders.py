"""Renewal reminders: thresholds, notifications through apprise (sent once per key and channel), calendar files.

Notification URLs (apprise syntax: ``msteams://...``, ``slack://...``, ``mailto://...``, ``json://host/path``)
carry credentials, so they live in the keyring (kind ``notify_urls``, one URL per line), never in SQLite. The
store records only which notification key went to which channel, where a channel is ``apprise:<fingerprint of
the URL>``.

Token reminders: for a token with fingerprint F, the thresholds (days before expiry, per connection, default
60, 30, 14, 7, 3, 1) plus ``expired`` and ``rejected`` each have the key ``token:F:<threshold>``. A run sends only
the most urgent threshold reached and not yet sent on a channel; the less urgent ones it passed (cron did not run
in between) are recorded as skipped so they never arrive late and out of order. A new token starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from console.connections import Connection, ConnectionRepo
from console.errors import ConsoleError, InvalidInput

if TYPE_CHECKING:
    from console.context import Context
    from console.credentials import CredentialStore
    from console.tokens.service import TokenStatus

log = logging.getLogger(__name__)

KIND = "notify_urls"


def _fp(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[-4:]


def channel_id(url: str) -> str:
    return f"apprise:{_fp(url)}"


def _scheme(url: str) -> str:
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return match.group(1).lower() if match else "?"


def describe_url(url: str) -> str:
    """A safe description of a notification URL: its scheme and fingerprint, never the rest."""
    return f"{_scheme(url)}://… (…{_fp(url)})"


# -- notification URLs in the keyring -------------------------------------------------------------------------
def validate_notify_urls(urls: list[str]) -> list[str]:
    import apprise

    cleaned = []
    for number, raw in enumerate(urls, 1):
        url = raw.strip()
        if not url or url.startswith("#"):
            continue
        with _redacting([url]):
            accepted = apprise.Apprise().add(url)
        if not accepted:
            raise InvalidInput(
                f"Notification URL number {number} ({_scheme(url)}://…) is not one apprise understands.",
                "Check it against https://github.com/caronc/apprise/wiki (e.g. msteams://..., slack://..., "
                "mailtos://..., json://host/path); nothing was saved.")
        cleaned.append(url)
    return cleaned


def set_notify_urls_for_name(credentials: CredentialStore, name: str, urls: list[str]) -> int:
    cleaned = validate_notify_urls(urls)
    if cleaned:
        credentials.set(name, KIND, "\n".join(cleaned))
    else:
        credentials.delete(name, KIND)
    return len(cleaned)


def set_notify_urls(ctx: Context, conn: Connection | str, urls: list[str]) -> int:
    """Replace the connection's notification URLs (validated by apprise). Returns how many were stored."""
    name = conn.name if isinstance(conn, Connection) else ConnectionRepo(ctx.store).get(conn).name
    return set_notify_urls_for_name(ctx.credentials, name, urls)


def notify_urls(ctx: Context, conn: Connection | str) -> list[str]:
    name = conn.name if isinstance(conn, Connection) else conn
    raw = ctx.credentials.get(name, KIND) or ""
    return [line for line in raw.splitlines() if line.strip()]


# -- sending ----------------------------------------------------------------------------------------------------
@dataclass
class NotificationResult:
    key: str
    title: str
    sent: list[str] = field(default_factory=list)  # channel ids
    already: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)  # dry run
    no_channels: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.no_channels


def _now(ctx: Context) -> datetime:
    clock = getattr(ctx, "clock", None)
    return clock() if clock else datetime.now(UTC)


def _recorded(ctx: Context, conn: Connection, key: str) -> set[str]:
    rows = ctx.store.query("SELECT channel FROM notifications WHERE connection_id = ? AND key = ?", (conn.id, key))
    return {r["channel"] for r in rows}


def _record(ctx: Context, conn: Connection, key: str, channel: str, outcome: str, title: str) -> None:
    ctx.store.execute(
        "INSERT OR IGNORE INTO notifications (connection_id, key, channel, outcome, title, at) VALUES (?, ?, ?, ?, ?, ?)",
        (conn.id, key, channel, outcome, title[:300], _now(ctx).isoformat()))


CLAIM_STALE = timedelta(minutes=10)


def _claim_key(conn: Connection, key: str, channel: str) -> str:
    return f"notify-claim:{conn.id}:{channel}:{key}"


def _claim(ctx: Context, conn: Connection, key: str, channel: str) -> bool:
    """Take the right to deliver ``key`` on ``channel`` (a row in ``settings``), so that the app's reminder
    thread and a cron ``remind`` never both deliver it. A claim older than ten minutes (a process that died while
    sending) is taken over. True when this caller holds the claim and nothing was delivered yet."""
    claim = _claim_key(conn, key, channel)
    now = datetime.now(UTC)
    with ctx.store.transaction() as db:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (claim,)).fetchone()
        if row is not None:
            try:
                taken = datetime.fromisoformat(row["value"])
            except ValueError:
                taken = now - CLAIM_STALE * 2
            if now - taken < CLAIM_STALE:
                return False
        db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (claim, now.isoformat()))
        done = db.execute("SELECT 1 FROM notifications WHERE connection_id = ? AND key = ? AND channel = ?",
                          (conn.id, key, channel)).fetchone()
        if done is not None:  # delivered by another process between our first look and the claim
            db.execute("DELETE FROM settings WHERE key = ?", (claim,))
            return False
    return True


def _release(ctx: Context, conn: Connection, key: str, channel: str) -> None:
    ctx.store.execute("DELETE FROM settings WHERE key = ?", (_claim_key(conn, key, channel),))


class _Redactor(logging.Filter):
    """Removes the parts of notification URLs (webhook tokens live in hosts, paths and user info) from the
    records of apprise and the HTTP libraries it uses, which log URLs at DEBUG and on failures."""

    LOGGERS = ("apprise", "urllib3", "urllib3.connectionpool", "requests")

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.lock = threading.Lock()
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in sorted(self.secrets, key=len, reverse=True):
                message = message.replace(secret, "[redacted]")
            record.msg, record.args = message, None
        return True

    @staticmethod
    def parts(url: str) -> set[str]:
        found = {url}
        rest = url.split("://", 1)[-1]
        for piece in re.split(r"[/?&=@:#]+", rest):
            piece = unquote(piece)
            if len(piece) >= 4:
                found.add(piece)
        return found


_REDACTOR = _Redactor()


@contextmanager
def _redacting(urls: list[str]) -> Iterator[None]:
    parts: set[str] = set()
    for url in urls:
        parts |= _Redactor.parts(url)
    with _REDACTOR.lock:
        _REDACTOR.secrets |= parts
    try:
        yield
    finally:
        with _REDACTOR.lock:
            _REDACTOR.secrets -= parts


def _deliver(url: str, title: str, body: str) -> bool:
    import apprise

    with _redacting([url]):
        try:
            sender = apprise.Apprise()
            if not sender.add(url):
                return False
            # plain text: apprise escapes it for Markdown and HTML channels (Slack, Teams, Mattermost, HTML
            # e-mail), so a group named "[Re-authenticate](https://…)" arrives as text, not as a link
            return bool(sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT))
        except Exception as exc:  # apprise plugins can raise on odd input; never let the URL leak
            log.warning("notification through %s failed (%s)", describe_url(url), type(exc).__name__)
            return False


def send_notification(ctx: Context, conn: Connection, title: str, body: str, key: str, *,
                      dry_run: bool = False) -> NotificationResult:
    """Send ``title``/``body`` to every notification URL of ``conn`` that has not had ``key`` yet.

    Deduplicated by (connection, key, channel): a key is delivered at most once per channel; a channel that
    failed is tried again on the next call. Other areas (Entra alerts) use their own keys, e.g.
    ``entra:quarantine:<since>``."""
    result = NotificationResult(key=key, title=title)
    urls = notify_urls(ctx, conn)
    if not urls:
        result.no_channels = True
        return result
    done = _recorded(ctx, conn, key)
    for url in urls:
        channel = channel_id(url)
        if channel in done:
            result.already.append(channel)
            continue
        if dry_run:
            result.would_send.append(channel)
            continue
        if not _claim(ctx, conn, key, channel):  # another process delivers (or delivered) it right now
            result.already.append(channel)
            continue
        try:
            delivered = _deliver(url, title, body)
            if delivered:
                _record(ctx, conn, key, channel, "sent", title)
        finally:
            _release(ctx, conn, key, channel)
        if delivered:
            result.sent.append(channel)
            log.info("notification %r sent to %s for %r", key, describe_url(url), conn.name)
        else:
            result.failed.append(channel)
            log.warning("notification %r to %s for %r failed; it will be retried", key, describe_url(url), conn.name)
    return result


def send_test(ctx: Context, conn: Connection) -> NotificationResult:
    """Send a test message to every channel of ``conn`` now (``Send test`` on the page, ``token notify-urls
    test``) and record the outcome (no URL) for the set-up checklist."""
    at = _now(ctx)
    result = send_notification(ctx, conn, f"Test from the SCIM console ({conn.name})",
                               "If you can read this, token-expiry reminders and provisioning alerts for "
                               f"{conn.name} will reach you here.", f"test:{at.isoformat()}")
    if not result.no_channels:
        record = {"at": at.astimezone(UTC).isoformat(), "sent": len(result.sent), "failed": len(result.failed),
                  "ok": bool(result.sent) and not result.failed}
        ctx.store.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                          (f"notify_test:{conn.id}", json.dumps(record)))
    return result


def last_test(ctx: Context, conn: Connection) -> dict[str, Any] | None:
    """The last ``send_test`` of ``conn``: {at, sent, failed, ok}, or None."""
    row = ctx.store.query_one("SELECT value FROM settings WHERE key = ?", (f"notify_test:{conn.id}",))
    if row is None:
        return None
    try:
        value = json.loads(row["value"])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
    if threshold == "expired":
        title = f"6clicks SCIM token for {conn.name} has EXPIRED"
    elif threshold == "rejected":
        title = f"6clicks SCIM token for {conn.name} was REJECTED"
    else:
        title = f"6clicks SCIM token for {conn.name} expires in {status.days_left} days"
    lines = [status.message]
    if status.expires_at:
        lines.append(f"Expiry: {status.expires_at:%Y-%m-%d %H:%M} UTC" + (" (estimated)" if status.estimated else ""))
    lines.append(f"Token fingerprint: …{status.fingerprint}")
    if status.remedy:
        lines.append(f"What to do: {status.remedy}")
    lines.append("Provisioning from Entra stops when the token lapses; 6clicks sends no warning of its own.")
    return title, "\n".join(lines)


def remind_connection(ctx: Context, conn: Connection, *, dry_run: bool = False, test: bool = False,
                      ) -> ReminderOutcome:
    from console.tokens.service import TokenService

    svc = TokenService(ctx)
    status = svc.test(conn.name) if test else svc.status(conn)
    reached = reached_thresholds(status, conn.reminder_days)
    if not reached:
        return ReminderOutcome(conn.name, status, None, message="No reminder due.")
    prefix = f"token:{status.fingerprint}:"
    urgent = reached[-1]
    key = prefix + urgent
    title, body = reminder_text(conn, status, urgent)
    result = send_notification(ctx, conn, title, body, key, dry_run=dry_run)
    if not dry_run:
        for channel in result.sent + result.already:
            for earlier in reached[:-1]:  # passed thresholds never arrive late
                _record(ctx, conn, prefix + earlier, channel, "skipped", f"superseded by {urgent}")
    if result.no_channels:
        message = ("Reminder due, but no notification channel is configured (Connection & token > Reminders, or "
                   "python -m console token notify-urls set).")
    elif dry_run:
        message = f"Would send {title!r} to {len(result.would_send)} channel(s)."
    elif result.sent:
        message = f"Sent {title!r} to {len(result.sent)} channel(s)."
    elif result.failed:
        message = f"Sending {title!r} failed on {len(result.failed)} channel(s); it will be retried."
    else:
        message = f"{title!r} was already sent."
    if result.failed and result.sent:
        message += f" {len(result.failed)} channel(s) failed and will be retried."
    return ReminderOutcome(conn.name, status, key, title, result, message)


def run_reminders(ctx: Context, connection: str | None = None, *, dry_run: bool = False,
                  test: bool = False) -> list[ReminderOutcome]:
    repo = ConnectionRepo(ctx.store)
    conns = [repo.get(connection)] if connection else [c for c in repo.list() if not c.is_demo]
    return [remind_connection(ctx, c, dry_run=dry_run, test=test) for c in conns]


# -- one reminder run, shared by `python -m console remind` (cron) and the app's background thread --------------
@dataclass
class RemindRun:
    outcomes: list[ReminderOutcome] = field(default_factory=list)
    alerts: list[tuple[str, Any, Any]] = field(default_factory=list)  # (connection, Alert, NotificationResult)
    problems: list[str] = field(default_factory=list)  # what could not be done, one line each
    reminder_errors: int = 0  # connections whose token reminders could not be sent (a locked keyring…)

    @property
    def undelivered(self) -> bool:
        """A due reminder or alert could not be delivered (no channel, or a channel failed): exit code 1."""
        for o in self.outcomes:
            n = o.notification
            if o.key and n is not None and (n.no_channels or n.failed):
                return True
        return any(getattr(n, "failed", None) for _c, _a, n in self.alerts)


def remind_all(ctx: Context, connection: str | None = None, *, dry_run: bool = False, test: bool = False,
               source: str = "cli") -> RemindRun:
    """Send the due token reminders and the new provisioning alerts of every real connection (or one), each
    once per threshold and channel. ``python -m console remind`` and the app's reminder thread both call this,
    with the same records of what was sent (and a claim while sending), so the two never double-send. A
    connection whose secrets cannot be read (a locked keyring) is reported in ``problems`` and skipped."""
    from console.notify.alerts import notify_alerts

    run = RemindRun()
    repo = ConnectionRepo(ctx.store)
    conns = [repo.get(connection)] if connection else [c for c in repo.list() if not c.is_demo]
    for conn in conns:
        try:
            run.outcomes.append(remind_connection(ctx, conn, dry_run=dry_run, test=test))
        except ConsoleError as exc:
            run.reminder_errors += 1
            run.problems.append(f"{conn.name}: token reminders could not be sent: {exc}")
        try:
            run.alerts.extend((conn.name, a, n) for a, n in notify_alerts(ctx, conn, dry_run=dry_run))
        except Exception as exc:  # alerts must never stop the token reminders
            run.problems.append(f"{conn.name}: provisioning alerts could not be computed: {exc}")
    if not dry_run:
        ctx.store.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                          (f"remind.last_run.{source}", datetime.now(UTC).isoformat()))
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
    import shlex
    import sys

    from console.credentials import ENV_FILE, ENV_MODE

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
        return ("The encrypted file keyring needs its passphrase: add a line SCIM_CONSOLE_KEYRING_PASSPHRASE=… at the "
                "top of the crontab (crontab -e; the file is readable by your user only), or use a desktop keyring.")
    if not info.persistent:
        return ("This console keeps secrets in memory only, so a cron job cannot read them: use a desktop keyring "
                "or SCIM_CONSOLE_KEYRING=cryptfile.")
    return "The desktop keyring must be reachable from cron (a logged-in session); otherwise use the encrypted file keyring."


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


# -- calendar ---------------------------------------------------------------------------------------------------
def _uid_part(name: str) -> str:
    return hashlib.sha256(name.casefold().encode("utf-8")).hexdigest()[:12]


def token_ics(ctx: Context, conn: Connection | str, status: TokenStatus | None = None) -> bytes:
    """An iCalendar file for the current token: a renewal event 30 days before expiry and the expiry itself with
    alarms at the connection's reminder thresholds. UIDs are stable per token fingerprint, so re-importing the
    file updates the events instead of duplicating them."""
    from icalendar import Alarm, Calendar, Event

    from console.tokens.service import TokenService

    if not isinstance(conn, Connection):
        conn = ConnectionRepo(ctx.store).get(conn)
    status = status or TokenService(ctx).status(conn)
    if status.expires_at is None or status.fingerprint is None:
        raise ConsoleError(f"There is no token with an expiry date for {conn.name!r}, so there is nothing to put "
                           "in a calendar.", status.remedy or "Generate or import a token first.")
    expires = status.expires_at.astimezone(UTC)
    stamp = _now(ctx).astimezone(UTC).replace(microsecond=0)
    uid = f"{status.fingerprint}-{_uid_part(conn.name)}"
    estimated = " (estimated)" if status.estimated else ""
    how = (f"python -m console token rotate --connection '{conn.name}'" if conn.auth_mode == "6clicks-api-key"
           else f"python -m console token import --connection '{conn.name}'")

    cal = Calendar()
    cal.add("prodid", "-//scim-console//6clicks token reminders//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"6clicks SCIM token: {conn.name}")

    renew = Event()
    renew.add("uid", f"renew-{uid}@scim-console")
    renew.add("dtstamp", stamp)
    start = (expires - timedelta(days=30)).replace(microsecond=0)
    renew.add("dtstart", start)
    renew.add("dtend", start + timedelta(minutes=30))
    renew.add("summary", f"Renew the 6clicks SCIM token for {conn.name}")
    renew.add("description",
              f"The token …{status.fingerprint} expires {expires:%Y-%m-%d %H:%M} UTC{estimated}.\n"
              f"Rotate it (about two minutes): {how}\n"
              "Then make sure Entra's provisioning Secret Token has the new value (the rotation does it when Graph "
              "settings are configured).")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Renew the 6clicks SCIM token for {conn.name}")
    alarm.add("trigger", timedelta(0))
    renew.add_component(alarm)
    cal.add_component(renew)

    expiry = Event()
    expiry.add("uid", f"expiry-{uid}@scim-console")
    expiry.add("dtstamp", stamp)
    expiry.add("dtstart", expires.replace(microsecond=0))
    expiry.add("dtend", expires.replace(microsecond=0) + timedelta(minutes=15))
    expiry.add("summary", f"6clicks SCIM token for {conn.name} expires{estimated}")
    expiry.add("description", f"Provisioning from Entra stops when token …{status.fingerprint} expires. Renew: {how}")
    for days in sorted(conn.reminder_days, reverse=True):
        a = Alarm()
        a.add("action", "DISPLAY")
        a.add("description", f"6clicks SCIM token for {conn.name} expires in {days} day{'s' if days != 1 else ''}")
        a.add("trigger", timedelta(days=-days))
        expiry.add_component(a)
    final = Alarm()
    final.add("action", "DISPLAY")
    final.add("description", f"6clicks SCIM token for {conn.name} expires now")
    final.add("trigger", timedelta(0))
    expiry.add_component(final)
    cal.add_component(expiry)
    return cal.to_ical()


def describe_channels(ctx: Context, conn: Connection) -> list[dict[str, Any]]:
    """Safe descriptions of the configured channels (scheme + fingerprint) for pages and the CLI."""
    return [{"channel": channel_id(u), "description": describe_url(u)} for u in notify_urls(ctx, conn)]
