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
from console.notify.channels import NotificationResult, send_notification
from console.reconcile.runs import open_orphans
from console.tokens.service import TokenService

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


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
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if t else "unknown"


def _span(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours < 48 else f"{hours / 24:.0f} days"


def job_alerts(ov: JobOverview, now: datetime) -> list[Alert]:
    alerts: list[Alert] = []
    if ov.quarantine:
        q = ov.quarantine
        detail = f"The provisioning job is in quarantine since {_fmt(q['began'])}: {q['reason_text']}."
        if q.get("error_code"):
            detail += f" Error {q['error_code']}: {q['explanation']}"
        if q.get("next_attempt"):
            detail += f" Entra retries at {_fmt(q['next_attempt'])}."
        remedy = q.get("fix") or ("Fix the cause shown in the provisioning logs, then restart the job with the "
                                  "QuarantineState scope.")
        alerts.append(Alert("quarantine", "critical", "Provisioning is quarantined", detail, remedy, q["began"],
                            f"quarantine:{q['began'].isoformat() if q['began'] else q['reason']}"))
    if ov.overdue and not ov.quarantine:
        alerts.append(Alert(
            "overdue", "warning", "No provisioning cycle completed recently",
            f"The last cycle ended {_fmt(ov.last_cycle_end)} ({_span(ov.overdue_by or timedelta())} ago); a cycle "
            f"is expected every {int(ov.interval.total_seconds() // 60)} minutes.",
            "Check the job in the Entra admin center (Provisioning > status) and fetch the latest logs; if the job "
            "is stopped, start it.", ov.last_cycle_end,
            f"overdue:{ov.last_cycle_end.isoformat() if ov.last_cycle_end else 'never'}"))
    if ov.spike:
        s = ov.spike
        alerts.append(Alert(
            "failure_spike", "warning", "Failure rate spiked in the latest cycle",
            f"Cycle {s['cycle_id']}: {s['failures']} of {s['total']} operations failed "
            f"({s['failure_rate']:.0%}; the recent median is {s['trailing_median']:.0%}).",
            "Open Sync history > failures by error code for the cause and the suggested fix.", s["at"],
            f"failure_spike:{s['cycle_id']}"))
    if ov.credential_failures:
        c = ov.credential_failures
        count = f"{c['count']} records" if c.get("count") else "the job"
        alerts.append(Alert(
            "credential_failure", "critical", "Entra cannot authenticate to 6clicks",
            f"{count} reported {c['error_code']} (last {_fmt(c['last_seen'])}).",
            "Generate a new 6clicks token and push it to Entra (Connection & token > Token > Rotate token, or "
            "python -m console token rotate), then restart provisioning.", c["last_seen"], f"credential_failure:{c['cycle_id']}"))
    if ov.staged_deletes:
        alerts.append(Alert(
            "staged_deletes", "warning", "Deletions are held by Entra's accidental-deletion protection",
            f"{ov.staged_deletes} deletes/disables were staged in cycle {ov.staged_delete_cycle} "
            f"({_fmt(ov.staged_delete_at)}).",
            "Review the held deletions in the Entra admin center; allow them if intended, otherwise fix the "
            "scoping change that caused them.", ov.staged_delete_at, f"staged_deletes:{ov.staged_delete_cycle}"))
    return alerts


def token_alert(ctx: Context, conn: Connection) -> Alert | None:
    try:
        status = TokenService(ctx).status(conn.name)
    except Exception as exc:  # the credential store may be locked or missing: say so, do not crash the page
        message, remedy = (exc.message, exc.remedy) if isinstance(exc, ConsoleError) else (str(exc), "")
        return Alert("token_missing", "warning", "The token's state cannot be read", message,
                     remedy or "Check the keyring on Connection & token.", None, "token_missing:unreadable")
    level = status.level
    if level in ("ok", "notice"):
        return None
    if level == "missing":  # not a reminder: the connection cannot work at all
        return Alert("token_missing", "critical", "No 6clicks token is stored", status.message or "",
                     status.remedy or "Generate a token on Connection & token.", None, "token_missing")
    severity = "warning" if level == "warning" else "critical"
    titles = {"warning": "The 6clicks token expires soon", "critical": "The 6clicks token expires very soon",
              "expired": "The 6clicks token has expired", "rejected": "6clicks rejects the token",
              "missing": "No 6clicks token is stored"}
    expires = status.expires_at
    return Alert("token_expiry", severity, titles.get(level, f"Token: {level}"), status.message or "",
                 status.remedy or "Generate a new token on the Connection & token page.", expires,
                 f"token_expiry:{level}:{expires.date().isoformat() if expires else ''}")


def setup_alert(ctx: Context, conn: Connection) -> Alert | None:
    """The last setup check's failures (``python -m console doctor`` or the Setup check page)."""
    last = last_run(ctx, conn)
    if last is None or last.worst != "failure":
        return None
    listed = "; ".join(last.failures[:6]) + (f" (+{len(last.failures) - 6} more)" if len(last.failures) > 6 else "")
    return Alert("setup_check", "critical", "The setup check found failures",
                 f"The setup check of {_fmt(last.at)} failed on: {listed}.",
                 "Open Settings > Setup check (or run python -m console doctor --connection NAME) for what was seen "
                 "and the fix of each step.", last.at, "setup_check:" + "|".join(sorted(last.failures)))


def orphans_alert(ctx: Context, conn: Connection) -> Alert | None:
    """The last reconciliation's orphans still active in the latest snapshot: 6clicks accounts whose Entra object
    is gone, disabled or unassigned. It ends when they are deactivated."""
    found = open_orphans(ctx, conn)
    if found is None or not found.still_active:
        return None
    count = found.still_active
    return Alert("orphans", "critical", f"{count} orphan account(s) still have access to 6clicks",
                 f"The reconciliation of {_fmt(found.at)} found {found.found} active 6clicks account(s) managed by "
                 f"SCIM whose Entra object is gone, disabled or no longer assigned to the app; {count} are still "
                 "active.",
                 "Open Directory > Reconcile, select the orphans and deactivate them (previewed, journaled, undoable), "
                 "or find why Entra did not (held deletions, quarantine).", found.at, f"orphans:{count}")


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
    token reminders unless ``include_token``. Returns (alert, NotificationResult) pairs."""
    results: list[tuple[Alert, NotificationResult]] = []
    for alert in current_alerts(ctx, conn, now, include_token=include_token):
        body = f"{alert.detail}\n\nWhat to do: {alert.remedy}"
        result = send(ctx, conn, f"[{alert.severity}] {conn.name}: {alert.title}", body, f"entra:{alert.key}",
                      dry_run=dry_run)
        results.append((alert, result))
    return results
