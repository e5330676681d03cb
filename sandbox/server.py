"""The sandbox's ASGI application and the state every part of it shares.

Modules: ``scim_app`` (SCIM under /scim), ``auth_api`` (the 6clicks token exchange, /healthz), ``admin``
(/sandbox-admin/*), ``edge`` (body cap, faults, request log), ``httpio`` (shared HTTP helpers); the Entra
simulator and Graph emulator add their routes through the hooks in ``sandbox.entra``.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import secrets
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .admin import admin_faults, admin_key, admin_keys, admin_policy, admin_tokens
from .auth import ALL_PERMISSIONS, PERMISSIONS, Auth
from .auth_api import healthz, token_endpoint
from .discovery import discovery
from .edge import Edge, error_for
from .faults import Faults
from .httpio import MAX_BODY, MAX_JSON_DEPTH, MAX_START_INDEX, note
from .policy import Tolerances
from .requestlog import RequestLog
from .scim_app import ScimApp
from .store import Store


@dataclass
class SandboxState:
    """Everything the server (and the Entra simulator, through its hooks) shares. See docs/sandbox.md."""

    config: argparse.Namespace
    data_dir: Path
    store: Store
    auth: Auth
    faults: Faults
    request_log: RequestLog
    admin_token: str
    max_page_size: int = 100
    base_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    policy: Tolerances = field(default_factory=Tolerances)
    _discovery: dict[str, Any] | None = None

    def issue_token(self, key_name: str, lifetime_seconds: float) -> str:
        """Mint an access token for the registered key ``key_name`` (raises AuthError if unknown)."""
        return self.auth.issue_token(key_name, lifetime_seconds)

    def register_api_key(self, key: str, name: str, permissions: list[str] | None = None) -> None:
        """Register ``key`` (stored hashed) under ``name`` with ``permissions`` (default: all six)."""
        self.auth.register_key(key, name, permissions)

    def is_admin(self, request: Request) -> bool:
        """True when the request comes from loopback with ``Authorization: Bearer <admin token>``."""
        client = request.client.host if request.client else ""
        try:
            if not ipaddress.ip_address(client).is_loopback:
                return False
        except ValueError:
            return False
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                                  self.admin_token.encode())

    @property
    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            self._discovery = discovery(self.base_url, self.max_page_size)
        return self._discovery



def build_app(state: SandboxState, extra_routes: list[BaseRoute], lifespan: Any = None) -> Any:
    scim_app = ScimApp(state)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/auth-api/1.0/auth/token", token_endpoint, methods=["POST"]),
        Route("/scim/{rest:path}", scim_app.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/scim", scim_app.handle, methods=["GET"]),
        Route("/sandbox-admin/faults", admin_faults, methods=["GET", "PUT"]),
        Route("/sandbox-admin/tokens", admin_tokens, methods=["POST"]),
        Route("/sandbox-admin/keys", admin_keys, methods=["GET", "POST"]),
        Route("/sandbox-admin/keys/{name}", admin_key, methods=["DELETE"]),
        Route("/sandbox-admin/keys/{name}/permissions", admin_key, methods=["PUT"]),
        Route("/sandbox-admin/policy", admin_policy, methods=["GET", "PUT"]),
        *extra_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Exception: _internal_error, 404: _http_error, 405: _http_error})
    app.state.sandbox = state
    return Edge(app, state)


async def _http_error(request: Request, exc: Exception) -> Response:
    """No such route (404) or method (405): an error body in the route's style, not Starlette's plain text."""
    status = int(getattr(exc, "status_code", 404))
    detail = ("No such endpoint in this sandbox; see docs/sandbox.md for its routes." if status == 404
              else f"{request.method} is not supported on this endpoint.")
    status, doc, media = error_for(request.url.path, status, detail, None)
    return Response(doc, status, dict(getattr(exc, "headers", None) or {}), media)


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A defect anywhere below: an error body in the route's style, the traceback on stderr."""
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    note(request, detail=f"internal error ({type(exc).__name__})")
    status, doc, media = error_for(request.url.path, 500, f"Internal error ({type(exc).__name__}); the request "
                                                           "changed nothing. See the server's stderr.", None)
    return Response(doc, status, None, media)


def make_state(config: argparse.Namespace, data_dir: Path, admin_token: str | None) -> SandboxState:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / "sandbox.db")
    return SandboxState(
        config=config, data_dir=data_dir, store=store, auth=Auth(store, data_dir), faults=Faults(),
        request_log=RequestLog(data_dir / "requests.log"),
        admin_token=admin_token or secrets.token_urlsafe(32),
        max_page_size=int(getattr(config, "max_page_size", 100) or 100),
        policy=Tolerances().strict(*(getattr(config, "strict", None) or [])),
    )


__all__ = ["ALL_PERMISSIONS", "MAX_BODY", "MAX_JSON_DEPTH", "MAX_START_INDEX", "PERMISSIONS", "SandboxState",
           "build_app", "make_state"]
