"""From the demo to a real tenant that is healthy and reminded: a connection's health, which connection the app
opens on, adding a connection only once its check passed, and the set-up checklist with each step's live state.

UI-free. The Connection & token page, the "Set up a tenant" page, the sidebar's picker and the command line use
it; every remedy names the place in the app first and the command for those who prefer a shell.

Health (``connection_health``) is read from SQLite only (cheap enough for the picker on every rerun), or with
``deep=True`` also from the keyring (the one next step of an incomplete connection: store the key, or generate
the token):

- ``ready``: a token is stored and was not rejected or expired (it may still expire soon: the banner says so);
- ``incomplete``: no token yet (a connection added from the command line before its key was stored);
- ``broken``: the token expired or was rejected (401).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import passphrase_rule
from console.errors import ConsoleError, TokenError, probe_text, scim_message, scim_remedy
from console.i18n import N_, _, fmt_datetime, pgettext
from console.notify.channels import describe_channels, last_test
from console.notify.reminders import cron_line, last_runs
from console.tokens.probe import PROBE_RETRY, ProbeResult
from console.tokens.rotation import in_entra
from console.tokens.service import TokenService, clean_secret
from console.tokens.status import (
    TokenStatus,
    api_key_remedy,
    cli_name,
    error_kind,
    fix,
    generate_remedy,
    import_remedy,
)
from scim_client import ScimClient, ScimError, exchange_api_key, read_token_expiry

log = logging.getLogger(__name__)

LAST_CONNECTION = "ui.last_connection"
DAILY_JOB_FRESH = timedelta(hours=36)


class SetupError(ConsoleError):
    """A check before saving failed. ``field`` names the form field to correct: api_url, scim_url, api_key, token."""

    def __init__(self, message: str, remedy: str = "", *, field: str = "") -> None:
        super().__init__(message, remedy)
        self.field = field


# -- health ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Health:
    name: str
    state: str  # ready | incomplete | broken
    label: str  # a few words for the picker ("" when ready)
    message: str
    next_step: str  # the one next step: the place in the app, then the command

    @property
    def healthy(self) -> bool:
        return self.state == "ready"


def connection_health(ctx: Context, conn: Connection, *, deep: bool = False) -> Health:
    status = TokenService(ctx).status(conn)
    if status.level == "missing":
        step = status.remedy
        if deep and conn.auth_mode == "6clicks-api-key":
            try:
                has_key = bool(ctx.credentials.get(conn.name, "api_key"))
            except ConsoleError as exc:
                step = fix(_("Unlock the keyring on Connection & token (or Set up a tenant), then store the key"),
                           f"SCIM_CONSOLE_KEYRING_PASSPHRASE=… python -m console token set-key --connection "
                           f"{cli_name(conn.name)} --stdin") + f" ({exc.message})"
            else:
                step = generate_remedy(conn.name) if has_key else api_key_remedy(conn.name)
        elif conn.auth_mode != "6clicks-api-key":
            step = import_remedy(conn.name)
        message = (_("{name} is incomplete: its API key is not stored or its token not generated yet, so nothing can "
                     "be read or provisioned.") if conn.auth_mode == "6clicks-api-key" else
                   _("{name} is incomplete: its token is not imported yet, so nothing can be read or "
                     "provisioned.")).format(name=conn.name)
        return Health(conn.name, "incomplete", pgettext("connection health", "incomplete"), message, step)
    if status.level in ("expired", "rejected"):
        label = (pgettext("connection health", "token expired") if status.level == "expired"
                 else pgettext("connection health", "token rejected"))
        return Health(conn.name, "broken", label, status.message, status.remedy)
    return Health(conn.name, "ready", "", status.message, "")


def split_fix(remedy: str) -> tuple[str, str]:
    """(the place in the app, the command) of a remedy made by ``console.tokens.status.fix``, in whatever
    language ``fix`` words it now (its separator is found by wording two markers); the whole remedy twice when
    it was not made by ``fix``."""
    first, second = "\x00in-app\x00", "\x00command\x00"
    sample = fix(first, second)
    if first not in sample or second not in sample:
        return remedy, remedy
    at_first, at_second = sample.index(first), sample.index(second)
    if at_first < at_second:
        separator = sample[at_first + len(first):at_second]
    else:
        separator = sample[at_second + len(second):at_first]
    head, found, tail = remedy.partition(separator) if separator else ("", "", "")
    if not found:
        return remedy, remedy
    return (head, tail) if at_first < at_second else (tail, head)


def healths(ctx: Context, conns: list[Connection]) -> dict[str, Health]:
    return {c.name: connection_health(ctx, c) for c in conns}


def _setting_key(operator: str | None) -> str:
    return f"{LAST_CONNECTION}:{(operator or '').strip().lower()}"


def remember_connection(ctx: Context, name: str | None, operator: str | None = None) -> None:
    """Remember the operator's selection: the app opens on it next time while it is healthy."""
    if not name:
        ctx.store.execute("DELETE FROM settings WHERE key = ?", (_setting_key(operator),))
        return
    ctx.store.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (_setting_key(operator), name))


def remembered_connection(ctx: Context, operator: str | None = None) -> str | None:
    row = ctx.store.query_one("SELECT value FROM settings WHERE key = ?", (_setting_key(operator),))
    return str(row["value"]) if row else None


def choose_connection(ctx: Context, conns: list[Connection], operator: str | None = None) -> str | None:
    """The connection the app opens on: the operator's last selection while it is healthy; otherwise a healthy
    real connection, else the (healthy) demo; a broken or incomplete connection only when nothing is healthy."""
    if not conns:
        return None
    health = healths(ctx, conns)
    names = {c.name.casefold(): c.name for c in conns}
    last = names.get((remembered_connection(ctx, operator) or "").casefold())
    if last and health[last].healthy:
        return last
    for want_demo in (False, True):
        for c in conns:
            if c.is_demo == want_demo and health[c.name].healthy:
                return c.name
    if last:
        return last
    return next((c.name for c in conns if not c.is_demo), conns[0].name)


# -- adding a connection: check first, save only what passed -----------------------------------------------------
_URL_KINDS = ("unreachable", "tls", "wrong-url", "bad-url", "html", "protocol", "timeout")


def _exchange_failure(conn: Connection, exc: ScimError) -> SetupError:
    kind = error_kind(exc)
    message = scim_message(exc) or str(exc)
    remedy = scim_remedy(exc)
    kept = _("Everything you typed is kept: correct it and try again.")
    if kind == "rejected":
        return SetupError(_("6clicks refused the API key ({error}). Nothing was saved.").format(error=message),
                          f"{remedy} {kept}".strip(), field="api_key")
    if kind in _URL_KINDS:
        return SetupError(_("The API base URL {url} did not answer as 6clicks ({error}). Nothing was saved.").format(
                              url=conn.api_url, error=message),
                          f"{remedy} {kept}".strip(), field="api_url")
    return SetupError(_("The API key could not be checked ({error}). Nothing was saved.").format(error=message),
                      f"{remedy} {kept}".strip(), field="api_key")


def _probe_failure(conn: Connection, probe: ProbeResult) -> SetupError:
    kept = _("Everything you typed is kept: correct it and try again.")
    if probe.result in ("protocol", "unreachable", "tls"):
        return SetupError(_("The SCIM base URL {url} did not work with the new token: {error} Nothing was "
                            "saved.").format(url=conn.scim_url, error=probe.message),
                          f"{probe.remedy} {kept}".strip(), field="scim_url")
    if probe.result == "forbidden":
        return SetupError(_("{error} Nothing was saved.").format(error=probe.message),
                          f"{probe.remedy} {kept}".strip(), field="api_key")
    return SetupError(_("The new token failed its test against SCIM: {error} Nothing was saved.").format(
                          error=probe.message),
                      f"{probe.remedy} {kept}".strip(), field="api_key" if conn.auth_mode == "6clicks-api-key"
                      else "token")


def add_connection_checked(ctx: Context, conn: Connection, *, api_key: str | None = None, token: str | None = None,
                           accept_estimated: bool = False, graph_secret: str | None = None,
                           svc: TokenService | None = None) -> Connection:
    """Add ``conn`` only when its check passes: the API key is exchanged with 6clicks for the first long-lived
    token (or the pasted static token is read), that token answers the SCIM endpoint, and the keyring can hold
    the secrets. Then the connection, its key, its token (and the Graph client secret) are stored together; if
    storing fails halfway, what was stored is removed again. Raises ``SetupError`` (with ``field``) and stores
    nothing when a check fails."""
    svc = svc or TokenService(ctx)
    conn.validate()
    repo = ConnectionRepo(ctx)
    if repo.find(conn.name) is not None:
        raise SetupError(_("A connection named {name!r} already exists. Nothing was saved.").format(name=conn.name),
                         _("Choose another name, or open that connection on Connection & token."), field="name")
    ctx.credentials.ensure_usable(conn.name)  # a locked or unusable keyring stops here, before any network call
    if conn.auth_mode == "6clicks-api-key":
        if not (api_key or "").strip():
            raise SetupError(_("Type the API key: the connection is checked with it before it is saved."),
                             _("Use the key of a dedicated 6clicks user with the six SCIM permissions."),
                             field="api_key")
        key = clean_secret(api_key or "", "API key")
        try:
            issued = exchange_api_key(conn.api_url, key, True, verify=conn.verify_tls)
        except ScimError as exc:
            raise _exchange_failure(conn, exc) from None
        first_token, issued_at, expires_at, source = issued.access_token, issued.issued_at, issued.expires_at, \
            issued.expiry_source
    else:
        if not (token or "").strip():
            raise SetupError(_("Paste the access token: the connection is checked with it before it is saved."),
                             _("Use the bearer token the SCIM provider gave you."), field="token")
        key = None
        first_token = clean_secret(token or "", "token")
        now = ctx.now()
        try:
            expires_at, source = read_token_expiry(first_token)
        except Exception:
            expires_at, source = now + timedelta(days=365), "assumed-365d"
        if source != "jwt-exp":
            if not accept_estimated:
                raise SetupError(_("The pasted token has no readable expiry date. Nothing was saved."),
                                 _("Tick “assume 365 days” if that is right (the date is then shown as estimated), "
                                   "or paste the complete token."), field="token")
            expires_at, source = now + timedelta(days=365), "assumed-365d"
        issued_at = now
    probe = svc.probe(conn, first_token)
    if not probe.ok:
        raise _probe_failure(conn, probe)
    conn = repo.add(conn)
    try:
        if key:
            ctx.credentials.set(conn.name, "api_key", key)
        svc.save_token(conn, first_token, issued_at=issued_at, expires_at=expires_at, expiry_source=source,
                       origin="generated" if key else "imported", probe=probe)
        if graph_secret and graph_secret.strip():
            ctx.credentials.set(conn.name, "graph_client_secret", graph_secret.strip())
    except ConsoleError as exc:
        try:
            repo.remove(conn.name)
        except ConsoleError:  # the removal's own failure must not hide the first one
            log.warning("could not undo the partly saved connection %r", conn.name)
        raise SetupError(_("{error} The connection was not saved.").format(error=exc.message), exc.remedy) from None
    log.info("added connection %r after its check passed", conn.name)
    return conn


def store_key_and_token(ctx: Context, name: str, api_key: str, svc: TokenService | None = None) -> TokenStatus:
    """For an existing (e.g. incomplete) connection: check and store the API key (a refused key changes nothing),
    then generate its token when it has none. Returns the token status."""
    svc = svc or TokenService(ctx)
    conn = ConnectionRepo(ctx).get(name)
    try:
        svc.set_api_key(conn.name, api_key)
    except TokenError as exc:
        field = "api_url" if exc.result in _URL_KINDS else "api_key"
        raise SetupError(exc.message, f"{exc.remedy} {_('The API key field keeps what you typed.')}".strip(),
                         field=field) from None
    if svc.status(conn).level == "missing":
        return svc.generate(conn.name)
    return svc.status(conn)


def check_reachable(conn: Connection, timeout: float = 15.0) -> str | None:
    """Whether the connection's SCIM endpoint answers HTTP at all (no token sent). Returns None when it does,
    else why not (for ``connections add`` without a key). The request carries a placeholder, not a token: any
    HTTP answer (401 included) means the endpoint is reachable."""
    with ScimClient(conn.scim_url or "", "reachability-check-no-token", timeout=timeout, verify=conn.verify_tls,
                    retry=PROBE_RETRY) as client:
        probe = client.probe()
    return probe_text(probe)[0] if probe.outcome in ("unreachable", "tls") else None


# -- the checklist -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    key: str  # keyring | connection | token | entra | graph | job | channel | daily
    title: str
    state: str  # done | todo | warning | optional | blocked
    detail: str  # the live state, in words
    where: str = ""  # the place in the app
    command: str = ""  # for those who prefer a shell

    @property
    def done(self) -> bool:
        return self.state == "done"


#: the steps' titles (marked for translation: ``_(STEP_TITLES[key])``; ``Step.title`` is already translated)
STEP_TITLES = {
    "keyring": N_("A safe place for secrets"),
    "connection": N_("Your tenant and its API key"),
    "token": N_("The long-lived token"),
    "entra": N_("The token in Entra"),
    "graph": N_("Microsoft Graph (optional)"),
    "job": N_("The provisioning job"),
    "channel": N_("A reminder channel"),
    "daily": N_("The daily reminder job"),
}


def _title(key: str) -> str:
    return _(STEP_TITLES[key])


def keyring_step(ctx: Context) -> Step:
    creds = ctx.credentials
    info = creds.backend_info()
    title = _title("keyring")
    if not info.secure:
        return Step("keyring", title, "blocked", _("No safe place for secrets: {keyring}.").format(keyring=info.label),
                    "", info.remedy)
    if info.locked:
        if not creds.keyring_created():
            return Step("keyring", title, "todo",
                        _("The encrypted keyring is not created yet ({path}). Choose a passphrase of {rule}, typed "
                          "twice.").format(path=creds.file_path, rule=passphrase_rule()),
                        _("Set up a tenant > this step, or Connection & token (top)"),
                        _("any command that stores a secret asks for it (typed twice)"))
        return Step("keyring", title, "todo", _("The encrypted keyring ({path}) is locked.").format(path=creds.file_path),
                    _("Set up a tenant > this step, or Connection & token (top): type its passphrase"),
                    _("SCIM_CONSOLE_KEYRING_PASSPHRASE=… in the environment of scheduled commands"))
    if not info.persistent:
        return Step("keyring", title, "warning",
                    _("{keyring}: a real tenant's API key would be lost at the next start.").format(keyring=info.label),
                    "", _("stop the app and start it with SCIM_CONSOLE_KEYRING=cryptfile python -m console app (or "
                          "use a desktop keyring)"))
    return Step("keyring", title, "done", (_("{keyring}: unlocked.") if creds.file_path else
                                           _("{keyring}.")).format(keyring=info.label))


def _real_connection(ctx: Context, conn: Connection | None) -> Connection | None:
    if conn is not None and not conn.is_demo:
        return conn
    return next((c for c in ConnectionRepo(ctx.store).list() if not c.is_demo), None)


def _utc(at: datetime) -> str:
    return fmt_datetime(at.astimezone(UTC), zone="UTC")


def checklist(ctx: Context, conn: Connection | None, *, now: datetime | None = None,
              fmt: Callable[[datetime], str] = _utc) -> list[Step]:
    """The steps from the demo to a real tenant that is healthy and reminded, each with its live state, for
    ``conn`` (or, when that is the demo or None, the first real connection). ``fmt`` words a time (the app
    passes the operator's zone; the default is UTC). Titles and texts are in the current language."""
    now = now or ctx.now()
    conn = _real_connection(ctx, conn)
    steps = [keyring_step(ctx)]
    add_where = _("Connection & token > Add a connection")
    add_command = ("printf '%s' \"$KEY\" | python -m console connections add NAME --api-url "
                   "https://api-au.6clicks.io --stdin")
    if conn is None:
        steps.append(Step("connection", _title("connection"), "todo",
                          _("No tenant yet. Its API base URL (e.g. https://api-au.6clicks.io) and the API key of a "
                            "dedicated 6clicks user with the six SCIM permissions; both are checked before saving."),
                          add_where, add_command))
        for key in ("token", "entra", "graph", "job", "channel", "daily"):
            steps.append(Step(key, _title(key), "blocked", _("After your tenant is added.")))
        return steps
    svc = TokenService(ctx)
    health = connection_health(ctx, conn, deep=True)
    if health.state == "incomplete":
        where, command = split_fix(health.next_step)
        steps.append(Step("connection", _title("connection"), "todo", health.message, where, command))
    else:
        steps.append(Step("connection", _title("connection"), "done",
                          _("{name}: {api_url} (SCIM {scim_url}).").format(name=conn.name, api_url=conn.api_url,
                                                                           scim_url=conn.scim_url)))
    status = svc.status(conn)
    if status.level == "missing":
        steps.append(Step("token", _title("token"), "todo", _("No token yet."),
                          _("Connection & token > Token > Generate token"),
                          f"python -m console token generate --connection {cli_name(conn.name)}"))
    elif status.level in ("expired", "rejected"):
        steps.append(Step("token", _title("token"), "todo", status.message,
                          _("Connection & token > Token > Rotate token") if conn.auth_mode == "6clicks-api-key"
                          else _("Connection & token > Token > Import a token"),
                          split_fix(status.remedy)[1]))
    else:
        state = "done" if status.level in ("ok", "notice") else "warning"
        steps.append(Step("token", _title("token"), state, status.message))
    token_ready = status.level not in ("missing", "expired", "rejected")
    can_push = conn.entra is not None and conn.entra.can_manage_job
    if not token_ready:
        steps.append(Step("entra", _title("entra"), "blocked", _("After the token is generated.")))
    else:
        how = in_entra(svc, conn)
        if how:
            steps.append(Step("entra", _title("entra"), "done",
                              _("Pushed through Microsoft Graph and validated by Entra.") if how == "pushed" else
                              _("You confirmed Entra has this token (Test Connection succeeded).")))
        else:
            steps.append(Step("entra", _title("entra"), "todo",
                              _("Entra needs this token …{fingerprint}: Admin Credentials > Tenant URL {tenant_url} "
                                "and Secret Token.").format(fingerprint=status.fingerprint,
                                                            tenant_url=conn.tenant_url)
                              + (_(" Graph is configured: push it.") if can_push else ""),
                              _("Set up a tenant > this step, or Connection & token > Token"),
                              f"python -m console token reveal --connection {cli_name(conn.name)}"))
    entra = conn.entra
    has_client_secret: bool | None  # None: the keyring cannot be read
    try:
        has_client_secret = bool(entra and ctx.credentials.get(conn.name, "graph_client_secret"))
    except ConsoleError:
        has_client_secret = None
    graph_where = _("Connection & token > Microsoft Graph")
    if entra is None:
        steps.append(Step("graph", _title("graph"), "optional",
                          _("Not configured. With it the console reads provisioning logs and job health, alerts on "
                            "failures and quarantine, and pushes new tokens into Entra."), graph_where,
                          f"python -m console connections edit {cli_name(conn.name)} --tenant-id … --client-id … "
                          "--service-principal-id …"))
    elif has_client_secret is False:
        steps.append(Step("graph", _title("graph"), "todo", _("The app registration's client secret is not stored."),
                          graph_where, f"python -m console connections graph-secret {cli_name(conn.name)} --stdin"))
    else:
        steps.append(Step("graph", _title("graph"), "done" if has_client_secret else "todo",
                          _("Tenant {tenant}, app {client}.").format(tenant=entra.tenant_id, client=entra.client_id)
                          + ("" if has_client_secret else
                             _(" The keyring is locked: its client secret cannot be read."))))
    if entra is None:
        steps.append(Step("job", _title("job"), "optional", _("Needs Microsoft Graph.")))
    elif not entra.service_principal_id:
        steps.append(Step("job", _title("job"), "todo",
                          _("The service principal's object id is missing (Entra admin center > Enterprise "
                            "applications > the app > Overview > Object ID)."), graph_where,
                          f"python -m console connections edit {cli_name(conn.name)} --service-principal-id …"))
    elif not entra.job_id:
        steps.append(Step("job", _title("job"), "todo",
                          _("Not found yet: Find the job reads it from the service principal."),
                          _("Connection & token > Microsoft Graph > Find the job"),
                          f"python -m console connections find-job {cli_name(conn.name)}"))
    else:
        steps.append(Step("job", _title("job"), "done", _("Job {job}.").format(job=entra.job_id)))
    try:
        channels = describe_channels(ctx, conn)
    except ConsoleError as exc:
        steps.append(Step("channel", _title("channel"), "blocked",
                          _("Cannot be read: {error}").format(error=exc.message), _("Unlock the keyring first")))
    else:
        tested_last = last_test(ctx, conn)
        tested = ""
        if tested_last:
            try:
                tested_at = fmt(datetime.fromisoformat(str(tested_last["at"])))
            except (KeyError, ValueError):
                tested_at = _("at an unknown time")
            tested = (_(" Last Send test {when}: delivered.") if tested_last.get("ok") else
                      _(" Last Send test {when}: failed.")).format(when=tested_at)
        if channels:
            steps.append(Step("channel", _title("channel"), "done" if tested_last and tested_last.get("ok")
                              else "warning",
                              _("{channels}.").format(channels=pgettext("list separator", ", ").join(
                                  c["description"] for c in channels))
                              + (tested or _(" Not tested yet: use Send test.")), _("Connection & token > Reminders")))
        else:
            steps.append(Step("channel", _title("channel"), "todo",
                              _("No channel: reminders would only show in the app. An apprise URL (Teams, Slack, "
                                "e-mail, a webhook…)."), _("Connection & token > Reminders"),
                              f"python -m console token notify-urls set --connection {cli_name(conn.name)} --stdin"))
    runs = last_runs(ctx)
    cli_run = runs.get("cli")
    app_run = runs.get("app")
    line = cron_line(ctx)
    app_text = (_(" While the app runs it also sends due reminders itself (last check {when}).").format(
                    when=fmt(app_run)) if app_run else
                _(" While the app runs it also sends due reminders itself."))
    if cli_run and now - cli_run <= DAILY_JOB_FRESH:
        steps.append(Step("daily", _title("daily"), "done",
                          _("Last run from the command line {when}.").format(when=fmt(cli_run)) + app_text, "", line))
    else:
        steps.append(Step("daily", _title("daily"), "todo",
                          (_("No run from cron in the last 36 hours.") if cli_run else _("Not seen running yet."))
                          + _(" Add the line below to the crontab of the user running the console (crontab -e).")
                          + app_text, _("Set up a tenant > this step"), line))
    return steps


def progress(steps: list[Step]) -> tuple[int, int]:
    """(done, counted): Microsoft Graph and its job count only once Graph is configured, so that the total does
    not change while the admin works through the other steps."""
    counted = [s for s in steps if s.key not in ("graph", "job") or s.state not in ("optional", "blocked")]
    return sum(1 for s in counted if s.done), len(counted)


def next_step(steps: list[Step]) -> Step | None:
    """The first step still to do (not optional, not blocked behind another)."""
    return next((s for s in steps if s.state in ("todo", "warning")), None)

