"""Graph routes of the provisioning job's configuration: its ``synchronizationSchema`` (and the template's), and
provision on demand for a user or a group with the members the request names."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .graph import GRAPH, READ_JOB, WRITE_JOB, _authorize, _job_path, _json_body, _sim, graph_error
from .schema import SchemaError

ON_DEMAND_LIMIT = 5
ON_DEMAND_WINDOW = 10.0
MAX_GROUP_MEMBERS = 5  # Entra provisions a group on demand with at most five of its members
TEMPLATE_ID = "scim"


def _context(request: Request, suffix: str) -> str:
    return f"https://graph.microsoft.com/v1.0/$metadata#{suffix}"


async def job_schema(request: Request) -> Response:
    needed = READ_JOB if request.method == "GET" else WRITE_JOB
    denied = _authorize(request, needed) or _job_path(request)
    if denied:
        return denied
    return await _schema(request, template=False)


def _template_path(request: Request) -> Response | None:
    sim = _sim(request)
    owner = request.path_params.get("sp") or request.path_params.get("app")
    expected = sim.ids.service_principal_id if "sp" in request.path_params else sim.ids.app_id
    if owner != expected:
        kind = "servicePrincipal" if "sp" in request.path_params else "application"
        return graph_error(404, "Request_ResourceNotFound", f"Resource '{owner}' does not exist ({kind}).")
    if "template" in request.path_params and request.path_params["template"] != TEMPLATE_ID:
        return graph_error(404, "ResourceNotFound", f"The synchronization template "
                           f"'{request.path_params['template']}' was not found; this app has '{TEMPLATE_ID}'.")
    return None


async def template_schema(request: Request) -> Response:
    needed = READ_JOB if request.method == "GET" else ("Application.ReadWrite.OwnedBy",
                                                       "Application.ReadWrite.All")
    denied = _authorize(request, needed) or _template_path(request)
    if denied:
        return denied
    return await _schema(request, template=True)


async def templates(request: Request) -> Response:
    denied = _authorize(request, READ_JOB) or _template_path(request)
    if denied:
        return denied
    sim = _sim(request)
    doc = {"id": TEMPLATE_ID, "applicationId": sim.ids.app_id, "default": True,
           "description": "SCIM 2.0 provisioning (non-gallery application)", "discoverable": True,
           "factoryTag": "CustomSCIM", "metadata": []}
    return JSONResponse({"@odata.context": _context(request, "synchronizationTemplates"), "value": [doc]})


async def _schema(request: Request, template: bool) -> Response:
    store = _sim(request).engine.schemas
    if request.method == "GET":
        doc = await asyncio.to_thread(store.get, template)
        return JSONResponse({"@odata.context": _context(request, "synchronizationSchema"), **doc})
    try:
        body = await _json_body(request)
    except ValueError as exc:
        return graph_error(400, "BadRequest", str(exc))
    try:
        await asyncio.to_thread(_put, request, body, template)
    except SchemaError as exc:
        return graph_error(400, "BadRequest", f"The synchronization schema was not saved: {exc}"[:2000])
    return Response(status_code=204)


def _put(request: Request, body: Any, template: bool) -> None:
    sim = _sim(request)
    with sim.engine.lock:
        sim.engine.schemas.put(body, template)
        if not template:
            # Entra restarts the job after a mapping change: the next cycle is an initial cycle.
            state = sim.engine.job()
            state["initial_done"] = False
            sim.engine.save_job(state)


def _subject(body: Any) -> dict[str, Any]:
    params = body.get("parameters") if isinstance(body, dict) else None
    subjects = params[0].get("subjects") if isinstance(params, list) and params and isinstance(params[0], dict) \
        else None
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise ValueError("Send exactly one subject: {\"parameters\": [{\"ruleId\": ..., \"subjects\": [{\"objectId\": "
                         "\"<user id>\", \"objectTypeName\": \"User\"}]}]} (a group: objectTypeName \"Group\" and "
                         "\"links\": {\"members\": [{\"objectId\": ..., \"objectTypeName\": \"User\"}]}).")
    return subjects[0]


def _members(subject: dict[str, Any]) -> list[str]:
    links = subject.get("links") or {}
    members = links.get("members") if isinstance(links, dict) else None
    if members is None:
        members = []
    if not isinstance(members, list) or not all(isinstance(m, dict) and isinstance(m.get("objectId"), str)
                                                for m in members):
        raise ValueError("links.members must be a list of {\"objectId\": \"<user id>\", \"objectTypeName\": "
                         "\"User\"}.")
    if len(members) > MAX_GROUP_MEMBERS:
        raise ValueError(f"Provision on demand takes at most {MAX_GROUP_MEMBERS} members of a group; "
                         f"{len(members)} were sent.")
    if any(str(m.get("objectTypeName", "User")).lower() != "user" for m in members):
        raise ValueError("Group members provisioned on demand must be users (objectTypeName \"User\").")
    return list(dict.fromkeys(m["objectId"] for m in members))


async def on_demand(request: Request) -> Response:
    denied = _authorize(request, WRITE_JOB) or _job_path(request)
    if denied:
        return denied
    sim = _sim(request)
    now = time.monotonic()
    calls = [t for t in sim.engine.on_demand_calls if now - t < ON_DEMAND_WINDOW]
    if len(calls) >= ON_DEMAND_LIMIT:
        retry = max(1, int(ON_DEMAND_WINDOW - (now - calls[0])) + 1)
        sim.engine.on_demand_calls = calls
        return graph_error(429, "TooManyRequests", "Provision on demand is limited to 5 requests per 10 seconds.",
                           {"Retry-After": str(retry)})
    calls.append(now)
    sim.engine.on_demand_calls = calls
    try:
        subject = _subject(await _json_body(request) or {})
        kind = str(subject.get("objectTypeName", "User")).lower()
        if kind not in ("user", "group"):
            raise ValueError("objectTypeName must be \"User\" or \"Group\".")
        object_id = str(subject.get("objectId", ""))
        members = _members(subject) if kind == "group" else []
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return graph_error(400, "BadRequest", str(exc))
    if kind == "user":
        if sim.tenant.user(object_id) is None:
            return graph_error(404, "ResourceNotFound", f"No user with objectId '{object_id}' in the tenant.")
        result = await asyncio.to_thread(sim.on_demand, object_id)
    else:
        group = sim.tenant.group(object_id)
        if group is None or group["deleted"]:
            return graph_error(404, "ResourceNotFound", f"No group with objectId '{object_id}' in the tenant.")
        outside = [m for m in members if sim.db.one("SELECT 1 FROM src_members WHERE group_id = ? AND user_id = ?",
                                                    (object_id, m)) is None]
        if outside:
            return graph_error(400, "BadRequest", f"Not members of the group '{group['display_name']}': "
                               f"{', '.join(outside)}. Name members of the group (at most {MAX_GROUP_MEMBERS}).")
        result = await asyncio.to_thread(sim.engine.run_on_demand_group, object_id, members, sim.ids.client_id)
    return JSONResponse({"@odata.type": "#microsoft.graph.stringKeyStringValuePair", "key": "result",
                         "value": json.dumps(result, separators=(",", ":"))})


def routes() -> list[BaseRoute]:
    sp = GRAPH + "/servicePrincipals/{sp}/synchronization"
    app = GRAPH + "/applications/{app}/synchronization"
    return [
        Route(sp + "/jobs/{job}/schema", job_schema, methods=["GET", "PUT"]),
        Route(sp + "/templates", templates, methods=["GET"]),
        Route(sp + "/templates/{template}/schema", template_schema, methods=["GET"]),
        Route(app + "/templates", templates, methods=["GET"]),
        Route(app + "/templates/{template}/schema", template_schema, methods=["GET", "PUT"]),
        Route(sp + "/jobs/{job}/provisionOnDemand", on_demand, methods=["POST"]),
    ]
