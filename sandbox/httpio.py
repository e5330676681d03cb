"""HTTP helpers shared by the sandbox's routes: SCIM/JSON responses, the request-log note, reading a JSON body
(size and depth capped), ``meta.location`` completion, query-string checks."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .scim import SCIM_JSON, ScimHTTPError, bad_request
from .store import LOCATION_PREFIX

MAX_BODY = 1024 * 1024  # every route, enforced by Edge before any handler runs (413)
MAX_JSON_DEPTH = 64  # SCIM and admin bodies nest a handful of levels; deeper bodies are refused (400)
MAX_START_INDEX = 2**31 - 1  # larger startIndex values are refused (400); SQLite offsets are 64-bit


def scim_response(body: bytes | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    if isinstance(body, dict):
        body = orjson.dumps(body)
    return Response(body, status_code=status, media_type=SCIM_JSON, headers=headers)


def note(request: Request, **values: Any) -> None:
    info = request.scope.get("sandbox.log")
    if isinstance(info, dict):
        info.update(values)


def error_response(request: Request, exc: ScimHTTPError) -> Response:
    note(request, detail=exc.detail)
    return Response(exc.body(), status_code=exc.status, media_type=SCIM_JSON, headers=exc.headers)


async def read_json(request: Request) -> Any:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise ScimHTTPError(413, f"The request body is larger than {MAX_BODY} bytes (1 MiB).", "tooLarge")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ScimHTTPError(413, f"The request body is larger than {MAX_BODY} bytes (1 MiB).", "tooLarge")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise bad_request("The request body is empty; send a JSON object.", "invalidSyntax")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON ({exc}).", "invalidSyntax") from None
    if too_deep(value):
        raise bad_request(f"The request body nests deeper than {MAX_JSON_DEPTH} levels; SCIM resources and "
                          "requests need only a few.", "invalidSyntax")
    return value


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than ``limit`` (iterative: deep input cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def with_location(raw: bytes, base_url: str) -> bytes:
    return raw.replace(LOCATION_PREFIX, b'"location":"' + base_url.encode() + b"/scim/")


def full_doc(doc: dict[str, Any], base_url: str) -> dict[str, Any]:
    meta = doc.get("meta")
    if isinstance(meta, dict) and str(meta.get("location", "")).startswith("/"):
        doc = dict(doc)
        doc["meta"] = {**meta, "location": base_url + meta["location"]}
    return doc


def int_param(q: Any, name: str, default: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise bad_request(f"{name} must be an integer.", "invalidValue")
    try:
        return int(raw)
    except ValueError:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise bad_request(f"{name} must be an integer (got {shown!r}).", "invalidValue") from None


def check_query_text(request: Request) -> None:
    """Refuse a query string whose percent-escapes are not UTF-8 text (``%ED%A0%80`` encodes a lone surrogate):
    decoded leniently it would become U+FFFD and silently match nothing."""
    raw = request.scope.get("query_string", b"")
    if b"%" not in raw:
        return
    try:
        parse_qsl(raw.decode("latin-1"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        scim_type = "invalidFilter" if b"filter=" in raw.lower() else "invalidValue"
        raise bad_request("The query string is not UTF-8 text once percent-decoded (an escape such as %ED%A0%80 "
                          "is a lone surrogate or a broken sequence); encode parameters as UTF-8.", scim_type
                          ) from None



def json_response(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")
