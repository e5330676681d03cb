"""The console core's error family. Every message says what happened and what to do about it.

Pages and the command line see one family: ``ConsoleError``. Errors of the SCIM client (``scim_client.ScimError``
and its subclasses) become one through ``console_error`` (the single adapter), which keeps the HTTP status, the
remedy and, for a 403, the missing permission. Anything that is neither is a bug: ``console_error`` returns None
for it, and the caller logs its traceback and says "unexpected error, see the log file".

The SCIM client speaks English only (it knows nothing of the console). ``console_error`` words its errors in the
operator's language from what is structured, never by parsing English: the error's ``code`` (the wording's name)
and ``params`` (the values in it: host, status, the server's detail, a nested error), its remedy (each remedy
the client writes is a known text, translated as such), and for a 403 the permission (the six 6clicks
permissions have the guide's Japanese names). What the server said stays as it said it, formatted into the
translated text. A message without a known code keeps its English words, with its remedy translated.
``scim_message``/``scim_remedy``, ``probe_text`` and ``permission_check_text`` do the same for the other places
the client's words reach an operator (a token test, a permission check).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from console.i18n import N_, _, fmt_number, pgettext
from scim_client import PermissionDenied, Probe, ScimError
from scim_client.errors import PERMISSIONS
from scim_client.permissions import PermissionCheck


class ConsoleError(Exception):
    """An error a person can act on. ``remedy`` is the next step, in one sentence. ``status`` is the HTTP status
    of the answer behind it, when there was one; ``permission`` the 6clicks permission a 403 says is missing."""

    def __init__(self, message: str, remedy: str = "", *, status: int | None = None,
                 permission: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.status = status
        self.permission = permission

    def __str__(self) -> str:
        return f"{self.message} {self.remedy}".strip()


class StoreError(ConsoleError):
    """The local store cannot be opened or written."""


class NotFoundError(ConsoleError):
    """A named thing (connection, snapshot, action) does not exist."""


class InvalidInput(ConsoleError):
    """Input from the operator that cannot be used as given."""


class TokenError(ConsoleError):
    """A token operation failed (the token was rejected, or could not be made); ``result`` is the test or
    exchange classification when there is one. Operations stop a batch on it, like on a 401."""

    def __init__(self, message: str, remedy: str = "", *, result: str = "error") -> None:
        super().__init__(message, remedy)
        self.result = result


class ServiceError(ConsoleError):
    """A SCIM service answered with an error, or could not be reached (made from ``scim_client.ScimError`` by
    ``console_error``; the original is its ``__cause__``). ``permission`` keeps the 6clicks name of the
    permission (as the client gives it); the message and remedy name it in the operator's language."""


def console_error(exc: BaseException) -> ConsoleError | None:
    """``exc`` as the console's error family: a ``ConsoleError`` as it is, a ``ScimError`` (any subclass) as a
    ``ServiceError`` with its message and remedy in the current language, its status and permission; None for
    anything else (a bug)."""
    if isinstance(exc, ConsoleError):
        return exc
    if isinstance(exc, ScimError):
        permission = exc.permission if isinstance(exc, PermissionDenied) else None
        adapted = ServiceError(scim_message(exc), scim_remedy(exc), status=exc.status, permission=permission)
        adapted.__cause__ = exc
        return adapted
    return None


# --- the six 6clicks permissions ----------------------------------------------------------------------------


def permission_label(name: str | None) -> str:
    """A 6clicks permission (its English name, as ``scim_client`` gives it) in the operator's language: the
    6clicks guide's Japanese names. An unknown name is returned as it is."""
    if not name:
        return ""
    labels = {
        "Integrations": pgettext("6clicks permission", "Integrations"),
        "Create new users": pgettext("6clicks permission", "Create new users"),
        "Edit users": pgettext("6clicks permission", "Edit users"),
        "Delete users": pgettext("6clicks permission", "Delete users"),
        "Create, edit and delete groups": pgettext("6clicks permission", "Create, edit and delete groups"),
        "Manage group members": pgettext("6clicks permission", "Manage group members"),
    }
    return labels.get(name, name)


_PERMISSION_REMEDY = N_("The API key's 6clicks user lacks the '{permission}' permission{probably}: grant it in "
                        "6clicks, or use an API key whose user has the six SCIM permissions ({permissions}). Then "
                        "generate a new token.")


def permission_remedy(permission: str | None, named: bool) -> str:
    """What to do about a 403: grant ``permission`` (``named``: the server named it; else it is the one the
    operation needs, probably), or use a key whose user has all six."""
    return _(_PERMISSION_REMEDY).format(
        permission=permission_label(permission) or _("needed"),
        probably="" if named else _(" (probably, for this operation)"),
        permissions=pgettext("list separator", ", ").join(permission_label(p) for p in PERMISSIONS.values()))


# --- the client's messages, by code ---------------------------------------------------------------------------

#: the English wording of each code of ``scim_client`` (the message ids; the values are formatted in afterwards)
MESSAGES: dict[str, str] = {
    "http-401": N_("HTTP 401 Unauthorized{what}{body}"),
    "http-403": N_("HTTP 403 Forbidden{what}{body}"),
    "http-404": N_("HTTP 404 Not Found{what}{body}"),
    "http-409": N_("HTTP 409 Conflict{what}{body}"),
    "http-413": N_("HTTP 413 request too large{what}{body}"),
    "http-429": N_("HTTP 429 Too Many Requests{what}{wait}{body}"),
    "http-5xx": N_("HTTP {status} server error{what}{body}"),
    "http-4xx": N_("HTTP {status}{what}{body}"),
    "tls-certificate": N_("TLS certificate of {host} could not be verified"),
    "tls-handshake": N_("TLS handshake with {host} failed"),
    "transport-connect-timeout": N_("timed out connecting to {host}"),
    "transport-read-timeout": N_("timed out waiting for {host} to answer"),
    "transport-write-timeout": N_("timed out sending the request to {host}"),
    "transport-pool-timeout": N_("timed out waiting for a free connection"),
    "transport-dns": N_("the host name {host} could not be resolved (DNS)"),
    "transport-refused": N_("connection to {host} was refused"),
    "transport-connect": N_("could not connect to {host}"),
    "transport-dropped": N_("the connection to {host} was dropped before a complete answer"),
    "transport-bad-url": N_("the URL is not a valid http(s) URL"),
    "transport-other": N_("could not talk to {host} ({name})"),
    "not-scim-html": N_("the server did not answer in SCIM: HTTP {status} with an HTML page: {body}"),
    "not-scim-truncated": N_("the server did not answer in SCIM: HTTP {status} with a truncated or malformed JSON "
                             "body: {body}"),
    "not-scim-non-json": N_("the server did not answer in SCIM: HTTP {status} with a non-JSON body "
                            "({content_type}): {body}"),
    "not-scim-redirect": N_("the server did not answer in SCIM: HTTP {status} redirect to {location}"),
    "not-scim-config": N_("the server did not answer in SCIM: ServiceProviderConfig is not a JSON object"),
    "not-scim-resource": N_("the server did not answer in SCIM: HTTP {status} without a resource (no 'id')"),
    "no-token-available": N_("no access token available"),
    "token-unsendable": N_("the access token contains spaces or characters that cannot be sent in an HTTP header"),
    "bad-scim-url": N_("the SCIM base URL '{url}' is not an http(s) URL"),
    "no-token": N_("no access token given"),
    "create-lost": N_("the server answered HTTP {status} to the create without the new resource, and it cannot be "
                      "found"),
    "list-empty": N_("the server did not answer in SCIM: HTTP {status} with an empty body where a ListResponse was "
                     "expected"),
    "list-not-object": N_("the server did not answer in SCIM: HTTP {status} with a JSON {type} where a ListResponse "
                          "object was expected"),
    "list-resources-not-list": N_("the server did not answer in SCIM: HTTP {status}, 'Resources' is a {type}, not "
                                  "a list"),
    "list-unusable": N_("the server did not answer in SCIM: HTTP {status} with a JSON object that is not a usable "
                        "ListResponse: no totalResults and no Resources (fields: {fields})"),
    "paging-implausible-total": N_("listing {what}: the server announced {total} {what} (totalResults), more than "
                                   "the {most} a listing accepts"),
    "paging-total-grows": N_("listing {what}: the server's totalResults kept growing during one listing, from "
                             "{first} to {total}: it announces more {what} than it serves"),
    "paging-too-many": N_("listing {what}: the server served more than {most} {what}, the most a listing accepts"),
    "paging-repeats": N_("listing {what}: {stale} pages brought only {what} already listed (or without an id), "
                         "against {fresh} with new ones: the server repeats its pages instead of serving the "
                         "announced ones"),
    "paging-requests": N_("listing {what}: more than {most} requests were needed to list {total} {what}"),
    "paging-requests-all": N_("listing {what}: more than {most} requests were needed to list the {what}"),
    "paging-page-too-small": N_("listing {what}: the server announced {total} {what} but serves {step} per page: "
                                "listing them would take {needed} requests, more than the {most} a listing may "
                                "make"),
    "paging-first-empty": N_("listing {what}: the server announced {total} {what} but its first page is empty"),
    "paging-contradicts": N_("listing {what}: the server returned {where} and then {what} at startIndex {beyond}, "
                             "while announcing {total}: its pages contradict each other"),
    "paging-ended-early": N_("listing {what}: the server announced {total} {what} but its pages ended after {count} "
                             "(an empty page at startIndex {end_at})"),
    "token-html": N_("the token endpoint answered with an HTML page (HTTP {status}), not a token: {body}"),
    "token-missing": N_("the token endpoint answered HTTP {status} without an accessToken (fields: {fields})"),
    "token-not-json": N_("the token endpoint did not answer in JSON (HTTP {status}): {body}"),
    "no-api-key": N_("no API key given"),
    "token-bad-url": N_("the API base URL '{url}' is not an http(s) URL"),
    "token-unreachable": N_("could not reach the token endpoint: {error}"),
    "key-rejected": N_("the API key was rejected (HTTP {status})"),
    "token-wrong-url": N_("no token endpoint at this address (HTTP {status}): {body}"),
    "token-server": N_("the token endpoint failed (HTTP {status}): {body}"),
    "probe-ok": N_("the SCIM service at {url} accepted the token"),
    "probe-no-endpoint": N_("there is no SCIM endpoint at {url}: {error}"),
    "probe-not-scim": N_("{url} is not a SCIM endpoint: {error}"),
    "perm-read-works": N_("reading users works"),
    "perm-refused-as-expected": N_("answered {status}: permitted callers are refused for the request itself (this "
                                   "relies on the server checking permission before the request's content)"),
    "perm-accepted": N_("the server accepted it ({status}) where it should have refused the request "
                        "itself{cleanup}"),
    "perm-not-tried": N_("an earlier step failed, so this one could not be tried"),
}

#: every remedy ``scim_client`` writes (its classes' defaults and the ones it gives), translated as they are;
#: tests/console/test_i18n_core.py checks this list against the client's source
REMEDIES: tuple[str, ...] = (
    N_('The host did not answer: check the URL, your network, proxy and firewall, then try again.'),
    N_('The server is slow or stuck; try again later, or raise the timeout for large directories.'),
    N_('The network is slow or the server stopped reading; try again later.'),
    N_('Too many requests at once; lower the concurrency or raise the timeout.'),
    N_('Check the host name in the URL for typos, and that this machine can resolve it (DNS, VPN).'),
    N_('Nothing is listening at that address: check the host and port in the URL, and that the service '
       'is running.'),
    N_('Check the URL, your network, proxy and firewall, then try again.'),
    N_('The server or a proxy closed the connection; try again. If it keeps happening, check the proxy '
       'or load balancer in between.'),
    N_('Enter the full URL with https://, e.g. https://api-au.6clicks.io/scim'),
    N_('Check the URL and your network, then try again.'),
    N_("Check the URL's scheme and port: the server may not speak HTTPS there (try the https:// URL the "
       'vendor gives), or a proxy is interfering.'),
    N_('Send fewer items at once (smaller batches).'),
    N_("The server's certificate is not trusted (self-signed, expired, wrong host name, or a "
       "TLS-inspecting proxy). Fix the certificate or install the proxy's CA; do not turn verification "
       'off outside testing.'),
    N_('Generate a token (or save the API key so one can be generated), then try again.'),
    N_('Paste the token again without surrounding quotes, spaces or line breaks, or generate a new one.'),
    N_('Use the final address as the SCIM base URL (often https:// instead of http://, or a different '
       'path); the client does not follow redirects so the token is never sent elsewhere.'),
    N_('Enter the full SCIM base URL, e.g. https://api-au.6clicks.io/scim'),
    N_('Generate or paste an access token first.'),
    N_('Check the connection settings and try again.'),
    N_("The server refused the request as sent; check the values (see the server's detail)."),
    N_("Token rejected: it has expired, or its API key, the key's user or one of the user's permissions "
       'was removed in 6clicks. Generate a new token from a valid API key and save it.'),
    N_('It may have been deleted already; refresh the list. If every call fails, check the SCIM base '
       'URL.'),
    N_('A resource with the same unique value (userName, e-mail or group name) already exists; look it '
       'up instead of creating it again.'),
    N_('The server is throttling requests; wait a few minutes and try again, or lower the concurrency.'),
    N_('The service provider failed; try again later. If it persists, contact its support with the time '
       'of the failure.'),
    N_('Check the SCIM base URL (it should end with /scim for 6clicks); a proxy, firewall or login page '
       'may be answering instead of the SCIM service.'),
    N_("The service provider's paging is broken (a defect on its side): nothing from this listing was "
       'kept, and no snapshot is stored from it. Report it to the service provider with the time of the '
       'listing and this message, and try again later.'),
    N_('Such a count is not plausible for this directory: the service provider reports a wrong '
       'totalResults (a defect on its side). Nothing from this listing was kept and no snapshot is '
       'stored from it; report it to the service provider with the time of the listing.'),
    N_('Check the SCIM base URL: for 6clicks it is the API base URL followed by /scim (e.g. '
       'https://api-au.6clicks.io/scim); a login page or proxy may be answering instead.'),
    N_('Check the API base URL; something other than the 6clicks API answered.'),
    N_('Check the API base URL: it must be the 6clicks API host for your region (for example '
       'https://api-au.6clicks.io), not the web app address; the token is requested from {API '
       'base}/auth-api/1.0/auth/token.'),
    N_('The server did not issue a token. Check that the URL is the 6clicks API base URL and that the '
       "API key is active; generate the token in 6clicks' Swagger page if this persists."),
    N_('Paste the 6clicks API key (Settings → Developer API).'),
    N_('Enter the API base URL with its scheme, e.g. https://api-au.6clicks.io'),
    N_('Check the API key: it may be mistyped, deleted, or its 6clicks user removed or missing the '
       "'Integrations' permission. Create a new API key in 6clicks and paste it again."),
    N_('Check the API base URL: the token is requested from {API base}/auth-api/1.0/auth/token; use the '
       'API host (e.g. https://api-au.6clicks.io), without /scim.'),
    N_('Try again in a few minutes; if it persists, contact 6clicks support.'),
)

#: what the client was doing (``what=`` of its requests), in words: fixed phrases, then "<kind> <data>" forms
_DOING: dict[str, str] = {
    "testing the token": N_("testing the token"),
    "checking a permission": N_("checking a permission"),
    "removing what a permission check created": N_("removing what a permission check created"),
    "ServiceProviderConfig": N_("reading the ServiceProviderConfig"),
    "listing Users": N_("listing users"),
    "listing Groups": N_("listing groups"),
    "search Users": N_("searching users"),
    "search Groups": N_("searching groups"),
}
_DOING_WITH: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"creating user (.+)", re.DOTALL), N_("creating user {name}")),
    (re.compile(r"creating group (.+)", re.DOTALL), N_("creating group {name}")),
    (re.compile(r"user (.+)", re.DOTALL), N_("user {name}")),
    (re.compile(r"group (.+)", re.DOTALL), N_("group {name}")),
)


def _doing(what: str) -> str:
    fixed = _DOING.get(what)
    if fixed is not None:
        return _(fixed)
    for pattern, template in _DOING_WITH:
        match = pattern.fullmatch(what)
        if match:
            return _(template).format(name=match.group(1))
    return what


def _objects(what: Any) -> str:
    """"users" / "groups" (what a listing lists) in words."""
    if what == "users":
        return pgettext("objects listed", "users")
    if what == "groups":
        return pgettext("objects listed", "groups")
    return str(what)


def _value(value: Any) -> str:
    if isinstance(value, ScimError):
        return scim_message(value)
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return fmt_number(value)
    if value == "(empty body)":  # scim_client.errors.snippet's words for nothing
        return _("(empty body)")
    return str(value)


def _values(code: str, params: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The code whose wording fits ``params`` (some codes have a variant) and the values to format into it."""
    values = {key: _value(value) for key, value in params.items()}
    if code.startswith("http-"):
        what = params.get("what")
        values["what"] = _(" ({what})").format(what=_doing(str(what))) if what else ""
        body = params.get("body")
        values["body"] = f": {body}" if body else ""
        wait = params.get("retry_after")
        values["wait"] = _(" (server asked to wait {seconds} s)").format(seconds=f"{wait:.0f}") if wait else ""
    elif code.startswith("paging-"):
        values["what"] = _objects(params.get("what"))
        if code == "paging-requests" and params.get("total") is None:
            code = "paging-requests-all"
        if code == "paging-contradicts":
            end_at = params.get("end_at")
            values["where"] = (_("an empty page at startIndex {index}").format(index=fmt_number(end_at))
                               if end_at is not None else _("a gap in its pages"))
            if params.get("total") is None:
                values["total"] = _("no total")
    elif code == "not-scim-non-json":
        values["content_type"] = str(params.get("content_type") or "") or _("no content type")
    elif code == "not-scim-redirect" and params.get("location") == "(no Location)":
        values["location"] = _("(no Location)")
    elif code in ("list-unusable", "token-missing") and params.get("fields") == "none":
        values["fields"] = pgettext("no fields", "none")
    elif code == "perm-accepted":
        values["cleanup"] = _cleanup(params)
    if params.get("status") is not None:
        values["status"] = str(params["status"])  # an HTTP status is a code, not a quantity
    return code, values


def _cleanup(params: Mapping[str, Any]) -> str:
    created = params.get("created")
    if not created:
        return ""
    kind = pgettext("object", "user") if created == "user" else pgettext("object", "group")
    error = params.get("cleanup_error")
    if error is None:
        return _("; what it created ({kind} {id}) was deleted again").format(kind=kind, id=params.get("created_id"))
    return _("; it created {kind} {id}, which could not be deleted ({error}): delete it by hand").format(
        kind=kind, id=params.get("created_id"), error=_value(error))


def _worded(code: str, params: Mapping[str, Any], english: str) -> str:
    """The wording of ``code`` in the current language with ``params`` in it, or ``english`` (the client's own
    message) when the language is English, the code is unknown or has no translation, or the values do not fit."""
    if code == "perm-done":
        done = pgettext("permission check", "done")
        return english if done == "done" else done
    template = MESSAGES.get(code)
    if template is None:
        return english
    code, values = _values(code, params)
    template = MESSAGES[code]
    translated = _(template)
    if translated == template:
        return english
    try:
        return translated.format(**values)
    except (KeyError, IndexError, ValueError):
        return english


def scim_message(exc: ScimError) -> str:
    """The message of a SCIM client error in the current language (its English one when it cannot be mapped)."""
    return _worded(exc.code, exc.params, exc.message)


def scim_remedy(exc: ScimError) -> str:
    """The remedy of a SCIM client error in the current language: a 403 from its permission, any other from the
    client's (known) remedy text; an unknown remedy stays as it is."""
    if isinstance(exc, PermissionDenied) and exc.code == "http-403":
        return _structured_remedy(exc.remedy, exc.permission, exc.named)
    return _(exc.remedy) if exc.remedy else ""


def _structured_remedy(english: str, permission: str | None, named: bool) -> str:
    """A 403's remedy from its permission; the client's own words in English (or without a translation)."""
    if _(_PERMISSION_REMEDY) == _PERMISSION_REMEDY:
        return english
    return permission_remedy(permission, named)


def probe_text(probe: Probe) -> tuple[str, str]:
    """(message, remedy) of ``ScimClient.probe()``'s answer in the current language."""
    message = _worded(probe.code, probe.params, probe.message)
    if probe.outcome == "forbidden" and probe.code == "http-403":
        return message, _structured_remedy(probe.remedy, probe.permission, probe.named)
    return message, _(probe.remedy) if probe.remedy else ""


#: what a permission check sent, in words (``scim_client.permissions``)
_REQUESTS: dict[str, str] = {
    "GET Users (one user)": N_("GET Users (one user)"),
    "POST Users without a userName": N_("POST Users without a userName"),
    "PATCH a user id that does not exist": N_("PATCH a user id that does not exist"),
    "DELETE a user id that does not exist": N_("DELETE a user id that does not exist"),
    "POST Groups without a displayName": N_("POST Groups without a displayName"),
    "PATCH members of a group id that does not exist": N_("PATCH members of a group id that does not exist"),
    "change the probe user's given name": N_("change the probe user's given name"),
    "add the probe user to the probe group and remove them again":
        N_("add the probe user to the probe group and remove them again"),
    "delete the probe group": N_("delete the probe group"),
    "delete the probe user": N_("delete the probe user"),
    "not tried": N_("not tried"),
}
_REQUESTS_WITH: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"create the inactive probe user (.+)", re.DOTALL), N_("create the inactive probe user {name}")),
    (re.compile(r"create the probe group (.+)", re.DOTALL), N_("create the probe group {name}")),
)


def permission_check_text(check: PermissionCheck) -> tuple[str, str]:
    """(request, message) of one permission check (``scim_client.permissions``) in the current language."""
    request = check.request
    fixed = _REQUESTS.get(request)
    if fixed is not None:
        request = _(fixed)
    else:
        for pattern, template in _REQUESTS_WITH:
            match = pattern.fullmatch(request)
            if match:
                request = _(template).format(name=match.group(1))
                break
    return request, _worded(check.code, check.params, check.message)
