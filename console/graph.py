"""Microsoft Graph for one connection's enterprise app: provisioning logs, the provisioning job, secrets.

Client-credentials sign-in (the token is cached in memory until shortly before it expires), configurable login
and Graph base URLs (the sandbox serves its own), ``@odata.nextLink`` paging, retries under scim_client's
``RetryPolicy`` (``GRAPH_RETRY``: 429 and 502-504 for GETs, PUTs and the requests that are safe to repeat,
``Retry-After`` in seconds or as an HTTP date, a time budget; a POST that was sent is never sent again by
itself), and ``GraphError`` with the Graph error code, a message and a remedy that names the missing application
permission on 403. The client secret and the access token never
appear in messages, logs or ``repr()``; the bearer token is only sent to the Graph host. Every answer is read up
to ``MAX_RESPONSE_BYTES``, and a listing that links back to a page it served is stopped.

Over 500 lines because it is one client: the sign-in, the retry policy, the bounded reads and the paging rules are
shared by every call that follows (logs, job, secrets, directory); split, one HTTP policy would live in several
files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from console.connections import Connection
from console.context import Context
from console.errors import ConsoleError
from console.graph_permissions import GRAPH_PERMISSIONS as GRAPH_PERMISSIONS
from console.graph_permissions import PERM_DIRECTORY as PERM_DIRECTORY
from console.graph_permissions import PERM_LOGS as PERM_LOGS
from console.graph_permissions import PERM_READ as PERM_READ
from console.graph_permissions import PERM_WRITE as PERM_WRITE
from console.graph_permissions import FeaturePermissions as FeaturePermissions
from console.graph_permissions import permissions_for as permissions_for
from console.graph_permissions import permissions_lines as permissions_lines
from console.graph_permissions import shown_permissions
from console.i18n import N_, _, count
from scim_client import RetryPolicy, failure_kind

log = logging.getLogger(__name__)

SCOPE = "https://graph.microsoft.com/.default"
# The SCIM client's rules (429, 502-504; as Microsoft's own Graph SDKs, not 500), with longer waits: Graph
# throttles for longer. A wait that would end more than two minutes after the first attempt is not started.
GRAPH_RETRY = RetryPolicy(max_retries=4, budget_seconds=120.0, backoff_base=0.5, backoff_cap=30.0)


class GraphError(ConsoleError):
    """A Graph call failed: one of the console's errors, so pages and the CLI show it like any other.
    ``code`` is Graph's error code (or an HTTP/transport summary), ``status`` the HTTP status when Graph answered,
    ``permission`` the application permission the call needs when Graph refused it (403). Raised with its
    message and remedy in the current language; ``what`` (what the client was doing, an infinitive marked with
    ``N_`` by the caller, or already translated) is translated where it is worded in."""

    def __init__(self, message: str, remedy: str = "", *, code: str = "", status: int | None = None,
                 permission: str | None = None) -> None:
        super().__init__(message, remedy)
        self.code = code
        self.status = status
        self.permission = permission


MAX_RESPONSE_BYTES = 64 * 2**20  # the largest Graph answer read (a page of 999 objects is a few MB)


def _not_again(url: str, seen: set[str], what: str) -> None:
    """A listing that links back to a page it already served would never end (and fill memory with repeats)."""
    if url in seen:
        raise GraphError(_("Graph sent the same next-page link twice while trying to {what}.").format(what=_(what)),
                         _("Try again later; if it persists, report it: the listing goes round in a loop."),
                         code="PagingLoop")
    seen.add(url)


def _graph_error_fields(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")[:300]
    if isinstance(error, str):  # the token endpoint answers {"error": "invalid_client", "error_description": ...}
        return error, str(body.get("error_description") or "")[:300]
    return "", ""


class GraphClient:
    """One app registration's view of Graph. Thread-safe; close it (or use it as a context manager)."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        graph_base_url: str = "https://graph.microsoft.com/v1.0",
        login_base_url: str = "https://login.microsoftonline.com",
        service_principal_id: str = "",
        job_id: str = "",
        timeout: float = 30.0,
        max_retries: int = 4,
        verify: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy = GRAPH_RETRY,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.__secret = client_secret
        self.graph_base_url = graph_base_url.rstrip("/")
        self.login_base_url = login_base_url.rstrip("/")
        self.service_principal_id = service_principal_id
        self.job_id = job_id
        self.retry = retry if max_retries == retry.max_retries else replace(retry, max_retries=max_retries)
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)
        self.max_response_bytes = MAX_RESPONSE_BYTES
        self._lock = threading.Lock()
        self.__token: str | None = None
        self._token_expires = 0.0
        self._graph_host = urlsplit(self.graph_base_url).netloc.lower()

    def __repr__(self) -> str:
        return f"GraphClient(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, graph={self.graph_base_url!r})"

    @classmethod
    def for_connection(cls, ctx: Context, conn: Connection, *, max_retries: int = GRAPH_RETRY.max_retries,
                       sleep: Callable[[float], None] = time.sleep, retry: RetryPolicy = GRAPH_RETRY) -> GraphClient:
        """A client for ``conn``'s Entra settings, with its client secret from the keyring."""
        if conn.entra is None:
            raise GraphError(_("Connection {name!r} has no Entra (Microsoft Graph) settings.").format(name=conn.name),
                             _("Add the tenant id, client id, service principal id and job id of the app "
                               "registration (python -m console connections add/edit), then store its client "
                               "secret."),
                             code="NotConfigured")
        secret = ctx.credentials.get(conn.name, "graph_client_secret")
        if not secret and conn.is_demo:
            raise GraphError(_("The demo's Graph client secret lives only in the app that started it, so a command "
                               "run on its own cannot read Entra for connection {name!r}.").format(name=conn.name),
                             _("Use the app's pages for the demo's Entra side (a reconciliation: Directory > "
                               "Reconcile); commands read Entra for the connections you add."),
                             code="NoClientSecret")
        if not secret:
            raise GraphError(_("No Graph client secret is stored for connection {name!r}.").format(name=conn.name),
                             _("Store it with: python -m console connections graph-secret {name!r} --stdin").format(
                                 name=conn.name),
                             code="NoClientSecret")
        e = conn.entra
        return cls(tenant_id=e.tenant_id, client_id=e.client_id, client_secret=secret,
                   graph_base_url=e.graph_base_url, login_base_url=e.login_base_url,
                   service_principal_id=e.service_principal_id, job_id=e.job_id,
                   verify=conn.verify_tls, max_retries=max_retries, sleep=sleep, retry=retry)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sign-in ----------------------------------------------------------------------------------------
    def _access_token(self, force: bool = False) -> str:
        with self._lock:
            if not force and self.__token and time.monotonic() < self._token_expires - 60:
                return self.__token
            url = f"{self.login_base_url}/{quote(self.tenant_id, safe='')}/oauth2/v2.0/token"
            data = {"client_id": self.client_id, "client_secret": self.__secret, "scope": SCOPE,
                    "grant_type": "client_credentials"}
            # a token request changes nothing: safe to send again
            response = self._send("POST", url, what=N_("sign in to Microsoft Entra"), data=data, auth=False,
                                  idempotent=True)
            try:
                body = response.json()
                token = body["access_token"]
                expires_in = float(body.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError):
                raise GraphError(_("The Entra sign-in endpoint answered without an access token."),
                                 _("Check the login base URL and tenant id."), code="BadTokenResponse") from None
            self.__token = str(token)
            self._token_expires = time.monotonic() + expires_in
            return self.__token

    # -- HTTP with retries ------------------------------------------------------------------------------
    def _send(self, method: str, url: str, *, what: str, permission: str = "", auth: bool = True,
              json: Any = None, data: dict[str, str] | None = None, params: dict[str, str] | None = None,
              idempotent: bool | None = None) -> httpx.Response:
        """One Graph call under ``self.retry``; ``idempotent`` overrides the method's rule (True for requests
        that are safe to repeat although they are POSTs)."""
        if auth and urlsplit(url).netloc.lower() != self._graph_host:
            raise GraphError(_("Graph sent a link to another host ({host}) while trying to {what}.").format(
                                 host=urlsplit(url).netloc, what=_(what)),
                             _("Check the Graph base URL; the console only sends its token to that host."),
                             code="ForeignLink")
        policy = self.retry
        attempts = policy.start(sleep=self._sleep)
        refreshed = False
        while True:
            headers = {"Accept": "application/json"}
            if auth:
                headers["Authorization"] = f"Bearer {self._access_token()}"
            attempts.attempted()
            try:
                response = self._bounded(method, url, headers=headers, json=json, data=data, params=params,
                                         what=what)
            except httpx.HTTPError as exc:
                kind = failure_kind(exc)
                if policy.retries_failure(kind, method, idempotent):
                    delay = attempts.next_wait()
                    if delay is not None:
                        log.info("%s to %s: %s (%s); retrying in %.2f s", method, what, kind,
                                 type(exc).__name__, delay)
                        attempts.wait(delay)
                        continue
                host = urlsplit(url).netloc
                if kind == "tls":
                    raise GraphError(_("TLS to {host} failed while trying to {what}.").format(host=host, what=_(what)),
                                     _("Check the URL and the certificate (or a TLS-inspecting proxy's CA)."),
                                     code="TLS") from None
                # sent, so maybe received: a failure the policy would retry if the request were idempotent, and
                # does not because it is not
                unsure = (policy.retries_failure(kind, method, idempotent=True)
                          and not policy.retries_failure(kind, method, idempotent))
                tries = attempts.count
                raise GraphError(_("Could not reach {host} to {what} ({kind}, after {attempts}).").format(
                                     host=host, what=_(what), kind=kind,
                                     attempts=count(tries, "{n} attempt", "{n} attempts"))
                                 + (_(" The request may have reached Graph before the connection broke, so it was "
                                      "not sent again.") if unsure else ""),
                                 (_("Check whether it took effect before repeating it; if the network is the "
                                    "problem, check it, the proxy and the Graph/login base URLs.") if unsure else
                                  _("Check the network, proxy and the Graph/login base URLs, then try again.")),
                                 code="Unreachable") from None
            status = response.status_code
            if policy.retries_status(status, method, idempotent):
                retry_after = policy.retry_after(response.headers.get("Retry-After"), response.headers.get("Date"))
                delay = attempts.next_wait(retry_after, status)
                if delay is not None:
                    log.info("%s to %s: HTTP %d; retrying in %.2f s", method, what, status, delay)
                    attempts.wait(delay)
                    continue
            if status == 401 and auth and not refreshed:  # token expired early or was revoked: sign in again
                refreshed = True
                self._access_token(force=True)
                continue
            if status >= 400:
                raise self._error(response, what, permission, auth)
            return response

    def _bounded(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """The response, its body read up to ``max_response_bytes`` (decoded): memory is bounded by the console,
        not by what a server claims or sends. A Graph page holds at most 999 objects, a few megabytes."""
        request = self._http.build_request(method, url, **kwargs)
        response = self._http.send(request, stream=True)
        try:
            declared = response.headers.get("Content-Length", "")
            too_large = declared.isdigit() and int(declared) > self.max_response_bytes
            body = bytearray()
            for chunk in () if too_large else response.iter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    too_large = True
                    break
            if too_large:
                raise GraphError(_("Graph answered with more than {size} while trying to {what}; the console does "
                                   "not read that much.").format(size=f"{self.max_response_bytes // 2**20} MB",
                                                                 what=_(what)),
                                 _("Check the Graph base URL: Microsoft Graph pages are a few megabytes."),
                                 code="TooLarge", status=response.status_code)
        finally:
            response.close()
        kept = [(k, v) for k, v in response.headers.multi_items()
                if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=kept, content=bytes(body), request=request)

    def _error(self, response: httpx.Response, what: str, permission: str, auth: bool) -> GraphError:
        status = response.status_code
        code, message = _graph_error_fields(response)
        detail = f" ({code}: {message})" if code or message else ""
        doing = _(what)
        if not auth and status in (400, 401):
            return GraphError(
                _("Entra refused the app's sign-in (HTTP {status}){detail}.").format(status=status, detail=detail),
                _("The client secret is wrong or has expired, or the tenant id / client id is wrong: create a new "
                  "client secret under App registrations > the app > Certificates & secrets, and store it again."),
                code=code or "invalid_client", status=status)
        if status == 401:
            return GraphError(_("Graph rejected the app's token while trying to {what}{detail}.").format(
                                  what=doing, detail=detail),
                              _("The client secret may be wrong or expired; store a new one and try again."),
                              code=code or "Unauthorized", status=status)
        if status == 403:
            remedy = (_("Grant the application permission {permission} to the app (API permissions > Add > Microsoft "
                        "Graph > Application permissions), then 'Grant admin consent'.").format(
                          permission=shown_permissions(permission))
                      if permission else
                      _("Grant the needed application permission to the app (API permissions > Add > Microsoft "
                        "Graph > Application permissions), then 'Grant admin consent'."))
            return GraphError(
                _("The app registration lacks permission to {what} (HTTP 403){detail}.").format(what=doing,
                                                                                                detail=detail),
                remedy, code=code or "Forbidden", status=status, permission=permission or None)
        if status == 404:
            return GraphError(_("Graph found nothing to {what} (HTTP 404){detail}.").format(what=doing, detail=detail),
                              _("Check the service principal id and job id of the enterprise app."),
                              code=code or "NotFound", status=status)
        if status == 429:
            return GraphError(_("Graph kept throttling requests to {what} (HTTP 429).").format(what=doing),
                              _("Wait a few minutes and try again."), code=code or "TooManyRequests", status=status)
        return GraphError(_("Graph failed to {what} (HTTP {status}){detail}.").format(what=doing, status=status,
                                                                                     detail=detail),
                          _("Try again later; if it persists, check Microsoft's service health."),
                          code=code or f"HTTP{status}", status=status)

    def _get_json(self, url: str, *, what: str, permission: str, params: dict[str, str] | None = None) -> Any:
        response = self._send("GET", url, what=what, permission=permission, params=params)
        try:
            return response.json()
        except ValueError:
            raise GraphError(_("Graph answered in something other than JSON while trying to {what}.").format(
                                 what=_(what)),
                             _("Check the Graph base URL."), code="BadResponse", status=response.status_code) from None

    def iter_pages(self, path: str, *, what: str, permission: str, params: dict[str, str] | None = None,
                   max_pages: int = 10_000) -> Iterator[dict[str, Any]]:
        """Every page of a Graph collection, following ``@odata.nextLink`` (on the Graph host only: ``_send``
        refuses a link elsewhere). Each page is yielded whole, so a caller reads ``value`` and, on the last page
        of a delta query, ``@odata.deltaLink``. A page that is not a JSON object with a ``value`` list raises:
        a reconciliation must never go on with part of a directory."""
        url: str | None = path if path.startswith(("http://", "https://")) else f"{self.graph_base_url}/{path}"
        seen: set[str] = set()
        for _page in range(max_pages):
            if url is None:
                return
            _not_again(url, seen, what)
            page = self._get_json(url, what=what, permission=permission, params=params)
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise GraphError(_("Graph answered a page without a list of values while trying to {what}.").format(
                                     what=_(what)),
                                 _("Try again; if it persists, the Graph base URL may not be Microsoft Graph."),
                                 code="BadResponse")
            yield page
            link = page.get("@odata.nextLink")
            url = link if isinstance(link, str) and link else None
            params = None  # the link carries the query
        raise GraphError(_("Graph kept sending more pages ({pages}) while trying to {what}.").format(
                             pages=max_pages, what=_(what)),
                         _("Try again later; if it persists, report it: the listing does not end."),
                         code="TooManyPages")

    # -- provisioning logs ------------------------------------------------------------------------------
    def iter_provisioning_logs(self, since: datetime | None = None, filter: str | None = None,
                               top: int | None = None, max_pages: int | None = None) -> Iterator[dict[str, Any]]:
        """Yield provisioningObjectSummary dicts (newest first as Graph returns them), following nextLink (at most
        ``max_pages`` pages when given; a link served twice ends the listing with an error)."""
        clauses = []
        if since is not None:
            when = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            clauses.append(f"activityDateTime gt {when}")
        if filter:
            clauses.append(f"({filter})" if clauses else filter)
        query: dict[str, str] = {}
        if clauses:
            query["$filter"] = " and ".join(clauses)
        if top:
            query["$top"] = str(top)
        params: dict[str, str] | None = query or None
        url: str | None = f"{self.graph_base_url}/auditLogs/provisioning"
        what = N_("read the provisioning logs")
        seen: set[str] = set()
        while url and (max_pages is None or len(seen) < max_pages):
            _not_again(url, seen, what)
            page = self._get_json(url, what=what, permission=permissions_for("logs"), params=params)
            yield from page.get("value", []) if isinstance(page, dict) else []
            link = page.get("@odata.nextLink") if isinstance(page, dict) else None
            if link is not None and not isinstance(link, str):
                raise GraphError(
                    _("Graph answered with a next-page link that is not a URL while trying to {what}.").format(
                        what=_(what)),
                    _("Check the Graph base URL."), code="BadResponse")
            url = link
            params = None  # nextLink carries the query

    # -- the provisioning job ---------------------------------------------------------------------------
    def _sp(self) -> str:
        if not self.service_principal_id:
            raise GraphError(_("The enterprise app's service principal id is not configured."),
                             _("Add it to the connection's Entra settings (Enterprise applications > the app > "
                               "Overview > Object ID)."), code="NotConfigured")
        return f"{self.graph_base_url}/servicePrincipals/{quote(self.service_principal_id, safe='')}/synchronization"

    def _job(self, job_id: str | None) -> str:
        job = job_id or self.job_id
        if not job:
            raise GraphError(_("The provisioning job id is not configured."),
                             _("Find it on Connection & token > Microsoft Graph > Find the job (it is read from the "
                               "service principal), or: python -m console connections find-job NAME."),
                             code="NotConfigured")
        return f"{self._sp()}/jobs/{quote(job, safe='')}"

    def list_jobs(self) -> list[dict[str, Any]]:
        body = self._get_json(f"{self._sp()}/jobs", what=N_("list the provisioning jobs"),
                              permission=permissions_for("job"))
        jobs = body.get("value", []) if isinstance(body, dict) else []
        return [j for j in jobs[:100] if isinstance(j, dict)] if isinstance(jobs, list) else []

    def get_job(self, job_id: str | None = None) -> dict[str, Any]:
        body = self._get_json(self._job(job_id), what=N_("read the provisioning job"), permission=permissions_for("job"))
        return body if isinstance(body, dict) else {}

    def get_schema(self, job_id: str | None = None) -> dict[str, Any]:
        """The job's synchronizationSchema: its rules, object mappings and attribute mappings."""
        body = self._get_json(f"{self._job(job_id)}/schema", what=N_("read the provisioning job's attribute mappings"),
                              permission=permissions_for("job"))
        return body if isinstance(body, dict) else {}

    def put_secrets(self, base_address: str, token: str) -> None:
        """Give Entra a new Tenant URL + Secret Token (what the admin center's Admin Credentials do)."""
        body = {"value": [{"key": "BaseAddress", "value": base_address}, {"key": "SecretToken", "value": token}]}
        self._send("PUT", f"{self._sp()}/secrets", what=N_("update the provisioning credentials"),
                   permission=permissions_for("write"), json=body)

    def validate_credentials(self, base_address: str | None = None, token: str | None = None,
                             job_id: str | None = None) -> None:
        """Ask Entra to test credentials against the SCIM endpoint (like 'Test Connection'); raises on failure."""
        credentials = []
        if base_address:
            credentials.append({"key": "BaseAddress", "value": base_address})
        if token:
            credentials.append({"key": "SecretToken", "value": token})
        self._send("POST", f"{self._job(job_id)}/validateCredentials", what=N_("validate the provisioning credentials"),
                   permission=permissions_for("write"), json={"credentials": credentials},
                   idempotent=True)  # a test: repeatable

    def restart(self, scope: str = "Watermark, Escrows, QuarantineState", job_id: str | None = None) -> None:
        self._send("POST", f"{self._job(job_id)}/restart", what=N_("restart the provisioning job"),
                   permission=permissions_for("write"), json={"criteria": {"resetScope": scope}})

    def start(self, job_id: str | None = None) -> None:
        self._send("POST", f"{self._job(job_id)}/start", what=N_("start the provisioning job"), permission=permissions_for("write"))

    def pause(self, job_id: str | None = None) -> None:
        self._send("POST", f"{self._job(job_id)}/pause", what=N_("pause the provisioning job"), permission=permissions_for("write"))

    def provision_on_demand(self, object_id: str, *, rule_id: str, object_type: str = "User",
                            members: list[str] | None = None, job_id: str | None = None) -> dict[str, Any]:
        subject: dict[str, Any] = {"objectId": object_id, "objectTypeName": object_type}
        if members:
            subject["links"] = {"members": [{"objectId": m, "objectTypeName": "User"} for m in members]}
        body = {"parameters": [{"ruleId": rule_id, "subjects": [subject]}]}
        response = self._send("POST", f"{self._job(job_id)}/provisionOnDemand", what=N_("provision on demand"),
                              permission=permissions_for("write"), json=body)
        try:
            return response.json() if response.content else {}
        except ValueError:
            return {}


# -- set-up helpers: discovering the provisioning job, checking what the app registration may do ----------------
@dataclass(frozen=True)
class JobChoice:
    """A provisioning job found on the service principal (Graph's words, bounded; shown as text)."""

    id: str
    template: str
    status: str
    schedule: str

    @property
    def is_scim(self) -> bool:
        return self.template.lower() == "scim" or self.id.lower().startswith("scim.")


def _text(value: Any, limit: int = 200) -> str:
    return str(value or "")[:limit]


def find_jobs(client: GraphClient) -> list[JobChoice]:
    """The provisioning jobs of ``client``'s service principal, custom-SCIM jobs first
    (``GET /servicePrincipals/{id}/synchronization/jobs``; needs Synchronization.Read.All)."""
    found = []
    for job in client.list_jobs():
        status, schedule = job.get("status"), job.get("schedule")
        status = status if isinstance(status, dict) else {}
        schedule = schedule if isinstance(schedule, dict) else {}
        if job.get("id"):
            found.append(JobChoice(_text(job.get("id")), _text(job.get("templateId")), _text(status.get("code")),
                                   _text(schedule.get("state"))))
    return sorted(found, key=lambda j: (not j.is_scim, j.id))


def discover_job_id(client: GraphClient) -> str:
    """The one custom-SCIM provisioning job of the service principal; ``GraphError`` when there is none or
    more than one (the caller lets the admin choose among ``find_jobs``)."""
    jobs = find_jobs(client)
    scim = [j for j in jobs if j.is_scim]
    if len(scim) == 1:
        return scim[0].id
    if not jobs:
        raise GraphError(_("The service principal has no provisioning job."),
                         _("In the Entra admin center open Enterprise applications > the app > Provisioning, set the "
                           "mode to Automatic and save; then find the job again."), code="NoJob")
    raise GraphError(_("The service principal has {jobs}; choose one.").format(
                         jobs=count(len(scim) or len(jobs), "{n} provisioning job", "{n} provisioning jobs")),
                     _("Pick the job of the 6clicks SCIM app (its id starts with 'scim.')."), code="SeveralJobs")


@dataclass(frozen=True)
class AccessCheck:
    """Whether the app registration can use one feature of ``GRAPH_PERMISSIONS``: ok / missing / error /
    not-checked (a write permission is only proven by a write). ``feature`` and ``message`` are in the language
    of the check."""

    key: str
    feature: str
    permissions: str
    state: str
    message: str = ""


def check_access(client: GraphClient) -> list[AccessCheck]:
    """Sign in, read one provisioning-log record and the job list: what works, feature by feature (no writes)."""
    checks: list[AccessCheck] = []
    try:
        client._access_token()
    except GraphError as exc:
        return [AccessCheck(p.key, _(p.feature), p.shown, "error", str(exc)) for p in GRAPH_PERMISSIONS]

    def attempt(key: str, call: Callable[[], object]) -> None:
        entry = next(p for p in GRAPH_PERMISSIONS if p.key == key)
        try:
            call()
        except GraphError as exc:
            state = "missing" if exc.status == 403 else "error"
            checks.append(AccessCheck(key, _(entry.feature), entry.shown, state, str(exc)))
            return
        checks.append(AccessCheck(key, _(entry.feature), entry.shown, "ok"))

    attempt("logs", lambda: next(iter(client.iter_provisioning_logs(top=1)), None))
    attempt("job", client.list_jobs)
    attempt("directory", lambda: next(iter(client.iter_pages(
        f"servicePrincipals/{quote(client.service_principal_id, safe='')}/appRoleAssignedTo",
        what=N_("read the app's assignments"), permission=permissions_for("directory"), params={"$top": "1"})), None))
    entry = GRAPH_PERMISSIONS[-1]
    checks.append(AccessCheck(entry.key, _(entry.feature), entry.shown, "not-checked",
                              _("Proven only by a write: the next token push tells.")))
    return checks
