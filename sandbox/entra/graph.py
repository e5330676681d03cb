"""HTTP routes: the Microsoft identity platform token endpoint, Microsoft Graph (v1.0) and admin routes."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import logs as logstore
from .logs import DEFAULT_TOP, MAX_TOP, FilterError

GRAPH = "/graph/v1.0"
READ_LOGS = ("AuditLog.Read.All",)
READ_JOB = ("Synchronization.Read.All", "Synchronization.ReadWrite.All")
WRITE_JOB = ("Synchronization.ReadWrite.All",)


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4())}}}
    return JSONResponse(body, status, headers=headers)


def _sim(request: Request) -> Any:
    return request.app.state.sandbox.extra["entra"]


def _login_error(status: int, error: str, code: int, text: str) -> Response:
    return JSONResponse({"error": error, "error_description": f"AADSTS{code}: {text}", "error_codes": [code],
                         "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
                         "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())}, status)


async def token(request: Request) -> Response:
    sim = _sim(request)
    if request.path_params["tenant"].lower() not in (sim.ids.tenant_id, "organizations"):
        return _login_error(400, "invalid_request", 90002,
                            f"Tenant '{request.path_params['tenant']}' not found. Check the tenant id.")
    raw = (await request.body()).decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    if form.get("grant_type") != "client_credentials":
        return _login_error(400, "unsupported_grant_type", 70003,
                            "The app requested an unsupported grant type; use client_credentials.")
    client_id = form.get("client_id", "")
    if client_id != sim.ids.client_id:
        return _login_error(400, "unauthorized_client", 700016,
                            f"Application with identifier '{client_id}' was not found in the directory.")
    if not sim.check_client(client_id, form.get("client_secret", "")):
        return _login_error(401, "invalid_client", 7000215,
                            "Invalid client secret provided. Ensure the secret being sent in the request is the "
                            "client secret value, not the client secret ID.")
    scope = form.get("scope", "")
    if scope.rstrip("/") not in ("https://graph.microsoft.com/.default", "https://graph.microsoft.com//.default"):
        return _login_error(400, "invalid_scope", 1002012,
                            f"The provided value for scope {scope!r} is not valid; use "
                            "https://graph.microsoft.com/.default.")
    now = int(time.time())
    claims = {"aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{sim.ids.tenant_id}/",
              "iat": now, "nbf": now, "exp": now + 3599, "appid": client_id, "tid": sim.ids.tenant_id,
              "roles": sim.graph_roles(), "oid": sim.ids.service_principal_id, "uti": uuid.uuid4().hex}
    access = jwt.encode(claims, sim.graph_signing_key, algorithm="HS256")
    return JSONResponse({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                         "access_token": access})


def _authorize(request: Request, needed: tuple[str, ...]) -> Response | None:
    sim = _sim(request)
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
    try:
        claims = jwt.decode(value.strip(), sim.graph_signing_key, algorithms=["HS256"],
                            audience="https://graph.microsoft.com")
    except jwt.ExpiredSignatureError:
        return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
    except jwt.PyJWTError:
        return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience "
                           "or signature: get a new token from the login endpoint.")
    if claims.get("tid") != sim.ids.tenant_id:
        return graph_error(401, "InvalidAuthenticationToken", "The token was issued for another tenant.")
    roles = set(claims.get("roles") or [])
    if needed and not roles.intersection(needed):
        return graph_error(403, "Authorization_RequestDenied",
                           f"Insufficient privileges to complete the operation. The app needs the application "
                           f"permission {' or '.join(needed)} with admin consent.")
    return None


def _job_path(request: Request, job: bool = True) -> Response | None:
    sim = _sim(request)
    if request.path_params["sp"] != sim.ids.service_principal_id:
        return graph_error(404, "Request_ResourceNotFound",
                           f"Resource '{request.path_params['sp']}' does not exist or one of its queried reference-"
                           "property objects are not present.")
    if job and request.path_params["job"] != sim.ids.job_id:
        return graph_error(404, "ResourceNotFound", f"The synchronization job '{request.path_params['job']}' "
                           "was not found on this service principal.")
    return None


MAX_JSON_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"The request body is not valid JSON ({name} is not a JSON number).")


async def _json_body(request: Request) -> Any:
    """The JSON body (the sandbox's edge caps its size); NaN/Infinity and nesting over 64 levels refused."""
    raw = await request.body()
    if not raw:
        return None
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("The request body nests too deeply.") from None
    except ValueError as exc:
        raise ValueError(str(exc) if "JSON number" in str(exc) else "The request body is not valid JSON.") from None
    if _too_deep(value):
        raise ValueError(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
    return value


def _too_deep(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


async def provisioning_logs(request: Request) -> Response:
    denied = _authorize(request, READ_LOGS)
    if denied:
        return denied
    sim = _sim(request)
    q = request.query_params
    try:
        top = int(q.get("$top", DEFAULT_TOP))
    except ValueError:
        return graph_error(400, "BadRequest", f"Invalid value for $top: {q.get('$top')!r}.")
    if top < 1:
        return graph_error(400, "BadRequest", "$top must be at least 1.")
    top = min(top, MAX_TOP)
    try:
        page = await asyncio.to_thread(logstore.query, sim.db, q.get("$filter"), top, q.get("$skiptoken"))
    except FilterError as exc:
        return graph_error(400, "BadRequest", str(exc))
    body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/provisioning",
                            "value": page.items}
    if page.skiptoken:
        params = {"$top": str(top)}
        if q.get("$filter"):
            params["$filter"] = q["$filter"]
        params["$skiptoken"] = page.skiptoken
        body["@odata.nextLink"] = (f"{str(request.base_url).rstrip('/')}{GRAPH}/auditLogs/provisioning?"
                                   + urlencode(params))
    return JSONResponse(body)


async def jobs(request: Request) -> Response:
    denied = _authorize(request, READ_JOB) or _job_path(request, job=False)
    if denied:
        return denied
    sim = _sim(request)
    doc = await asyncio.to_thread(sim.engine.job_document)
    return JSONResponse({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals('"
                         f"{sim.ids.service_principal_id}')/synchronization/jobs", "value": [doc]})


async def job(request: Request) -> Response:
    denied = _authorize(request, READ_JOB) or _job_path(request)
    if denied:
        return denied
    sim = _sim(request)
    doc = await asyncio.to_thread(sim.engine.job_document)
    return JSONResponse(doc)


def _loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("127.0.0.1", "localhost", "::1")


def _credentials(items: Any) -> dict[str, str]:
    if not isinstance(items, list):
        raise ValueError("Send a list of {\"key\": ..., \"value\": ...} objects.")
    out = {}
    for item in items:
        if not isinstance(item, dict) or "key" not in item:
            raise ValueError("Each credential needs a key and a value.")
        out[str(item["key"])] = "" if item.get("value") is None else str(item["value"])
    return out


async def secrets(request: Request) -> Response:
    denied = _authorize(request, WRITE_JOB) or _job_path(request, job=False)
    if denied:
        return denied
    sim = _sim(request)
    try:
        body = await _json_body(request)
        creds = _credentials((body or {}).get("value") if isinstance(body, dict) else None)
    except ValueError as exc:
        return graph_error(400, "BadRequest", f"{exc} Expected {{\"value\": [{{\"key\": \"BaseAddress\", "
                           "\"value\": ...}, {\"key\": \"SecretToken\", \"value\": ...}]}.")
    base = creds.get("BaseAddress")
    if base is not None and not _loopback(base):
        return graph_error(400, "BadRequest", "The sandbox only provisions to loopback addresses "
                           "(http://127.0.0.1:PORT/scim).")
    unknown = set(creds) - {"BaseAddress", "SecretToken"}
    if unknown:
        return graph_error(400, "BadRequest", f"Unknown credential key(s): {', '.join(sorted(unknown))}.")
    await asyncio.to_thread(sim.engine.set_secrets, base or None, creds.get("SecretToken"), datetime.now(UTC))
    return Response(status_code=204)


async def validate(request: Request) -> Response:
    denied = _authorize(request, WRITE_JOB) or _job_path(request)
    if denied:
        return denied
    sim = _sim(request)
    try:
        body = await _json_body(request)
        creds = _credentials((body or {}).get("credentials", []) if isinstance(body, dict) else [])
    except ValueError as exc:
        return graph_error(400, "BadRequest", str(exc))
    base = creds.get("BaseAddress")
    if base is not None and not _loopback(base):
        return graph_error(400, "BadRequest", "The sandbox only provisions to loopback addresses.")
    ok, message = await asyncio.to_thread(sim.engine.validate_credentials, base, creds.get("SecretToken"))
    if ok:
        return Response(status_code=204)
    return graph_error(400, "SystemForCrossDomainIdentityManagementCredentialValidationFailure",
                       f"You appear to have entered invalid credentials. {message}")


async def restart(request: Request) -> Response:
    denied = _authorize(request, WRITE_JOB) or _job_path(request)
    if denied:
        return denied
    sim = _sim(request)
    try:
        body = await _json_body(request) or {}
        criteria = body.get("criteria") if isinstance(body, dict) else None
        if criteria is not None and not isinstance(criteria, dict):
            raise ValueError("criteria must be an object: {\"criteria\": {\"resetScope\": \"Full\"}}.")
        scope = (criteria or {}).get("resetScope") or "Full"
        if not isinstance(scope, str):
            raise ValueError("resetScope must be a string such as \"Full\".")
        await asyncio.to_thread(sim.engine.restart, scope, datetime.now(UTC))
    except ValueError as exc:
        return graph_error(400, "BadRequest", str(exc))
    return Response(status_code=204)


async def start(request: Request) -> Response:
    denied = _authorize(request, WRITE_JOB) or _job_path(request)
    if denied:
        return denied
    await asyncio.to_thread(_sim(request).engine.start)
    return Response(status_code=204)


async def pause(request: Request) -> Response:
    denied = _authorize(request, WRITE_JOB) or _job_path(request)
    if denied:
        return denied
    await asyncio.to_thread(_sim(request).engine.pause)
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------------ admin
_ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
# A body of the wrong shape surfaces as one of these while it is read: answered 400, never 500.
_INPUT_ERRORS = (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError)


def _admin_error(status: int, detail: str) -> Response:
    """Like the SCIM server's admin routes: a SCIM error body plus ``error``."""
    doc: dict[str, Any] = {"schemas": [_ERROR_URN], "status": str(status)}
    if status == 400:
        doc["scimType"] = "invalidValue"
    doc.update(detail=detail, error=detail)
    return JSONResponse(doc, status)


def _admin(handler: Any) -> Any:
    async def guarded(request: Request) -> Response:
        state = request.app.state.sandbox
        if not state.is_admin(request):
            return _admin_error(401, "Send Authorization: Bearer $SCIM_SANDBOX_ADMIN_TOKEN (loopback only).")
        try:
            body = await _json_body(request) if request.method != "GET" else None
            if body is not None and not isinstance(body, dict):
                raise ValueError("Send a JSON object.")
            return await handler(request, body)
        except _INPUT_ERRORS as exc:
            detail = f"Unknown object: {exc}" if isinstance(exc, KeyError) else str(exc)
            if not isinstance(exc, ValueError | KeyError):
                detail = f"The request body has the wrong shape ({exc!r})."
            return _admin_error(400, detail[:1000])
    return guarded


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false.")
    return value


@_admin
async def admin_cycles(request: Request, body: Any) -> Response:
    sim = _sim(request)
    body = body or {}
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise ValueError("count must be an integer between 1 and 1000.")
    churn = _flag(body, "churn")
    ignore_backoff = _flag(body, "ignore_backoff")

    def run() -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            if churn:
                out.append(sim.live_cycle())
            else:
                out.append(sim.engine.run_cycle(ignore_backoff=ignore_backoff))
        return out
    return JSONResponse({"cycles": await asyncio.to_thread(run)})


@_admin
async def admin_tenant(request: Request, body: Any) -> Response:
    sim = _sim(request)
    if not isinstance(body, dict):
        raise ValueError("Send a JSON object with an \"action\" (or \"actions\": [...]).")
    actions = body.get("actions") if "actions" in body else [body]
    if not isinstance(actions, list) or not actions or len(actions) > 10_000:
        raise ValueError("actions must be a non-empty list (at most 10,000) of {\"action\": ...} objects.")
    for action in actions:
        _check_action(action)
    results = await asyncio.to_thread(lambda: [sim.mutate(a) for a in actions])
    return JSONResponse({"results": results})


def _check_action(action: Any) -> None:
    """One tenant change: an object whose ``action`` is a string and whose other values are strings, numbers,
    booleans, null or lists of strings (user/group references, names, counts)."""
    if not isinstance(action, dict) or not isinstance(action.get("action"), str):
        raise ValueError("Each change is an object with an \"action\" string, e.g. {\"action\": \"leave\", "
                         "\"user\": \"alice@contoso.example\"}.")
    for key, value in action.items():
        if isinstance(value, float) and not math.isfinite(value):  # 1e400 parses as infinity
            raise ValueError(f"{key} must be a finite number.")
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of strings.")
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise ValueError(f"{key} must be a string, a number, true/false or a list of strings.")


@_admin
async def admin_status(request: Request, body: Any) -> Response:
    sim = _sim(request)
    return JSONResponse(await asyncio.to_thread(sim.status))


@_admin
async def admin_graph(request: Request, body: Any) -> Response:
    sim = _sim(request)
    if request.method == "PUT":
        roles = (body or {}).get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError("Send {\"roles\": [\"AuditLog.Read.All\", ...]}.")
        sim.db.set_json("graph_roles", roles)
    return JSONResponse({"roles": sim.graph_roles()})


def routes() -> list[BaseRoute]:
    sp = GRAPH + "/servicePrincipals/{sp}/synchronization"
    return [
        Route("/login/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route(GRAPH + "/auditLogs/provisioning", provisioning_logs, methods=["GET"]),
        Route(sp + "/jobs", jobs, methods=["GET"]),
        Route(sp + "/jobs/{job}", job, methods=["GET"]),
        Route(sp + "/secrets", secrets, methods=["PUT"]),
        Route(sp + "/jobs/{job}/validateCredentials", validate, methods=["POST"]),
        Route(sp + "/jobs/{job}/restart", restart, methods=["POST"]),
        Route(sp + "/jobs/{job}/start", start, methods=["POST"]),
        Route(sp + "/jobs/{job}/pause", pause, methods=["POST"]),
        Route("/sandbox-admin/entra/cycles", admin_cycles, methods=["POST"]),
        Route("/sandbox-admin/entra/tenant", admin_tenant, methods=["POST"]),
        Route("/sandbox-admin/entra/status", admin_status, methods=["GET"]),
        Route("/sandbox-admin/entra/graph-permissions", admin_graph, methods=["GET", "PUT"]),
    ]
