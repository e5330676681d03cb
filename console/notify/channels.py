"""Notification channels: the apprise URLs of a connection, and delivery that sends each key once per channel.

Notification URLs (apprise syntax: ``msteams://...``, ``slack://...``, ``mailto://...``, ``json://host/path``)
carry credentials, so they live in the keyring (kind ``notify_urls``, one URL per line), never in SQLite. The
store records only which notification key went to which channel, where a channel is ``apprise:<fingerprint of
the URL>``. Token reminders (``console.notify.reminders``) and provisioning alerts (``console.notify.alerts``)
both deliver through ``send_notification``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.errors import InvalidInput
from console.i18n import _, use_language
from console.notify.language import reminder_language
from scim_client import fingerprint

log = logging.getLogger(__name__)

KIND = "notify_urls"


def channel_id(url: str) -> str:
    return f"apprise:{fingerprint(url)}"


def _scheme(url: str) -> str:
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return match.group(1).lower() if match else "?"


def describe_url(url: str) -> str:
    """A safe description of a notification URL: its scheme and fingerprint, never the rest."""
    return f"{_scheme(url)}://… (…{fingerprint(url)})"


# -- notification URLs in the keyring -------------------------------------------------------------------------
def validate_notify_urls(urls: list[str]) -> list[str]:
    import apprise  # here, not at the top: importing apprise takes ~110 ms, paid only when a channel is used

    cleaned = []
    for number, raw in enumerate(urls, 1):
        url = raw.strip()
        if not url or url.startswith("#"):
            continue
        with _redacting([url]):
            accepted = apprise.Apprise().add(url)
        if not accepted:
            raise InvalidInput(
                _("Notification URL number {number} ({scheme}://…) is not one apprise understands.").format(
                    number=number, scheme=_scheme(url)),
                _("Check it against https://github.com/caronc/apprise/wiki (e.g. msteams://..., slack://..., "
                  "mailtos://..., json://host/path); nothing was saved."))
        cleaned.append(url)
    return cleaned


def set_notify_urls(ctx: Context, conn: Connection | str, urls: list[str]) -> int:
    """Replace the connection's notification URLs (validated by apprise). Returns how many were stored."""
    name = conn.name if isinstance(conn, Connection) else ConnectionRepo(ctx.store).get(conn).name
    cleaned = validate_notify_urls(urls)
    if cleaned:
        ctx.credentials.set(name, KIND, "\n".join(cleaned))
    else:
        ctx.credentials.delete(name, KIND)
    return len(cleaned)


def notify_urls(ctx: Context, conn: Connection | str) -> list[str]:
    """The connection's notification URLs (secrets: never show them; ``describe_channels`` is what people see)."""
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


def _recorded(ctx: Context, conn: Connection, key: str) -> set[str]:
    rows = ctx.store.query("SELECT channel FROM notifications WHERE connection_id = ? AND key = ?", (conn.id, key))
    return {r["channel"] for r in rows}


def record(ctx: Context, conn: Connection, key: str, channel: str, outcome: str, title: str) -> None:
    ctx.store.execute(
        "INSERT OR IGNORE INTO notifications (connection_id, key, channel, outcome, title, at) VALUES (?, ?, ?, ?, ?, ?)",
        (conn.id, key, channel, outcome, title[:300], ctx.now().isoformat()))


CLAIM_STALE = timedelta(minutes=10)


def _claim_key(conn: Connection, key: str, channel: str) -> str:
    return f"notify-claim:{conn.id}:{channel}:{key}"


def _claim(ctx: Context, conn: Connection, key: str, channel: str) -> bool:
    """Take the right to deliver ``key`` on ``channel`` (a row in ``settings``), so that the app's reminder
    thread and a cron ``remind`` never both deliver it. A claim older than ten minutes (a process that died while
    sending) is taken over. True when this caller holds the claim and nothing was delivered yet."""
    claim = _claim_key(conn, key, channel)
    now = ctx.now()
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
    import apprise  # here, not at the top: importing apprise takes ~110 ms, paid only when a channel is used

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
                record(ctx, conn, key, channel, "sent", title)
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
    test``) and record the outcome (no URL) for the set-up checklist. The message is in the connection's reminder
    language (``console.notify.language``), like the reminders it stands for."""
    at = ctx.now()
    with use_language(reminder_language(ctx, conn)):
        title = _("Test from the SCIM console ({name})").format(name=conn.name)
        body = _("If you can read this, token-expiry reminders and provisioning alerts for {name} will reach you "
                 "here.").format(name=conn.name)
    result = send_notification(ctx, conn, title, body, f"test:{at.isoformat()}")
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


def describe_channels(ctx: Context, conn: Connection) -> list[dict[str, str]]:
    """Safe descriptions of the configured channels (scheme + fingerprint) for pages and the CLI."""
    return [{"channel": channel_id(u), "description": describe_url(u)} for u in notify_urls(ctx, conn)]
