"""ScimClient: the one way the console reads and changes a SCIM 2.0 service provider (6clicks or any other).

Over 500 lines because it is one class whose methods are the library's contract (docs/DESIGN.md), each a few
lines; the work lives beside it: paging.py, models.py, filters.py, patch.py, probe.py, retry.py, _http.py."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from . import filters, paging
from . import patch as patches
from ._http import TokenSource, Transport
from .errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    ProtocolError,
    ScimError,
    ServerError,
    snippet,
)
from .models import GROUP_SCHEMA, USER_SCHEMA, Listing, ScimGroup, ScimUser, parse_group, parse_user
from .probe import Probe
from .retry import RetryPolicy, count_attempts

log = logging.getLogger("scim_client")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MEMBER_BATCH = 100
# How much of a write's answer an Exchange keeps (for defect reports; redacted, one line).
ANSWER_LIMIT = 2000

# Where servers advertise their page size limit in ServiceProviderConfig (the first found wins).
_PAGE_HINTS = (
    ("pagination", "maxPageSize"),  # RFC 9865 cursor/index pagination extension
    ("filter", "maxResults"),  # RFC 7643 §5, the usual hint
    ("maxPageSize",),
    ("maxResults",),
    ("pageSize",),
    ("itemsPerPage",),
)


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        hit = obj.get(key)
        if hit is None:
            low = key.lower()
            hit = next((v for k, v in obj.items() if isinstance(k, str) and k.lower() == low), None)
        obj = hit
    return obj


def page_size_hint(config: dict[str, Any]) -> int | None:
    """The maximum page size a ServiceProviderConfig offers, if any."""
    for path in _PAGE_HINTS:
        value = _dig(config, path)
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if number > 0:
            return number
    for value in config.values():  # vendor extensions, e.g. {"urn:...:Pagination": {"maxPageSize": 200}}
        if isinstance(value, dict):
            for key in ("maxPageSize", "maxItemsPerPage", "pageSizeLimit"):
                try:
                    number = int(_dig(value, (key,)))
                except (TypeError, ValueError):
                    continue
                if number > 0:
                    return number
    return None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One write as sent and as answered, for reports when a server misbehaves. Holds no token: ``request`` is
    the JSON body sent (ids and values only) and ``answer`` the start of the answer's body, redacted, on one line
    ("" when there was none)."""

    method: str
    path: str  # relative to the SCIM base URL, e.g. "Groups/9f1c"
    request: dict[str, Any] | None
    status: int
    answer: str
    at: datetime


class ScimClient:
    """A SCIM 2.0 client with pooled connections, concurrent paging, retries and actionable errors.

    ``token`` is a bearer token, or a callable ``provider(refresh: bool = False) -> str``; on a 401 the
    client calls ``provider(refresh=True)`` once and repeats the request. Retries follow ``retry`` (a
    :class:`~scim_client.retry.RetryPolicy`), or one made from ``max_retries``, ``retry_budget_seconds`` and
    ``backoff_base``.
    """

    def __init__(
        self,
        scim_base_url: str,
        token: TokenSource,
        *,
        timeout: float = 30.0,
        max_concurrency: int = 8,
        max_retries: int = 4,
        retry_budget_seconds: float = 60.0,
        page_size: int | None = None,
        verify: bool | ssl.SSLContext = True,
        backoff_base: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        max_results: int = paging.MAX_RESULTS,
        max_list_requests: int = paging.MAX_REQUESTS,
        retry: RetryPolicy | None = None,
    ) -> None:
        base = (scim_base_url or "").strip().rstrip("/")
        if not base.lower().startswith(("http://", "https://")):
            raise ScimError(
                f"the SCIM base URL {base!r} is not an http(s) URL",
                remedy="Enter the full SCIM base URL, e.g. https://api-au.6clicks.io/scim",
                code="bad-scim-url",
                params={"url": base},
            )
        if token is None or (isinstance(token, str) and not token.strip()):
            raise ScimError("no access token given", remedy="Generate or paste an access token first.", code="no-token")
        self.base_url = base
        self.max_concurrency = max(1, int(max_concurrency))
        self.page_size = int(page_size) if page_size else None
        self.limits = paging.Limits(max_results=max(1, int(max_results)),
                                    max_requests=max(1, int(max_list_requests)))
        self.retry_policy = retry if retry is not None else RetryPolicy(
            max_retries=max(0, int(max_retries)),
            budget_seconds=float(retry_budget_seconds),
            backoff_base=float(backoff_base),
        )
        self._http = Transport(
            base,
            token,
            timeout=timeout,
            max_concurrency=self.max_concurrency,
            retry=self.retry_policy,
            verify=verify,
            transport=transport,
        )
        self._config: dict[str, Any] | None = None
        self._config_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ScimClient({self.base_url!r})"

    def __enter__(self) -> ScimClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- discovery -----------------------------------------------------------------------------------------
    def probe(self) -> Probe:
        """Does the token work against this SCIM base URL? One ``GET Users?startIndex=1&count=1`` (retried as
        any read), answered as a :class:`~scim_client.probe.Probe`: ``ok``, ``rejected`` (401), ``forbidden``
        (403, with the permission), ``not-scim`` (404, redirect, HTML, not a SCIM list), ``unreachable``,
        ``tls`` or ``error`` (429/5xx after the retries, other 4xx). Never raises a ScimError."""
        with count_attempts() as count:
            try:
                answer = self._http.request(
                    "GET", "Users", params={"startIndex": 1, "count": 1}, what="testing the token"
                )
                paging.read_list_response(answer.data, answer.status, parse_user)
            except ScimError as exc:
                exc.attempts = exc.attempts or count.attempts
                return Probe.from_error(exc, self.base_url)
        return Probe("ok", f"the SCIM service at {self.base_url} accepted the token", "", answer.status,
                     attempts=count.attempts, code="probe-ok", params={"url": self.base_url})

    def service_provider_config(self) -> dict[str, Any]:
        """The server's ServiceProviderConfig (cached after the first success)."""
        with self._config_lock:
            if self._config is None:
                answer = self._http.request("GET", "ServiceProviderConfig", what="ServiceProviderConfig")
                if not isinstance(answer.data, dict):
                    raise ProtocolError(
                        "the server did not answer in SCIM: ServiceProviderConfig is not a JSON object",
                        status=answer.status,
                        code="not-scim-config",
                    )
                self._config = answer.data
            return self._config

    def effective_page_size(self) -> int:
        """The page size to ask for: the configured one, else the server's advertised maximum, else 100."""
        if self.page_size:
            return self.page_size
        try:
            hint = page_size_hint(self.service_provider_config())
        except (NotFound, ProtocolError, ServerError, PermissionDenied, BadRequest) as exc:
            log.info("no usable ServiceProviderConfig (%s); paging by %d", exc.message, DEFAULT_PAGE_SIZE)
            hint = None
        size = min(hint, MAX_PAGE_SIZE) if hint else DEFAULT_PAGE_SIZE
        self.page_size = size
        return size

    # -- listing -------------------------------------------------------------------------------------------
    def _fetcher(
        self, resource: str, parse: Callable[[dict[str, Any]], Any], params: dict[str, Any]
    ) -> paging.PageFetcher:
        def fetch(start: int, count: int) -> paging.Page:
            query = {**params, "startIndex": start, "count": count}
            answer = self._http.request("GET", resource, params=query, what=f"listing {resource}")
            items, total = paging.read_list_response(answer.data, answer.status, parse)
            return paging.Page(items, total)

        return fetch

    def _list(
        self,
        resource: str,
        parse: Callable[[dict[str, Any]], Any],
        params: dict[str, Any],
        progress: paging.Progress,
    ) -> Listing:
        size = self.effective_page_size()
        outcome = paging.list_all(
            self._fetcher(resource, parse, params), size, self.max_concurrency, progress,
            limits=self.limits, what=resource.lower(),
        )
        return Listing(
            outcome.items,
            total_results=outcome.total,
            changed_during_listing=outcome.changed,
            warnings=outcome.warnings,
        )

    def list_users(
        self, *, filter: filters.Filter | str | None = None, progress: paging.Progress = None
    ) -> Listing[ScimUser]:
        """Every user (matching ``filter``), fetched concurrently. ``progress(done, total)`` per page."""
        return self._list("Users", parse_user, _filter_params(filter), progress)

    def iter_users(self, filter: filters.Filter | str | None = None) -> Iterator[ScimUser]:
        """Users page by page, lazily (for early exits; ``list_users`` is faster for everything)."""
        return paging.iterate(
            self._fetcher("Users", parse_user, _filter_params(filter)), self.effective_page_size(),
            limits=self.limits, what="users",
        )

    def iter_user_pages(
        self, *, filter: filters.Filter | str | None = None, progress: paging.Progress = None
    ) -> paging.PageStream[ScimUser]:
        """One listing pass of every user (matching ``filter``) as pages (``list[ScimUser]``) in index order,
        fetched concurrently with bounded memory (see :class:`scim_client.PageStream`), for callers that build
        their own result page by page. After the iteration the stream says whether the pass was consistent
        (``change_reasons``, ``complete``, ``total_results``, ``warnings``); make a new one to list again.
        ``list_users`` is this plus a second pass when the directory changed during the first."""
        return paging.PageStream(
            self._fetcher("Users", parse_user, _filter_params(filter)), self.effective_page_size(),
            self.max_concurrency, progress, limits=self.limits, what="users",
        )

    def list_groups(
        self,
        *,
        members: bool = True,
        filter: filters.Filter | str | None = None,
        progress: paging.Progress = None,
    ) -> Listing[ScimGroup]:
        return self._list("Groups", lambda d: parse_group(d, members), _group_params(members, filter), progress)

    def iter_group_pages(
        self,
        *,
        members: bool = True,
        filter: filters.Filter | str | None = None,
        progress: paging.Progress = None,
    ) -> paging.PageStream[ScimGroup]:
        """Like :meth:`iter_user_pages`, for groups (with their member ids unless ``members=False``)."""
        return paging.PageStream(
            self._fetcher("Groups", lambda d: parse_group(d, members), _group_params(members, filter)),
            self.effective_page_size(), self.max_concurrency, progress, limits=self.limits, what="groups",
        )

    # -- users ---------------------------------------------------------------------------------------------
    def get_user(self, user_id: str) -> ScimUser:
        answer = self._http.request("GET", f"Users/{_segment(user_id)}", what=f"user {user_id}")
        return parse_user(self._resource(answer.data, answer.status))

    def _find_one(
        self, resource: str, flt: filters.Filter, parse: Callable[[dict[str, Any]], Any], **extra: Any
    ) -> Any:
        params = {"filter": str(flt), "startIndex": 1, "count": 2, **extra}
        answer = self._http.request("GET", resource, params=params, what=f"search {resource}")
        items, _ = paging.read_list_response(answer.data, answer.status, parse)
        return items[0] if items else None

    def find_user(
        self, *, user_name: str | None = None, external_id: str | None = None, email: str | None = None
    ) -> ScimUser | None:
        """The user with this userName, externalId or e-mail (exactly one criterion), or None."""
        given = [
            (k, v)
            for k, v in (("userName", user_name), ("externalId", external_id), ("emails.value", email))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError("find_user takes exactly one of user_name=, external_id=, email=")
        attr, value = given[0]
        return self._find_one("Users", filters.eq(attr, value), parse_user)

    def create_user(
        self,
        user_name: str,
        *,
        email: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        external_id: str | None = None,
        active: bool = True,
        display_name: str | None = None,
    ) -> ScimUser:
        """Create a user. If the answer is lost (dropped connection, 429, 502-504), the user is looked up by
        userName/externalId before the create is sent again, so a retry never creates a duplicate."""
        if not user_name or not str(user_name).strip():
            raise ValueError("userName cannot be empty")
        body: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": user_name, "active": bool(active)}
        name = {k: v for k, v in (("givenName", given_name), ("familyName", family_name)) if v}
        if name:
            body["name"] = name
        if display_name:
            body["displayName"] = display_name
        if email:
            body["emails"] = [{"value": email, "type": "work", "primary": True}]
        if external_id:
            body["externalId"] = external_id

        def lookup() -> ScimUser | None:
            found = self.find_user(user_name=user_name)
            if found is None and external_id:
                found = self.find_user(external_id=external_id)
            return found

        return self._create("Users", body, "create_user", parse_user, lookup, f"user {user_name}")

    def _create(
        self,
        resource: str,
        body: dict[str, Any],
        operation: str,
        parse: Callable[[dict[str, Any]], Any],
        lookup: Callable[[], Any],
        what: str,
    ) -> Any:
        """POST under the retry policy's rules for a request that is not idempotent: the transport resends it
        only when it was never sent; after a transient failure (429, 502-504, a dropped or timed-out request)
        the resource is looked up, and the create sent again only when it is not there. Errors carry the number
        of POSTs made in ``.attempts``."""
        policy = self.retry_policy
        attempts = policy.start()
        sent = 0
        uncertain = False  # a previous attempt may have created it
        while True:
            try:
                answer = self._http.request(
                    "POST", resource, json=body, operation=operation, what=f"creating {what}"
                )
            except Conflict as exc:
                exc.attempts = sent = sent + exc.attempts
                if uncertain:
                    found = lookup()
                    if found is not None:
                        return found
                raise
            except ScimError as exc:
                exc.attempts = sent = sent + exc.attempts
                kind = exc.kind if isinstance(exc, ConnectionFailed) else None
                if not policy.resend_after_lookup(exc.status, kind):
                    raise
                delay = attempts.next_wait(getattr(exc, "retry_after", None), exc.status)
                if delay is None:
                    raise
                uncertain = uncertain or isinstance(exc, ConnectionFailed | ServerError)
                log.info("creating %s: %s; checking whether it exists before retrying", what, exc.message)
                attempts.wait(delay)
                found = lookup()
                if found is not None:
                    return found
                continue
            created = self._written_resource(answer)
            if created is None:  # 201 without the resource: read it back
                found = lookup()
                if found is None:
                    raise ProtocolError(
                        f"the server answered HTTP {answer.status} to the create without the new resource, and "
                        "it cannot be found",
                        status=answer.status,
                        code="create-lost",
                        params={"status": answer.status},
                    )
                return found
            return parse(created)

    def set_active(self, user_id: str, active: bool) -> ScimUser:
        """Enable or disable a user (PATCH replace active, a JSON boolean). Returns the user as the server
        answered it (200 with the resource), else as read back (200 without a body, 204). The caller checks
        ``.active``: a server may answer success without applying the change."""
        return self.patch_user(user_id, patches.set_active(bool(active)))

    def patch_user(self, user_id: str, body: dict[str, Any]) -> ScimUser:
        """Send a PatchOp body built with :mod:`scim_client.patch`; the user as answered, else read back."""
        answer, _ = self._write("PATCH", f"Users/{_segment(user_id)}", body, "edit_user", f"user {user_id}")
        found = self._written_resource(answer)
        if found is None:
            return self.get_user(user_id)
        return parse_user(found)

    def delete_user(self, user_id: str) -> None:
        self._http.request(
            "DELETE", f"Users/{_segment(user_id)}", operation="delete_user", what=f"user {user_id}"
        )

    # -- groups --------------------------------------------------------------------------------------------
    def get_group(self, group_id: str, members: bool = True) -> ScimGroup:
        params = None if members else {"excludedAttributes": "members"}
        answer = self._http.request(
            "GET", f"Groups/{_segment(group_id)}", params=params, what=f"group {group_id}"
        )
        return parse_group(self._resource(answer.data, answer.status), members)

    def find_group(
        self, *, display_name: str | None = None, external_id: str | None = None
    ) -> ScimGroup | None:
        given = [
            (k, v) for k, v in (("displayName", display_name), ("externalId", external_id)) if v is not None
        ]
        if len(given) != 1:
            raise ValueError("find_group takes exactly one of display_name=, external_id=")
        attr, value = given[0]
        return self._find_one("Groups", filters.eq(attr, value), lambda d: parse_group(d, True))

    def create_group(
        self, display_name: str, external_id: str | None = None, member_ids: Iterable[str] = ()
    ) -> ScimGroup:
        if not display_name or not str(display_name).strip():
            raise ValueError("a group name cannot be empty")
        body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": display_name}
        if external_id:
            body["externalId"] = external_id
        ids = list(member_ids)
        if ids:
            body["members"] = [{"value": str(i)} for i in ids]
        return self._create(
            "Groups",
            body,
            "create_group",
            lambda d: parse_group(d, True),
            lambda: self.find_group(display_name=display_name),
            f"group {display_name}",
        )

    def _patch_group(self, group_id: str, body: dict[str, Any], operation: str) -> tuple[Any, Exchange]:
        # Never with ``attributes``/``excludedAttributes``: some servers implement PATCH as read-modify-write and
        # apply them to the resource they read, so ``excludedAttributes=members`` wipes the group's members.
        return self._write("PATCH", f"Groups/{_segment(group_id)}", body, operation, f"group {group_id}")

    def add_members(
        self, group_id: str, user_ids: Iterable[str], *, per_request: int = MEMBER_BATCH
    ) -> list[Exchange]:
        """Add users to a group (PATCH add members, ``per_request`` per request, 100 by default). Returns what was
        sent and answered; the server's answer (200 with or without the group, or 204) is not trusted: read the
        group back to check (``get_group``), as the console's operations do."""
        ids = list(dict.fromkeys(str(i) for i in user_ids))
        size = max(1, int(per_request))
        out: list[Exchange] = []
        for i in range(0, len(ids), size):
            _, sent = self._patch_group(group_id, patches.add_members(ids[i : i + size]), "group_members")
            out.append(sent)
        return out

    def remove_members(self, group_id: str, user_ids: Iterable[str]) -> list[Exchange]:
        """Remove users from a group (one ``members[value eq "id"]`` op each, up to 100 per request)."""
        ids = list(dict.fromkeys(str(i) for i in user_ids))
        out: list[Exchange] = []
        for i in range(0, len(ids), MEMBER_BATCH):
            _, sent = self._patch_group(
                group_id, patches.remove_members(ids[i : i + MEMBER_BATCH]), "group_members"
            )
            out.append(sent)
        return out

    def replace_members(self, group_id: str, user_ids: Iterable[str]) -> list[Exchange]:
        """Set a group's members to exactly ``user_ids`` in one request (PATCH replace members). Used to repair a
        group a server emptied; prefer add/remove for ordinary changes (a replace races with other writers)."""
        ids = list(dict.fromkeys(str(i) for i in user_ids))
        _, sent = self._patch_group(group_id, patches.replace_members(ids), "group_members")
        return [sent]

    def rename_group(self, group_id: str, name: str) -> ScimGroup:
        answer, _ = self._patch_group(group_id, patches.rename_group(name), "rename_group")
        found = self._written_resource(answer)
        if found is None:
            return self.get_group(group_id, members=False)
        return parse_group(found, False)

    def delete_group(self, group_id: str) -> None:
        self._http.request(
            "DELETE", f"Groups/{_segment(group_id)}", operation="delete_group", what=f"group {group_id}"
        )

    # -- writes --------------------------------------------------------------------------------------------
    def _write(
        self, method: str, path: str, body: dict[str, Any] | None, operation: str, what: str
    ) -> tuple[Any, Exchange]:
        """One write, never with ``attributes``/``excludedAttributes``; with the record of what was exchanged."""
        answer = self._http.request(method, path, json=body, operation=operation, what=what)
        sent = Exchange(
            method=method,
            path=path,
            request=body,
            status=answer.status,
            answer="" if answer.data is None else snippet(answer.body, self._http.secrets(), ANSWER_LIMIT),
            at=datetime.now(UTC),
        )
        return answer, sent

    @staticmethod
    def _written_resource(answer: Any) -> dict[str, Any] | None:
        """The resource a write answered with, or None when the server sent none (204, 200 without a body, or a
        200 whose JSON is not a resource): the caller then reads it back instead of parsing nothing."""
        data = answer.data
        if isinstance(data, dict) and any(isinstance(k, str) and k.lower() == "id" for k in data):
            return data
        if data is not None:
            log.info("HTTP %d to a write without the resource in its body; reading it back", answer.status)
        return None

    # -- helpers -------------------------------------------------------------------------------------------
    @staticmethod
    def _resource(data: Any, status: int) -> dict[str, Any]:
        if not isinstance(data, dict) or not any(isinstance(k, str) and k.lower() == "id" for k in data):
            raise ProtocolError(
                f"the server did not answer in SCIM: HTTP {status} without a resource (no 'id')",
                status=status,
                code="not-scim-resource",
                params={"status": status},
            )
        return data


def _filter_params(flt: filters.Filter | str | None) -> dict[str, Any]:
    return {} if flt is None else {"filter": filters.as_text(flt)}


def _group_params(members: bool, flt: filters.Filter | str | None) -> dict[str, Any]:
    params = _filter_params(flt)
    if not members:
        params["excludedAttributes"] = "members"
    return params


def _segment(resource_id: str) -> str:
    """A resource id as one URL path segment (ids are opaque; never let one add path segments)."""
    text = str(resource_id)
    if not text or text in (".", ".."):
        raise ValueError(f"not a resource id: {resource_id!r}")
    from urllib.parse import quote

    return quote(text, safe="")
