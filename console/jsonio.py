"""Compact JSON for what the console stores as received (log records, job answers, SCIM resources). A leaf."""

from __future__ import annotations

import json
from typing import Any

import orjson


def compact_json(value: Any) -> bytes | None:
    """orjson (fast) for the common case; the standard module for what orjson refuses (integers beyond 64 bits,
    objects it does not know); None when neither can (nesting deeper than either allows)."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        try:
            return json.dumps(value, default=str, ensure_ascii=False).encode()
        except (TypeError, ValueError, RecursionError):
            return None
