"""The request log: one JSON object per line in ``<data-dir>/requests.log``.

Fields: ``ts`` (UTC), ``method``, ``path``, ``query`` (filters and paging only: this API never carries a
secret in a URL), ``status``, ``ms``, ``key`` (the API key's *name*), ``detail`` (error detail), ``fault``.
Never a token, key or Authorization header: the writer only accepts these fields, and every text field is passed
through :func:`scrub`, which removes secrets by their *shape* wherever they are (a client may well put a key in a
path, a query value under an innocuous name, or a body that ends up in an error detail).

The console has the same rules in ``console/redact.py``; this is a separate, smaller implementation on purpose:
the sandbox imports neither ``console`` nor ``scim_client``, so that a bug in one cannot hide a bug in the other
(tests/sandbox and tests/reliability check both).
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
_REDACTED = "[redacted]"
#: Secret shapes, removed wherever they appear: JWTs, the sandbox's API keys (6ck_ + 40 hex), Entra client secrets
#: (3 characters, a digit, "Q~", 31-34 more), the credential after Bearer/Basic, and long high-entropy tokens.
_SHAPES = [
    re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?<![A-Za-z0-9_])6ck_[A-Za-z0-9_]{16,}"),
    re.compile(r"(?<![A-Za-z0-9_.~-])[A-Za-z0-9_.-]{3}[0-9]Q~[A-Za-z0-9_.~-]{31,34}(?![A-Za-z0-9_.~-])"),
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{6,}|(?<=basic )[A-Za-z0-9+/=]{6,}"),
    re.compile(r"(?i)(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in a URL
]
_VALUE_AFTER_NAME = re.compile(
    r"(?i)((?:api[_-]?key|apikey|secret|token|password|passwd|passphrase|assertion|signature"
    r"|authorization)[\"']?\s*[=:]\s*[\"']?)([^\s\"'&,;}\]]{6,})")
_LONG = re.compile(r"(?<![A-Za-z0-9_+=-])[A-Za-z0-9_+=-]{32,}(?![A-Za-z0-9_+=-])")


def _high_entropy(m: re.Match[str]) -> str:
    """Mixed case with a digit, or (a random token need not hold a digit) upper-case letters too many for words
    (a quarter and more; CamelCase error codes have about one in seven)."""
    s = m.group(0)
    letters = [c for c in s if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    mixed = bool(letters) and 0 < upper < len(letters) and (any(c.isdigit() for c in s) or upper >= len(letters) / 4)
    return _REDACTED if mixed else s


def _credential_value(m: re.Match[str]) -> str:
    """The value after a credential-ish name, unless it is a plain word ("token: expired" stays readable)."""
    value = m.group(2)
    plain = value.isalpha() and (value.islower() or value.isupper() or value.istitle())
    return m.group(0) if "[redacted" in value or plain else m.group(1) + _REDACTED


def scrub(text: str) -> str:
    """``text`` without anything shaped like a secret (see the module docstring)."""
    for pattern in _SHAPES:
        text = pattern.sub(_REDACTED, text)
    text = _VALUE_AFTER_NAME.sub(_credential_value, text)
    return _LONG.sub(_high_entropy, text)


def scrub_query(query: str) -> str:
    """Redact query parameters that could carry a secret: by name, and any secret-shaped value (:func:`scrub`)."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if sep and _SECRET_NAME.search(unquote_plus(name)):
            value = _REDACTED
        elif sep and scrub(unquote_plus(value)) != unquote_plus(value):
            value = _REDACTED
        parts.append(scrub(name) + sep + value)
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
        for k in ("path", "query", "key", "detail", "fault"):
            if isinstance(rec.get(k), str):
                rec[k] = scrub(rec[k])
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
