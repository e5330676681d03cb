"""Run the setup check on one connection: one ``Check`` per step of the 6clicks guide.

Reads only: a SCIM probe, the six permission probes (``scim_client.permissions``: requests a permitted caller is
refused for), a short-lived token exchange with the stored API key, and Graph reads (the job, its schema) plus
``validateCredentials``, which tests credentials without storing them. Every message is plain text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from console.connections import Connection
from console.context import Context
from console.doctor.confirmations import confirmations, save_run
from console.doctor.manual import APP, ENTRA, MANUAL, SIX
from console.doctor.model import Check, Report, Status
from console.entra import schema as mappings
from console.entra.catalogue import explain_error
from console.entra.health import parse_interval
from console.errors import ConsoleError
from console.graph import GraphClient, GraphError
from console.notify.channels import notify_urls
from console.tokens.service import TokenService
from scim_client import ScimClient, ScimError, exchange_api_key
from scim_client.errors import PERMISSIONS
from scim_client.permissions import PermissionCheck, probe_permissions

PERMS = "Permissions"
LONG_LIVED = timedelta(days=300)   # a "long-lived" token lasts a year; anything much shorter is the hourly kind
GRAPH_SETTINGS = ("Add the connection's Microsoft Graph settings (Connection & token > Microsoft Graph, or "
                  "python -m console connections edit) and store its client secret; then run the check again.")
GRAPH_NOT_READABLE = "Microsoft Graph does not expose this setting for reading; check it in the admin center."


def _perm_name(key: str) -> str:
    return PERMISSIONS.get(key, key)


def _client(conn: Connection, token: str) -> ScimClient:
    """A short-patience client for the checks: one retry, answers within seconds."""
    return ScimClient(conn.scim_url or "", token=token, verify=conn.verify_tls, max_retries=1,
                      retry_budget_seconds=10.0, timeout=15.0)


def _scim_checks(conn: Connection, token: str | None, svc: TokenService, now: datetime) -> list[Check]:
    checks: list[Check] = []
    # the endpoint: any SCIM answer (even 401 to a token that is not one) shows it is there
    # with the stored token when there is one: the same answer then tells whether the token works
    with _client(conn, token or "not-a-token") as client:
        probe = client.probe()
    why = "Entra sends every change to this address; 6clicks answers SCIM at the API URL + /scim."
    expected = conn.api_url.rstrip("/") + "/scim"
    if probe.outcome in ("ok", "rejected", "forbidden"):
        status: Status = "ok"
        seen = f"{conn.scim_url} answers SCIM (TLS verified)" if conn.scim_url and conn.scim_url.startswith(
            "https") and conn.verify_tls else f"{conn.scim_url} answers SCIM"
        fix = ""
        if (conn.scim_url or "").rstrip("/").casefold() != expected.casefold():
            status, fix = "warning", f"The guide's endpoint is {expected}; check the connection's SCIM URL."
            seen += f", but the guide's endpoint for this API URL is {expected}"
        elif not conn.verify_tls:
            status, fix = "warning", "Turn certificate verification back on in the connection's settings."
            seen += "; certificate verification is switched off for this connection"
    else:
        status, seen, fix = "failure", probe.message, probe.remedy
    checks.append(Check("scim-endpoint", SIX, "API URL and SCIM endpoint", status, seen, why, fix,
                        "Tenant URL: the API URL + /scim/"))

    # the API key exchanges (a short-lived token: nothing stored, nothing rotated)
    key = svc.ctx.credentials.get(conn.name, "api_key") if conn.auth_mode == "6clicks-api-key" else None
    why = "Without a working API key the long-lived token cannot be regenerated before it lapses."
    if conn.auth_mode != "6clicks-api-key":
        checks.append(Check("api-key", SIX, "API key", "ok", "This connection uses a pasted token (no API key).",
                            why, "", "Developer API: the API key of the dedicated API user"))
    elif not key:
        checks.append(Check("api-key", SIX, "API key", "failure", "No API key is stored in the keyring.", why,
                            "Connection & token > Connection settings: store the API key of the dedicated API "
                            "user (6clicks > Settings > Developer API).",
                            "Developer API: the API key of the dedicated API user"))
    else:
        try:
            exchange_api_key(conn.api_url, key, long_lived=False, verify=conn.verify_tls, timeout=20.0)
            checks.append(Check("api-key", SIX, "API key", "ok", "The stored API key exchanges for a token.", why,
                                guide_step="Developer API: the API key of the dedicated API user"))
        except ScimError as exc:
            checks.append(Check("api-key", SIX, "API key", "failure", exc.message, why, exc.remedy,
                                "Developer API: the API key of the dedicated API user"))

    # the token: stored, long-lived, working, tracked
    st = svc.status(conn)
    why = "Entra uses this token for every cycle; when it lapses, provisioning stops without warning."
    step = "Generate the long-lived token (IsLongLivedToken = true) and paste it as Secret Token"
    if st.level == "missing":
        checks.append(Check("token", SIX, "Long-lived token", "failure", st.message, why, st.remedy, step))
    else:
        status = "ok" if st.level in ("ok", "notice") else "warning" if st.level == "warning" else "failure"
        seen, fix = st.message, st.remedy
        if st.issued_at and st.expires_at and st.expires_at - st.issued_at < LONG_LIVED and status == "ok":
            days = (st.expires_at - st.issued_at).days
            status, seen = "warning", f"{seen} It was issued for {days} days only, not the year a long-lived one has."
            fix = "Generate the long-lived token (Connection & token > Generate token)."
        if token and status != "failure":
            works = probe  # the endpoint's probe above used this token
            if works.ok:
                seen += " GET /scim/Users answers 200."
            else:
                status, seen, fix = "failure", f"{seen} But testing it failed: {works.message}", works.remedy
        checks.append(Check("token", SIX, "Long-lived token", status, seen, why, fix, step))
    urls = notify_urls(svc.ctx, conn)
    why = "6clicks sends no warning before the token expires; the console's reminders are the only ones."
    if urls:
        checks.append(Check("reminders", SIX, "Expiry reminders", "ok",
                            f"{len(urls)} reminder channel(s) configured; thresholds "
                            f"{', '.join(str(d) for d in conn.reminder_days)} days.", why))
    else:
        checks.append(Check("reminders", SIX, "Expiry reminders", "warning",
                            "No reminder channel is configured: nobody will be told before the token lapses.", why,
                            "Connection & token > Reminders: add a channel (e-mail, Teams, Slack, ...) and Send "
                            "test; schedule python -m console remind from cron."))
    return checks


def _permission_checks(conn: Connection, token: str | None) -> list[Check]:
    why = "The dedicated API user needs exactly these six permissions; without one, Entra's matching writes fail."
    step = "Create a dedicated 6clicks API user with six permissions"
    if not token:
        return [Check(f"permission-{k}", PERMS, _perm_name(k), "warning", "Not checked: no token is stored.", why,
                      "Store or generate the token first.", step) for k in PERMISSIONS]
    try:
        with _client(conn, token) as client:
            found = probe_permissions(client)
    except ScimError as exc:
        return [Check(f"permission-{k}", PERMS, _perm_name(k), "warning", f"Not checked: {exc.message}", why,
                      exc.remedy, step) for k in PERMISSIONS]
    return [_permission_check(p, why, step) for p in found]


def _permission_check(p: PermissionCheck, why: str, step: str) -> Check:
    name = _perm_name(p.key)
    if p.verdict == "granted":
        return Check(f"permission-{p.key}", PERMS, name, "ok", f"{p.request}: {p.message}.", why, "", step)
    if p.verdict == "missing":
        return Check(f"permission-{p.key}", PERMS, name, "failure", f"{p.request}: refused (403). {p.message}", why,
                     f"6clicks > Settings > Users: give the API key's user the permission \"{name}\", then "
                     "generate a new token (removing a permission invalidated the old one).", step)
    return Check(f"permission-{p.key}", PERMS, name, "warning", f"{p.request}: {p.message}", why,
                 "Run the full probe (it creates and deletes a probe user and group) to be sure.", step)


def _job_check(graph: GraphClient, conn: Connection, now: datetime) -> Check:
    why = "A paused or quarantined job sends nothing to 6clicks; people who join or leave are not provisioned."
    job = graph.get_job()
    status_obj = _obj(job, "status")
    code = str(status_obj.get("code") or "")[:40]
    schedule = _obj(job, "schedule")
    interval = parse_interval(schedule.get("interval") if isinstance(schedule.get("interval"), str) else None)
    last = _obj(status_obj, "lastExecution")
    ended = _when(last.get("timeEnded"))
    if code == "Quarantine":
        q = _obj(status_obj, "quarantine")
        err = _obj(q, "error")
        meaning, fix = explain_error(str(err.get("code") or "")[:100] or None)
        reason = str(q.get("reason") or "unknown reason")[:100]
        return Check("entra-job", ENTRA, "Provisioning job runs", "failure",
                     f"The job is in quarantine ({reason}). {meaning}".strip(), why,
                     fix or f"{APP}: fix the cause, then Restart provisioning.", "Start provisioning")
    if code != "Active":
        words = {"Paused": "paused", "NotRun": "never started", "NotConfigured": "not configured"}.get(
            code, code or "in an unknown state")
        return Check("entra-job", ENTRA, "Provisioning job runs", "failure", f"The job is {words}.", why,
                     f"{APP}: Start provisioning (after a test with Provision on demand).", "Start provisioning")
    if ended is None:
        return Check("entra-job", ENTRA, "Provisioning job runs", "warning",
                     "The job is active but has not finished a cycle yet.", why,
                     "Wait for the first cycle (the initial one can take a while), then check again.",
                     "Start provisioning")
    age = now - ended
    state = str(last.get("state") or "")[:40]
    seen = f"Active; the last cycle ended {int(age.total_seconds() // 60)} minutes ago ({state or 'no state'})."
    if age > 2 * interval:
        return Check("entra-job", ENTRA, "Provisioning job runs", "warning",
                     seen + f" That is more than two intervals ({int(interval.total_seconds() // 60)} min each).",
                     why, f"{APP}: look at the current status and the provisioning logs.", "Start provisioning")
    if state == "Failed":
        return Check("entra-job", ENTRA, "Provisioning job runs", "warning", seen, why,
                     "Open Sync history to see which records failed and why.", "Start provisioning")
    return Check("entra-job", ENTRA, "Provisioning job runs", "ok", seen, why, guide_step="Start provisioning")


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _credentials_check(graph: GraphClient, conn: Connection, token: str | None) -> Check:
    why = "Entra sends with the Tenant URL and Secret Token it holds; a wrong one quarantines the job."
    step = "Admin Credentials: Tenant URL (API URL + /scim/) and Secret Token, then Test Connection"
    tenant_url = (conn.scim_url or "").rstrip("/") + "/"
    if not token:
        return Check("entra-credentials", ENTRA, "Credentials Entra holds", "warning",
                     "Not checked: no token is stored.", why, "Store or generate the token first.", step)
    try:
        graph.validate_credentials(base_address=tenant_url, token=token)
    except GraphError as exc:
        status: Status = "warning" if exc.status == 403 else "failure"
        return Check("entra-credentials", ENTRA, "Credentials Entra holds", status,
                     f"validateCredentials with {tenant_url}: {exc.message}", why, exc.remedy, step)
    return Check("entra-credentials", ENTRA, "Credentials Entra holds", "ok",
                 f"Entra validated the Tenant URL {tenant_url} with the current token.", why, guide_step=step)


def _mapping_checks(graph: GraphClient) -> tuple[list[Check], str | None]:
    why = "Entra matches and creates people with these mappings; a changed one duplicates or misses people."
    schema = graph.get_schema()
    view = mappings.read_schema(schema)
    out = []
    for check_id, kind, expected, found in (("entra-mapping-users", "User", mappings.GUIDE_USERS, view.users),
                                            ("entra-mapping-groups", "Group", mappings.GUIDE_GROUPS, view.groups)):
        rows = mappings.compare(kind, expected, found)
        status = mappings.worst(rows)
        bad = [r for r in rows if r.verdict != "ok"]
        seen = ("As the guide prescribes." if not bad else
                "; ".join(f"{r.target}: {r.note}" for r in bad[:4]) + (f" (+{len(bad) - 4} more)" if len(bad) > 4
                                                                      else ""))
        if view.skipped:
            seen += f" {view.skipped} schema entries were not readable and were left out."
        title = f"Attribute mappings: {kind.lower()}s"
        name = "Provision Microsoft Entra ID Users" if kind == "User" else "Provision Microsoft Entra ID Groups"
        out.append(Check(check_id, ENTRA, title, status, seen, why,
                         "" if status == "ok" else f"{APP} > Mappings > {name}: make each line match the guide's "
                         "table (Edit the attribute; Matching precedence under Show advanced options).",
                         "Mappings: the guide's attribute table", rows=tuple(rows)))
    return out, view.rule_id


def _graph_checks(ctx: Context, conn: Connection, token: str | None, now: datetime,
                  graph: GraphClient | None) -> list[Check]:
    ids = (("entra-job", "Provisioning job runs"), ("entra-credentials", "Credentials Entra holds"),
           ("entra-mapping-users", "Attribute mappings: users"), ("entra-mapping-groups", "Attribute mappings: groups"))
    if conn.entra is None or not conn.entra.can_manage_job:
        return [Check(i, ENTRA, t, "manual", "Not checked: the connection has no Microsoft Graph settings with the "
                      "service principal and job id.", "", GRAPH_SETTINGS) for i, t in ids]
    try:
        client = graph or GraphClient.for_connection(ctx, conn)
    except GraphError as exc:
        return [Check(i, ENTRA, t, "warning", f"Not checked: {exc.message}", "", exc.remedy) for i, t in ids]
    checks: list[Check] = []
    try:
        for check_id, title, run in (("entra-job", "Provisioning job runs", lambda: [_job_check(client, conn, now)]),
                                     ("entra-credentials", "Credentials Entra holds",
                                      lambda: [_credentials_check(client, conn, token)]),
                                     ("entra-mapping-users", "Attribute mappings", lambda: _mapping_checks(client)[0])):
            try:
                checks.extend(run())
            except GraphError as exc:
                ids_for = [check_id] if check_id != "entra-mapping-users" else ["entra-mapping-users",
                                                                               "entra-mapping-groups"]
                status: Status = "warning" if exc.status == 403 else "failure"
                checks.extend(Check(i, ENTRA, title, status, f"Not checked: {exc.message}", "", exc.remedy)
                              for i in ids_for)
    finally:
        if graph is None:
            client.close()
    return checks


def manual_checks(ctx: Context, conn: Connection) -> list[Check]:
    done = confirmations(ctx, conn)
    out = []
    for item, section, title, why, fix in MANUAL:
        by = done.get(item)
        if by:
            out.append(Check(item, section, title, "ok", f"Confirmed by hand by {by[0]}.", why, fix,
                             confirmed_by=by[0], confirmed_at=by[1]))
        else:
            reason = GRAPH_NOT_READABLE if section == ENTRA else "6clicks has no API for it."
            out.append(Check(item, section, title, "manual", f"Cannot be checked from here: {reason}", why, fix))
    return out


def run_checks(ctx: Context, conn: Connection, *, graph: GraphClient | None = None, save: bool = True) -> Report:
    """Every check, in the guide's order. Never raises for what it checks: each problem is a check's verdict.
    ``save`` keeps the run (worst verdict and checks) for the Overview and ``remind``."""
    now = ctx.now()
    svc = TokenService(ctx)
    try:
        token = svc.get_token(conn.name)
    except ConsoleError:
        token = None
    report = Report(conn.name, now)
    report.checks.extend(_scim_checks(conn, token, svc, now))
    report.checks.extend(_permission_checks(conn, token))
    report.checks.extend(_graph_checks(ctx, conn, token, now, graph))
    report.checks.extend(manual_checks(ctx, conn))
    if save:
        save_run(ctx, conn, report)
    return report


def rule_id(ctx: Context, conn: Connection, graph: GraphClient | None = None) -> str:
    """The synchronization rule id provisionOnDemand needs, read from the job's schema."""
    client = graph or GraphClient.for_connection(ctx, conn)
    try:
        found = mappings.read_schema(client.get_schema()).rule_id
    finally:
        if graph is None:
            client.close()
    if not found:
        raise GraphError("The provisioning job's schema names no synchronization rule.",
                         f"{APP}: check that provisioning is configured (Mappings), then try again.",
                         code="NoRule")
    return found
