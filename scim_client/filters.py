"""Build SCIM filter expressions (RFC 7644 §3.4.2.2) without concatenating user input.

String values are written as JSON string literals (RFC 7644 says compValue strings are JSON strings), so
double quotes, backslashes and control characters are escaped. Attribute paths are validated against the
ABNF (``[urn:...:]attr[.sub]`` and ``attr[filter].sub``), so a value can never break out into the filter.

    >>> from scim_client import filters as f
    >>> str(f.eq("userName", 'o"brien'))
    'userName eq "o\\\\"brien"'
    >>> str(f.and_(f.sw("userName", "a"), f.eq("active", True)))
    'userName sw "a" and active eq true'
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

_ATTR = r"[A-Za-z][A-Za-z0-9_$-]*"
_URN = r"urn:[A-Za-z0-9][A-Za-z0-9.:_\-]*:"
_ATTR_PATH_RE = re.compile(rf"^(?:{_URN})?{_ATTR}(?:\.{_ATTR})?$")

OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le")


class Filter:
    """A filter expression. ``str()`` gives the text for the ``filter`` query parameter."""

    __slots__ = ("_precedence", "_text")

    def __init__(self, text: str, precedence: int) -> None:
        self._text = text
        self._precedence = precedence  # 3 atom, 2 and, 1 or

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Filter({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __and__(self, other: Filter) -> Filter:
        return and_(self, other)

    def __or__(self, other: Filter) -> Filter:
        return or_(self, other)

    def __invert__(self) -> Filter:
        return not_(self)


def attribute(path: str) -> str:
    """Validate an attribute path (``userName``, ``name.givenName``, ``urn:...:User:manager.value``)."""
    if not isinstance(path, str) or not _ATTR_PATH_RE.match(path):
        raise ValueError(f"not a SCIM attribute path: {path!r}")
    return path


def literal(value: Any) -> str:
    """A SCIM comparison value: JSON string, true/false, null, or a number. Datetimes become strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity cannot be compared in a SCIM filter")
        return json.dumps(value)
    if isinstance(value, datetime):
        return json.dumps(value.isoformat().replace("+00:00", "Z"))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot use a {type(value).__name__} in a SCIM filter")


def compare(path: str, op: str, value: Any) -> Filter:
    op = op.lower()
    if op not in OPERATORS:
        raise ValueError(f"unknown SCIM comparison operator {op!r}")
    if op in ("co", "sw", "ew") and not isinstance(value, str):
        raise TypeError(f"'{op}' compares strings only")
    return Filter(f"{attribute(path)} {op} {literal(value)}", 3)


def eq(path: str, value: Any) -> Filter:
    return compare(path, "eq", value)


def ne(path: str, value: Any) -> Filter:
    return compare(path, "ne", value)


def co(path: str, value: str) -> Filter:
    return compare(path, "co", value)


def sw(path: str, value: str) -> Filter:
    return compare(path, "sw", value)


def ew(path: str, value: str) -> Filter:
    return compare(path, "ew", value)


def gt(path: str, value: Any) -> Filter:
    return compare(path, "gt", value)


def ge(path: str, value: Any) -> Filter:
    return compare(path, "ge", value)


def lt(path: str, value: Any) -> Filter:
    return compare(path, "lt", value)


def le(path: str, value: Any) -> Filter:
    return compare(path, "le", value)


def pr(path: str) -> Filter:
    return Filter(f"{attribute(path)} pr", 3)


def _operand(f: Filter, precedence: int) -> str:
    if not isinstance(f, Filter):
        raise TypeError("combine Filter objects built by scim_client.filters, not strings")
    return f._text if f._precedence >= precedence else f"({f._text})"


def and_(*parts: Filter) -> Filter:
    if not parts:
        raise ValueError("and_ needs at least one filter")
    if len(parts) == 1:
        return parts[0]
    return Filter(" and ".join(_operand(p, 2) for p in parts), 2)


def or_(*parts: Filter) -> Filter:
    if not parts:
        raise ValueError("or_ needs at least one filter")
    if len(parts) == 1:
        return parts[0]
    return Filter(" or ".join(_operand(p, 1) for p in parts), 1)


def not_(part: Filter) -> Filter:
    if not isinstance(part, Filter):
        raise TypeError("not_ takes a Filter")
    return Filter(f"not ({part._text})", 3)


def value_path(path: str, inner: Filter, sub_attr: str | None = None) -> Filter:
    """``emails[type eq "work"]`` as a filter atom (RFC 7644 valuePath).

    ``sub_attr`` appends ``.value`` etc.: that form is a PATCH path, not a filter on its own; for Entra's
    ``emails[type eq "work"].value eq "x"`` use :func:`value_path_compare`.
    """
    if not isinstance(inner, Filter):
        raise TypeError("value_path takes a Filter")
    attribute(path)
    text = f"{path}[{inner._text}]"
    if sub_attr is not None:
        text += "." + attribute(sub_attr)
    return Filter(text, 3)


def value_path_compare(path: str, inner: Filter, sub_attr: str, op: str, value: Any) -> Filter:
    """``emails[type eq "work"].value eq "x"``."""
    op = op.lower()
    if op not in OPERATORS:
        raise ValueError(f"unknown SCIM comparison operator {op!r}")
    return Filter(f"{value_path(path, inner, sub_attr)._text} {op} {literal(value)}", 3)


def as_text(f: Filter | str | None) -> str | None:
    """The filter text for a request. Plain strings are passed through (the caller wrote them)."""
    if f is None:
        return None
    return str(f)
