"""The request log: one JSON object per line in ``<data-dir>/requests.log``.

Fields: ``ts`` (UTC), ``method``, ``path``, ``query`` (filters and paging only: this API never carries a
secret in a URL), ``status``, ``ms``, ``key`` (the API key's *name*), ``detail`` (error detail), ``fault``.
Never a token, key or Authorization header: the writer only accepts these fields.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import orjson

MAX_BYTES = 50 * 1024 * 1024
_SECRET_NAME = re.compile(r"token|secret|key|password|passwd|code|assertion|signature|sig$|auth", re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def scrub_query(query: str) -> str:
    """Redact query parameters that could carry a secret (by name, or any JWT-looking value).

    Nothing in this API puts a secret in a URL, but a misbehaving client might; the log must not keep it."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if sep and (_SECRET_NAME.search(unquote_plus(name)) or _JWT.search(unquote_plus(value))):
            value = "[redacted]"
        parts.append(name + sep + value)
    return "&".join(parts)
FIELDS = ("ts", "method", "path", "query", "status", "ms", "key", "detail", "fault")


class RequestLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh = open(self.path, "ab")
        self._size = self._fh.tell()

    def write(self, **entry: Any) -> None:
        rec = {k: entry[k] for k in FIELDS if entry.get(k) is not None}
        rec.setdefault("ts", datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        line = orjson.dumps(rec) + b"\n"
        with self._lock:
            if self._size + len(line) > MAX_BYTES:
                self._rotate()
            self._fh.write(line)
            self._fh.flush()
            self._size += len(line)

    def _rotate(self) -> None:
        self._fh.close()
        self.path.replace(self.path.with_name(self.path.name + ".1"))
        self._fh = open(self.path, "ab")
        self._size = 0

    def close(self) -> None:
        with self._lock:
            self._fh.close()


def tail(path: Path, n: int | None) -> Iterator[dict[str, Any]]:
    """The last ``n`` entries (all when None) of a request log; unreadable lines are skipped."""
    if not Path(path).exists():
        return
    with open(path, "rb") as fh:
        lines: Any = deque(fh, maxlen=n) if n else fh
        for line in lines:
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                continue


def format_entry(e: dict[str, Any]) -> str:
    q = f"?{e['query']}" if e.get("query") else ""
    extra = []
    if e.get("key"):
        extra.append(f"key={e['key']}")
    if e.get("fault"):
        extra.append(f"fault={e['fault']}")
    if e.get("detail"):
        extra.append(f"detail={e['detail']}")
    return (f"{e.get('ts', '?')} {e.get('status', '-'):>3} {e.get('ms', 0):>8.1f}ms {e.get('method', '?'):6} "
            f"{e.get('path', '?')}{q} {' '.join(extra)}").rstrip()
