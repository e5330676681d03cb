"""Run the setup check on one connection: one ``Check`` per step of the 6clicks guide.

Reads only: a SCIM probe, the six permission probes (``scim_client.permissions``: requests a permitted caller is
refused for), a short-lived token exchange with the stored API key, and Graph reads (the job, its schema) plus
``validateCredentials``, which tests credentials without storing them. Every message is plain text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from console.connections import Connection
from console.context import Context
from console.doctor.confirmations import confirmations, save_run
from console.doctor.manual import ENTRA, MANUAL, SIX, app_path
from console.doctor.model import PERMISSION_NAMES, Check, Report, Status, permission_name, title_of
from console.doctor.probes import request_words, result_words
from console.entra import schema as mappings
from console.entra.catalogue import explain_error
from console.entra.health import parse_interval
from console.errors import ConsoleError
from console.graph import GraphClient, GraphError
from console.i18n import N_, _, count, fmt_datetime, fmt_number, ngettext, pgettext
from console.notify.channels import notify_urls
from console.tokens.service import TokenService
from scim_client import ScimClient, ScimError, exchange_api_key
from scim_client.permissions import PermissionCheck, probe_permissions

PERMS = "Permissions"
LONG_LIVED = timedelta(days=300)   # a "long-lived" token lasts a year; anything much shorter is the hourly kind
GRAPH_SETTINGS = N_("Add the connection's Microsoft Graph settings (Connection & token > Microsoft Graph, or "
                    "python -m console connections edit) and store its client secret; then run the check again.")
GRAPH_NOT_READABLE = N_("Microsoft Graph does not expose this setting for reading; check it in the admin center.")


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
    why = _("Entra sends every change to this address; 6clicks answers SCIM at the API URL + /scim.")
    expected = conn.api_url.rstrip("/") + "/scim"
    if probe.outcome in ("ok", "rejected", "forbidden"):
        status: Status = "ok"
        url = conn.scim_url or ""
        seen = (_("{url} answers SCIM (TLS verified)") if url.startswith("https") and conn.verify_tls
                else _("{url} answers SCIM")).format(url=url)
        fix = ""
        if url.rstrip("/").casefold() != expected.casefold():
            status = "warning"
            fix = _("The guide's endpoint is {expected}; check the connection's SCIM URL.").format(expected=expected)
            seen = _("{seen}, but the guide's endpoint for this API URL is {expected}").format(seen=seen,
                                                                                              expected=expected)
        elif not conn.verify_tls:
            status, fix = "warning", _("Turn certificate verification back on in the connection's settings.")
            seen = _("{seen}; certificate verification is switched off for this connection").format(seen=seen)
    else:
        status, seen, fix = "failure", probe.message, probe.remedy
    checks.append(Check("scim-endpoint", SIX, title_of("scim-endpoint"), status, seen, why, fix,
                        _("Tenant URL: the API URL + /scim/")))

    # the API key exchanges (a short-lived token: nothing stored, nothing rotated)
    key = svc.ctx.credentials.get(conn.name, "api_key") if conn.auth_mode == "6clicks-api-key" else None
    why = _("Without a working API key the long-lived token cannot be regenerated before it lapses.")
    step = _("Developer API: the API key of the dedicated API user")
    title = title_of("api-key")
    if conn.auth_mode != "6clicks-api-key":
        checks.append(Check("api-key", SIX, title, "ok", _("This connection uses a pasted token (no API key)."),
                            why, "", step))
    elif not key:
        checks.append(Check("api-key", SIX, title, "failure", _("No API key is stored in the keyring."), why,
                            _("Connection & token > Connection settings: store the API key of the dedicated API "
                              "user (6clicks > Settings > Developer API)."), step))
    else:
        try:
            exchange_api_key(conn.api_url, key, long_lived=False, verify=conn.verify_tls, timeout=20.0)
            checks.append(Check("api-key", SIX, title, "ok", _("The stored API key exchanges for a token."), why,
                                guide_step=step))
        except ScimError as exc:
            checks.append(Check("api-key", SIX, title, "failure", exc.message, why, exc.remedy, step))

    # the token: stored, long-lived, working, tracked
    st = svc.status(conn)
    why = _("Entra uses this token for every cycle; when it lapses, provisioning stops without warning.")
    step = _("Generate the long-lived token (IsLongLivedToken = true) and paste it as Secret Token")
    title = title_of("token")
    if st.level == "missing":
        checks.append(Check("token", SIX, title, "failure", st.message, why, st.remedy, step))
    else:
        status = "ok" if st.level in ("ok", "notice") else "warning" if st.level == "warning" else "failure"
        seen, fix = st.message, st.remedy
        if st.issued_at and st.expires_at and st.expires_at - st.issued_at < LONG_LIVED and status == "ok":
            days = (st.expires_at - st.issued_at).days
            status = "warning"
            seen = ngettext("{seen} It was issued for {n} day only, not the year a long-lived one has.",
                            "{seen} It was issued for {n} days only, not the year a long-lived one has.",
                            days).format(seen=seen, n=fmt_number(days))
            fix = _("Generate the long-lived token (Connection & token > Generate token).")
        if token and status != "failure":
            works = probe  # the endpoint's probe above used this token
            if works.ok:
                seen = _("{seen} GET /scim/Users answers 200.").format(seen=seen)
            else:
                status, fix = "failure", works.remedy
                seen = _("{seen} But testing it failed: {error}").format(seen=seen, error=works.message)
        checks.append(Check("token", SIX, title, status, seen, why, fix, step))
    urls = notify_urls(svc.ctx, conn)
    why = _("6clicks sends no warning before the token expires; the console's reminders are the only ones.")
    title = title_of("reminders")
    if urls:
        days_list = pgettext("list separator", ", ").join(fmt_number(d) for d in conn.reminder_days)
        checks.append(Check("reminders", SIX, title, "ok",
                            ngettext("{n} reminder channel configured; thresholds {days} days.",
                                     "{n} reminder channels configured; thresholds {days} days.",
                                     len(urls)).format(n=fmt_number(len(urls)), days=days_list), why))
    else:
        checks.append(Check("reminders", SIX, title, "warning",
                            _("No reminder channel is configured: nobody will be told before the token lapses."),
                            why,
                            _("Connection & token > Reminders: add a channel (e-mail, Teams, Slack, ...) and Send "
                              "test; schedule python -m console remind from cron.")))
    return checks


def _permission_checks(conn: Connection, token: str | None) -> list[Check]:
    why = _("The dedicated API user needs exactly these six permissions; without one, Entra's matching writes fail.")
    step = _("Create a dedicated 6clicks API user with six permissions")
    if not token:
        return [Check(f"permission-{k}", PERMS, permission_name(k), "warning", _("Not checked: no token is stored."),
                      why, _("Store or generate the token first."), step) for k in PERMISSION_NAMES]
    try:
        with _client(conn, token) as client:
            found = probe_permissions(client)
    except ScimError as exc:
        return [Check(f"permission-{k}", PERMS, permission_name(k), "warning",
                      _("Not checked: {error}").format(error=exc.message), why, exc.remedy, step)
                for k in PERMISSION_NAMES]
    return [_permission_check(p, why, step) for p in found]


def _permission_check(p: PermissionCheck, why: str, step: str) -> Check:
    name = permission_name(p.key)
    request, result = request_words(p), result_words(p)
    if p.verdict == "granted":
        return Check(f"permission-{p.key}", PERMS, name, "ok",
                     _("{request}: {result}.").format(request=request, result=result), why, "", step)
    if p.verdict == "missing":
        return Check(f"permission-{p.key}", PERMS, name, "failure",
                     _("{request}: refused (403). {result}").format(request=request, result=result), why,
                     _("6clicks > Settings > Users: give the API key's user the permission \"{name}\", then "
                       "generate a new token (removing a permission invalidated the old one).").format(name=name),
                     step)
    return Check(f"permission-{p.key}", PERMS, name, "warning",
                 _("{request}: {result}").format(request=request, result=result), why,
                 _("Run the full probe (it creates and deletes a probe user and group) to be sure."), step)


def _job_check(graph: GraphClient, conn: Connection, now: datetime) -> Check:
    why = _("A paused or quarantined job sends nothing to 6clicks; people who join or leave are not provisioned.")
    title, step = title_of("entra-job"), _("Start provisioning")
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
        reason = str(q.get("reason") or "")[:100] or _("unknown reason")
        return Check("entra-job", ENTRA, title, "failure",
                     _("The job is in quarantine ({reason}). {meaning}").format(reason=reason,
                                                                                meaning=meaning).strip(), why,
                     fix or _("{app}: fix the cause, then Restart provisioning.").format(app=app_path()), step)
    if code != "Active":
        seen = {"Paused": _("The job is paused."), "NotRun": _("The job has never started."),
                "NotConfigured": _("The job is not configured.")}.get(code) or (
            _("The job is {state}.").format(state=code) if code else _("The job is in an unknown state."))
        return Check("entra-job", ENTRA, title, "failure", seen, why,
                     _("{app}: Start provisioning (after a test with Provision on demand).").format(app=app_path()),
                     step)
    if ended is None:
        return Check("entra-job", ENTRA, title, "warning",
                     _("The job is active but has not finished a cycle yet."), why,
                     _("Wait for the first cycle (the initial one can take a while), then check again."), step)
    age = now - ended
    state = str(last.get("state") or "")[:40]
    minutes = int(age.total_seconds() // 60)
    seen = ngettext("Active; the last cycle ended {n} minute ago ({state}).",
                    "Active; the last cycle ended {n} minutes ago ({state}).",
                    minutes).format(n=fmt_number(minutes), state=state or _("no state"))
    if age > 2 * interval:
        return Check("entra-job", ENTRA, title, "warning",
                     _("{seen} That is more than two intervals ({minutes} min each).").format(
                         seen=seen, minutes=fmt_number(int(interval.total_seconds() // 60))),
                     why, _("{app}: look at the current status and the provisioning logs.").format(app=app_path()),
                     step)
    if state == "Failed":
        return Check("entra-job", ENTRA, title, "warning", seen, why,
                     _("Open Sync history to see which records failed and why."), step)
    return Check("entra-job", ENTRA, title, "ok", seen, why, guide_step=step)


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
    why = _("Entra sends with the Tenant URL and Secret Token it holds; a wrong one quarantines the job.")
    step = _("Admin Credentials: Tenant URL (API URL + /scim/) and Secret Token, then Test Connection")
    title = title_of("entra-credentials")
    tenant_url = (conn.scim_url or "").rstrip("/") + "/"
    if not token:
        return Check("entra-credentials", ENTRA, title, "warning", _("Not checked: no token is stored."), why,
                     _("Store or generate the token first."), step)
    try:
        graph.validate_credentials(base_address=tenant_url, token=token)
    except GraphError as exc:
        status: Status = "warning" if exc.status == 403 else "failure"
        return Check("entra-credentials", ENTRA, title, status,
                     _("validateCredentials with {url}: {error}").format(url=tenant_url, error=exc.message), why,
                     exc.remedy, step)
    return Check("entra-credentials", ENTRA, title, "ok",
                 _("Entra validated the Tenant URL {url} with the current token.").format(url=tenant_url), why,
                 guide_step=step)


def _mapping_checks(graph: GraphClient) -> tuple[list[Check], str | None]:
    why = _("Entra matches and creates people with these mappings; a changed one duplicates or misses people.")
    schema = graph.get_schema()
    view = mappings.read_schema(schema)
    out = []
    for check_id, kind, expected, found in (("entra-mapping-users", "User", mappings.GUIDE_USERS, view.users),
                                            ("entra-mapping-groups", "Group", mappings.GUIDE_GROUPS, view.groups)):
        rows = mappings.compare(kind, expected, found)
        status = mappings.worst(rows)
        bad = [r for r in rows if r.verdict != "ok"]
        seen = _("As the guide prescribes.") if not bad else "; ".join(f"{r.target}: {r.note}" for r in bad[:4])
        if len(bad) > 4:
            seen += " " + _("(+{n} more)").format(n=fmt_number(len(bad) - 4))
        if view.skipped:
            seen += " " + count(view.skipped, "{n} schema entry was not readable and was left out.",
                                "{n} schema entries were not readable and were left out.")
        name = (_("Provision Microsoft Entra ID Users") if kind == "User"
                else _("Provision Microsoft Entra ID Groups"))
        fix = "" if status == "ok" else _(
            "{app} > Mappings > {name}: make each line match the guide's table (Edit the attribute; Matching "
            "precedence under Show advanced options).").format(app=app_path(), name=name)
        out.append(Check(check_id, ENTRA, title_of(check_id), status, seen, why, fix,
                         _("Mappings: the guide's attribute table"), rows=tuple(rows)))
    return out, view.rule_id


def _graph_checks(ctx: Context, conn: Connection, token: str | None, now: datetime,
                  graph: GraphClient | None) -> list[Check]:
    ids = ("entra-job", "entra-credentials", "entra-mapping-users", "entra-mapping-groups")
    if conn.entra is None or not conn.entra.can_manage_job:
        return [Check(i, ENTRA, title_of(i), "manual", _("Not checked: the connection has no Microsoft Graph settings "
                      "with the service principal and job id."), "", _(GRAPH_SETTINGS)) for i in ids]
    try:
        client = graph or GraphClient.for_connection(ctx, conn)
    except GraphError as exc:
        return [Check(i, ENTRA, title_of(i), "warning", _("Not checked: {error}").format(error=exc.message), "",
                      exc.remedy) for i in ids]
    checks: list[Check] = []
    try:
        for check_ids, run in ((["entra-job"], lambda: [_job_check(client, conn, now)]),
                               (["entra-credentials"], lambda: [_credentials_check(client, conn, token)]),
                               (["entra-mapping-users", "entra-mapping-groups"], lambda: _mapping_checks(client)[0])):
            try:
                checks.extend(run())
            except GraphError as exc:
                status: Status = "warning" if exc.status == 403 else "failure"
                checks.extend(Check(i, ENTRA, title_of(i), status, _("Not checked: {error}").format(error=exc.message),
                                    "", exc.remedy) for i in check_ids)
    finally:
        if graph is None:
            client.close()
    return checks


def manual_checks(ctx: Context, conn: Connection) -> list[Check]:
    done = confirmations(ctx, conn)
    out = []
    for item, section, title, why, fix in MANUAL:
        by = done.get(item)
        words = (_(title), _(why), _(fix).format(app=app_path()))
        if by:
            seen = _("Confirmed by hand by {operator} on {date}.").format(
                operator=by[0], date=fmt_datetime(by[1].astimezone(UTC), zone="UTC"))
            out.append(Check(item, section, words[0], "ok", seen, words[1], words[2], confirmed_by=by[0],
                             confirmed_at=by[1]))
        else:
            reason = _(GRAPH_NOT_READABLE) if section == ENTRA else _("6clicks has no API for it.")
            out.append(Check(item, section, words[0], "manual",
                             _("Cannot be checked from here: {reason}").format(reason=reason), words[1], words[2]))
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
        raise GraphError(_("The provisioning job's schema names no synchronization rule."),
                         _("{app}: check that provisioning is configured (Mappings), then try again.").format(
                             app=app_path()), code="NoRule")
    return found
