"""The 6clicks auth API (``POST /auth-api/1.0/auth/token``: API key -> access token) and ``GET /healthz``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from .auth import AuthError, hash_key
from .httpio import json_response, note, read_json
from .scim import ScimHTTPError, parse_bool

if TYPE_CHECKING:
    from .server import SandboxState


async def token_endpoint(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    try:
        body = await read_json(request)
    except ScimHTTPError as exc:
        note(request, detail=exc.detail)
        return json_response({"error": exc.detail}, exc.status)
    if not isinstance(body, dict):
        return json_response({"error": "Send a JSON object {\"apiKey\": ..., \"isLongLivedToken\": true}."}, 400)
    lowered = {str(k).lower(): v for k, v in body.items()}
    api_key = lowered.get("apikey")
    if not isinstance(api_key, str) or not api_key.strip():
        note(request, detail="apiKey missing")
        return json_response({"error": "apiKey is required."}, 400)
    long_lived = lowered.get("islonglivedtoken", False)
    try:
        long_lived = parse_bool(long_lived, "isLongLivedToken") if long_lived is not None else False
    except ScimHTTPError as exc:
        return json_response({"error": exc.detail}, 400)
    try:
        token = state.auth.exchange(api_key, bool(long_lived))
    except AuthError as exc:
        note(request, detail=str(exc))
        return json_response({"error": str(exc)}, 401)
    rec = state.store.key_by_hash(hash_key(api_key))
    if rec is not None:
        note(request, key=rec.name)
    return json_response({"accessToken": token})


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})

