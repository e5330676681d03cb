"""Admin routes (loopback + ``Authorization: Bearer $SCIM_SANDBOX_ADMIN_TOKEN``): faults, tokens, API keys and
the tolerance policy. Every error is a SCIM error body that also carries ``error`` (= ``detail``)."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .auth import ALL_PERMISSIONS, AuthError, normalise_permissions
from .httpio import json_response, note, read_json
from .policy import DESCRIPTIONS
from .scim import ERROR_URN, ScimHTTPError
from .store import StoreConflict, StoreNotFound

if TYPE_CHECKING:
    from .server import SandboxState


def admin_error(status: int, detail: str, scim_type: str | None = None) -> Response:
    """An admin route's error: a SCIM error body, plus ``error`` (the admin routes' original field)."""
    doc: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(status)}
    if scim_type:
        doc["scimType"] = scim_type
    doc["detail"] = detail
    doc["error"] = detail
    return json_response(doc, status)


# Errors a handler raises when a body has the wrong shape (a wrong type reaching float(), int(), len(), a
# missing key, ...): answered 400. Anything else is a defect and stays a 500 (with an error body, see Edge).
INPUT_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError)


def admin_guard(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def guarded(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        client = request.client.host if request.client else ""
        try:
            loopback = ipaddress.ip_address(client).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            note(request, detail="admin route from a non-loopback address")
            return admin_error(403, "Admin routes answer only on loopback.")
        if not state.is_admin(request):
            note(request, detail="admin token missing or wrong")
            return admin_error(401, "Send Authorization: Bearer $SCIM_SANDBOX_ADMIN_TOKEN.")
        note(request, key="(admin)")
        try:
            return await handler(request)
        except ScimHTTPError as exc:
            note(request, detail=exc.detail)
            return admin_error(exc.status, exc.detail, exc.scim_type)
        except INPUT_ERRORS as exc:
            detail = str(exc) if isinstance(exc, ValueError) else f"The request body has the wrong shape ({exc!r})."
            note(request, detail=detail[:300])
            return admin_error(400, detail[:1000], "invalidValue")
    return guarded


async def _admin_body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ValueError("Send a JSON object.")
    return body


def _number(body: dict[str, Any], name: str, *, low: float, high: float, integer: bool = False) -> Any:
    """A finite number in [low, high] (booleans are not numbers here); absent/null -> None."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number.")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}.")
    return value


def _string(body: dict[str, Any], name: str, *, required: bool, max_length: int = 200) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string.")
    if len(value) > max_length:
        raise ValueError(f"{name} must be at most {max_length} characters.")
    return value


def _permission_list(value: Any) -> list[str]:
    """``permissions`` as sent: a list of names ([] = none). A string or anything else is refused."""
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError("permissions must be a list of permission names, e.g. [\"integrations\", "
                         "\"create-users\"] ([] = none).")
    return normalise_permissions(value)


@admin_guard
async def admin_faults(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    if request.method == "PUT":
        body = await _admin_body(request)
        for name in ("latency_ms", "rate_429", "rate_500", "rate_drop"):
            _number(body, name, low=0, high=60_000)
        _number(body, "retry_after", low=0, high=86_400, integer=True)
        _number(body, "seed", low=-(2**63), high=2**63 - 1, integer=True)
        _string(body, "paths", required=False, max_length=1000)
        state.faults.set(**body)
    return json_response(state.faults.as_dict())


@admin_guard
async def admin_tokens(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    body = await _admin_body(request)
    name = _string(body, "key_name", required=True)
    lifetime = _number(body, "lifetime_seconds", low=-(10 * 365 * 86400), high=10 * 365 * 86400)
    try:
        return json_response({"accessToken": state.issue_token(str(name), 3600 if lifetime is None else lifetime)})
    except AuthError as exc:
        return admin_error(404, str(exc))


@admin_guard
async def admin_keys(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    if request.method == "GET":
        return json_response([{"name": k.name, "permissions": k.permissions, "created": k.created}
                      for k in state.store.list_keys()])
    body = await _admin_body(request)
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise ValueError("Send {\"name\": str, \"permissions\": [..] (absent: all six; []: none), "
                         "\"apiKey\": optional str}.")
    name = str(_string(body, "name", required=True))
    perms = list(ALL_PERMISSIONS) if body.get("permissions") is None else _permission_list(body["permissions"])
    key = _string(body, "apiKey", required=False, max_length=500) if body.get("apiKey") != "" else None
    try:
        if key:
            state.auth.register_key(key, name, perms)
        else:
            key = state.auth.create_key(name, perms)
    except StoreConflict as exc:
        return admin_error(409, str(exc), "uniqueness")
    return json_response({"name": name, "apiKey": key, "permissions": perms}, 201)


@admin_guard
async def admin_key(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    name = request.path_params["name"]
    if request.method == "DELETE":
        if not state.store.revoke_key(name):
            return admin_error(404, f"No API key named {name!r}.")
        return Response(status_code=204)
    body = await _admin_body(request)
    if "permissions" not in body:
        raise ValueError("Send {\"permissions\": [..]} (an empty list removes all).")
    perms = _permission_list(body["permissions"])
    try:
        rec = state.store.set_key_permissions(name, perms)
    except StoreNotFound:
        return admin_error(404, f"No API key named {name!r}.")
    return json_response({"name": rec.name, "permissions": rec.permissions})



@admin_guard
async def admin_policy(request: Request) -> Response:
    """GET: the tolerances and what each does; PUT ``{"name": true|false, ...}``: switch some (the others keep
    their value); ``{"reset": true}`` restores the defaults (all tolerant)."""
    state: SandboxState = request.app.state.sandbox
    if request.method == "PUT":
        body = await _admin_body(request)
        if body.get("reset") is True and len(body) == 1:
            state.policy = type(state.policy)()
        else:
            state.policy = state.policy.with_changes(body)
        note(request, detail="policy: " + ", ".join(f"{k}={v}" for k, v in state.policy.as_dict().items()))
    return json_response({"tolerances": state.policy.as_dict(), "descriptions": DESCRIPTIONS})
