"""Alerts for a connection: quarantine, overdue cycle, failure spike, credential failures, staged deletes, token
expiry, the last setup check's failures and the last reconciliation's orphans. ``current_alerts`` is what the Overview and Sync history pages show; ``notify_alerts`` sends the
new ones (deduplicated by ``Alert.key``) through ``console.notify.channels.send_notification``, which is how
``python -m console remind`` delivers them alongside token reminders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from console.connections import Connection
from console.context import Context
from console.doctor.confirmations import last_run
from console.entra.health import JobOverview, job_overview
from console.errors import ConsoleError
from console.i18n import N_, _, count, fmt_datetime, fmt_number, ngettext, use_language
from console.notify.channels import NotificationResult, send_notification
from console.notify.language import reminder_language
from console.reconcile.runs import open_orphans
from console.tokens.service import TokenService

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
#: the severities in words, in the title of an alert that is sent (``_(value)``)
SEVERITY_WORDS = {"critical": N_("critical"), "warning": N_("warning"), "info": N_("info")}


@dataclass(frozen=True)
class Alert:
    kind: str           # quarantine | overdue | failure_spike | credential_failure | staged_deletes | token_expiry
    #                     | token_missing | setup_check | orphans
    severity: str       # critical | warning | info
    title: str
    detail: str
    remedy: str
    since: datetime | None
    key: str = ""       # stable while the condition lasts; a new occurrence gets a new key

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "title": self.title, "detail": self.detail,
                "remedy": self.remedy, "since": self.since.isoformat() if self.since else None, "key": self.key}


def _fmt(t: datetime | None) -> str:
    return fmt_datetime(t.astimezone(UTC), zone="UTC") if t else _("unknown")


def _span(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return count(round(hours), "{n} hour", "{n} hours") if hours < 48 else count(round(hours / 24), "{n} day",
                                                                                     "{n} days")


def _said(text: Any) -> str:
    """A text another area gives (the quarantine's reason, an error's meaning and fix): translated when it is a
    message of the catalogs (marked where it was defined), as it is otherwise (already translated, or data)."""
    return _(str(text)) if text else ""


def _percent(value: float) -> str:
    return f"{value:.0%}"


def job_alerts(ov: JobOverview, now: datetime) -> list[Alert]:
    alerts: list[Alert] = []
    if ov.quarantine:
        q = ov.quarantine
        detail = _("The provisioning job is in quarantine since {since}: {reason}.").format(
            since=_fmt(q["began"]), reason=_said(q["reason_text"]))
        if q.get("error_code"):
            detail += " " + _("Error {code}: {meaning}").format(code=q["error_code"],
                                                               meaning=_said(q["explanation"]))
        if q.get("next_attempt"):
            detail += " " + _("Entra retries at {when}.").format(when=_fmt(q["next_attempt"]))
        remedy = _said(q.get("fix")) or _("Fix the cause shown in the provisioning logs, then restart the job with "
                                         "the QuarantineState scope.")
        alerts.append(Alert("quarantine", "critical", _("Provisioning is quarantined"), detail, remedy, q["began"],
                            f"quarantine:{q['began'].isoformat() if q['began'] else q['reason']}"))
    if ov.overdue and not ov.quarantine:
        alerts.append(Alert(
            "overdue", "warning", _("No provisioning cycle completed recently"),
            _("The last cycle ended {when} ({span} ago); a cycle is expected every {minutes} minutes.").format(
                when=_fmt(ov.last_cycle_end), span=_span(ov.overdue_by or timedelta()),
                minutes=fmt_number(int(ov.interval.total_seconds() // 60))),
            _("Check the job in the Entra admin center (Provisioning > status) and fetch the latest logs; if the job "
              "is stopped, start it."), ov.last_cycle_end,
            f"overdue:{ov.last_cycle_end.isoformat() if ov.last_cycle_end else 'never'}"))
    if ov.spike:
        s = ov.spike
        alerts.append(Alert(
            "failure_spike", "warning", _("Failure rate spiked in the latest cycle"),
            _("Cycle {cycle}: {failures} of {total} operations failed ({rate}; the recent median is {median}).")
            .format(cycle=s["cycle_id"], failures=fmt_number(s["failures"]), total=fmt_number(s["total"]),
                    rate=_percent(s["failure_rate"]), median=_percent(s["trailing_median"])),
            _("Open Sync history > failures by error code for the cause and the suggested fix."), s["at"],
            f"failure_spike:{s['cycle_id']}"))
    if ov.credential_failures:
        c = ov.credential_failures
        detail = (ngettext("{n} record reported {code} (last {when}).", "{n} records reported {code} (last {when}).",
                           c["count"]) if c.get("count") else
                  _("The job reported {code} (last {when}).")).format(
            n=fmt_number(c.get("count") or 0), code=c["error_code"], when=_fmt(c["last_seen"]))
        alerts.append(Alert(
            "credential_failure", "critical", _("Entra cannot authenticate to 6clicks"), detail,
            _("Generate a new 6clicks token and push it to Entra (Connection & token > Token > Rotate token, or "
              "python -m console token rotate), then restart provisioning."), c["last_seen"],
            f"credential_failure:{c['cycle_id']}"))
    if ov.staged_deletes:
        alerts.append(Alert(
            "staged_deletes", "warning", _("Deletions are held by Entra's accidental-deletion protection"),
            ngettext("{n} delete/disable was staged in cycle {cycle} ({when}).",
                     "{n} deletes/disables were staged in cycle {cycle} ({when}).", ov.staged_deletes).format(
                n=fmt_number(ov.staged_deletes), cycle=ov.staged_delete_cycle, when=_fmt(ov.staged_delete_at)),
            _("Review the held deletions in the Entra admin center; allow them if intended, otherwise fix the "
              "scoping change that caused them."), ov.staged_delete_at, f"staged_deletes:{ov.staged_delete_cycle}"))
    return alerts


def token_alert(ctx: Context, conn: Connection) -> Alert | None:
    try:
        status = TokenService(ctx).status(conn.name)
    except Exception as exc:  # the credential store may be locked or missing: say so, do not crash the page
        message, remedy = (exc.message, exc.remedy) if isinstance(exc, ConsoleError) else (str(exc), "")
        return Alert("token_missing", "warning", _("The token's state cannot be read"), message,
                     remedy or _("Check the keyring on Connection & token."), None, "token_missing:unreadable")
    level = status.level
    if level in ("ok", "notice"):
        return None
    if level == "missing":  # not a reminder: the connection cannot work at all
        return Alert("token_missing", "critical", _("No 6clicks token is stored"), status.message or "",
                     status.remedy or _("Generate a token on Connection & token."), None, "token_missing")
    severity = "warning" if level == "warning" else "critical"
    titles = {"warning": _("The 6clicks token expires soon"), "critical": _("The 6clicks token expires very soon"),
              "expired": _("The 6clicks token has expired"), "rejected": _("6clicks rejects the token"),
              "missing": _("No 6clicks token is stored")}
    expires = status.expires_at
    return Alert("token_expiry", severity, titles.get(level, f"Token: {level}"), status.message or "",
                 status.remedy or _("Generate a new token on the Connection & token page."), expires,
                 f"token_expiry:{level}:{expires.date().isoformat() if expires else ''}")


def setup_alert(ctx: Context, conn: Connection) -> Alert | None:
    """The last setup check's failures (``python -m console doctor`` or the Setup check page)."""
    last = last_run(ctx, conn)
    if last is None or last.worst != "failure":
        return None
    listed = "; ".join(_said(f) for f in last.failures[:6])
    if len(last.failures) > 6:
        listed += " " + _("(+{n} more)").format(n=fmt_number(len(last.failures) - 6))
    return Alert("setup_check", "critical", _("The setup check found failures"),
                 _("The setup check of {when} failed on: {checks}.").format(when=_fmt(last.at), checks=listed),
                 _("Open Settings > Setup check (or run python -m console doctor --connection NAME) for what was "
                   "seen and the fix of each step."), last.at, "setup_check:" + "|".join(sorted(last.failure_ids)))


def orphans_alert(ctx: Context, conn: Connection) -> Alert | None:
    """The last reconciliation's orphans still active in the latest snapshot: 6clicks accounts whose Entra object
    is gone, disabled or unassigned. It ends when they are deactivated."""
    found = open_orphans(ctx, conn)
    if found is None or not found.still_active:
        return None
    active = found.still_active
    return Alert("orphans", "critical",
                 count(active, "{n} orphan account still has access to 6clicks",
                       "{n} orphan accounts still have access to 6clicks"),
                 ngettext("The reconciliation of {when} found {n} active 6clicks account managed by SCIM whose "
                          "Entra object is gone, disabled or no longer assigned to the app; {active} is still active.",
                          "The reconciliation of {when} found {n} active 6clicks accounts managed by SCIM whose "
                          "Entra object is gone, disabled or no longer assigned to the app; {active} are still "
                          "active.", found.found).format(
                     n=fmt_number(found.found), when=_fmt(found.at), active=fmt_number(active)),
                 _("Open Directory > Reconcile, select the orphans and deactivate them (previewed, journaled, "
                   "undoable), or find why Entra did not (held deletions, quarantine)."), found.at,
                 f"orphans:{active}")


def current_alerts(ctx: Context, conn: Connection, now: datetime | None = None, *,
                   include_token: bool = True, missing_token: bool = False,
                   overview: JobOverview | None = None) -> list[Alert]:
    """Every active alert for the connection, most severe first. ``overview``: a ``job_overview`` the caller
    already computed (saves reading the logs twice). ``include_token=False`` leaves the token to the token
    banner and reminders; ``missing_token=True`` still reports a missing (or unreadable) token, which is not a
    reminder but a connection that cannot work at all: a page that lists alerts passes it, so that it never
    shows "No alerts" beside a no-token banner."""
    now = (now or ctx.now()).astimezone(UTC)
    alerts = job_alerts(overview if overview is not None else job_overview(ctx, conn, now), now)
    alerts.extend(a for a in (setup_alert(ctx, conn), orphans_alert(ctx, conn)) if a is not None)
    if include_token or missing_token:
        t = token_alert(ctx, conn)
        if t is not None and (include_token or t.kind == "token_missing"):
            alerts.append(t)
    return sorted(alerts, key=lambda a: SEVERITY_ORDER.get(a.severity, 9))


def notify_alerts(ctx: Context, conn: Connection, *, now: datetime | None = None, dry_run: bool = False,
                  send: Callable[..., NotificationResult] = send_notification, include_token: bool = False,
                  ) -> list[tuple[Alert, NotificationResult]]:
    """Send the current alerts through the connection's notification channels. Delivery is deduplicated per
    channel by ``console.notify.channels.send_notification`` under the key ``entra:<alert key>``, so an alert goes out
    once while its condition lasts, and a failed channel is retried on the next run. Token expiry is left to the
    token reminders unless ``include_token``. The alerts are written in the connection's reminder language
    (``console.notify.language``), whoever sends them. Returns (alert, NotificationResult) pairs."""
    results: list[tuple[Alert, NotificationResult]] = []
    with use_language(reminder_language(ctx, conn)):  # the connection's reminder language, whoever sends
        for alert in current_alerts(ctx, conn, now, include_token=include_token):
            body = _("{detail}\n\nWhat to do: {remedy}").format(detail=alert.detail, remedy=alert.remedy)
            title = _("[{severity}] {name}: {title}").format(severity=_(SEVERITY_WORDS.get(alert.severity,
                                                                                            alert.severity)),
                                                             name=conn.name, title=alert.title)
            result = send(ctx, conn, title, body, f"entra:{alert.key}", dry_run=dry_run)
            results.append((alert, result))
    return results
