"""Entra attribute-mapping expressions: Graph's ``attributeMappingSource`` objects, their expression text, and
their evaluation against one source object.

An ``attributeMappingSource`` is ``{"expression", "name", "type": Attribute|Constant|Function, "parameters":
[{"key", "value": <attributeMappingSource>}]}``. The text form is Entra's: ``[mail]``, ``"True"``,
``Switch([IsSoftDeleted], , "False", "True", "True", "False")`` (an empty argument is the empty constant).
The simulator evaluates the functions a SCIM mapping for 6clicks plausibly uses; anything else is refused with
a message that names the ones it knows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# name -> parameter keys in order (the last one repeats for functions with a variable number of arguments)
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "Switch": ("source", "defaultValue", "key", "value"),
    "Not": ("source",),
    "Join": ("separator", "source"),
    "ToLower": ("source",),
    "ToUpper": ("source",),
    "Coalesce": ("source",),
    "Append": ("source", "suffix"),
}
VARIADIC = {"Switch", "Join", "Coalesce"}
MAX_EXPRESSION = 2000
_TOKEN = re.compile(r'\s*(?:(\[[^\]]*\])|("(?:[^"\\]|\\.)*")|([A-Za-z][A-Za-z0-9]*)\s*\(|(,)|(\))|(-?\d+))')


class ExpressionError(ValueError):
    """An expression or mapping source the simulator cannot use; the message says what to send instead."""


def attribute(name: str) -> dict[str, Any]:
    return {"expression": f"[{name}]", "name": name, "parameters": [], "type": "Attribute"}


def constant(value: str) -> dict[str, Any]:
    return {"expression": _quote(value) if value else "", "name": value, "parameters": [], "type": "Constant"}


def function(name: str, *args: dict[str, Any]) -> dict[str, Any]:
    keys = FUNCTIONS[name]
    params = []
    for i, arg in enumerate(args):
        key = keys[i] if i < len(keys) else (keys[2 + (i - 2) % 2] if name == "Switch" else keys[-1])
        params.append({"key": key, "value": arg})
    return {"expression": f"{name}({', '.join(a['expression'] for a in args)})", "name": name,
            "parameters": params, "type": "Function"}


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse(text: str) -> dict[str, Any]:
    """Expression text -> attributeMappingSource. Raises ExpressionError with the position of the problem."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("An empty expression: send e.g. \"[mail]\" or \"Switch([IsSoftDeleted], , ...)\".")
    if len(text) > MAX_EXPRESSION:
        raise ExpressionError(f"The expression is longer than {MAX_EXPRESSION} characters.")
    pos = 0

    def node(allow_empty: bool) -> dict[str, Any]:
        nonlocal pos
        m = _TOKEN.match(text, pos)
        if m is None or m.group(4) or m.group(5):
            if allow_empty and (m is not None):
                return constant("")
            raise ExpressionError(f"Cannot read the expression {text!r} at character {pos + 1}.")
        pos = m.end()
        if m.group(1):
            return attribute(m.group(1)[1:-1].strip())
        if m.group(2):
            return constant(re.sub(r"\\(.)", r"\1", m.group(2)[1:-1]))
        if m.group(6):
            return constant(m.group(6))
        name = m.group(3)
        args = []
        while True:
            args.append(node(True))
            m2 = _TOKEN.match(text, pos)
            if m2 is None or not (m2.group(4) or m2.group(5)):
                raise ExpressionError(f"Expected ',' or ')' in {text!r} at character {pos + 1}.")
            pos = m2.end()
            if m2.group(5):
                break
        if name not in FUNCTIONS:
            raise ExpressionError(f"The simulator does not evaluate the function {name}(); it knows "
                                  f"{', '.join(sorted(FUNCTIONS))}.")
        params = [{"key": str(i), "value": a} for i, a in enumerate(args)]
        return {"expression": "", "name": name, "parameters": params, "type": "Function"}

    out = node(False)
    if text[pos:].strip():
        raise ExpressionError(f"Unexpected text after the expression {text!r} at character {pos + 1}.")
    return out


def normalise(source: Any, where: str, depth: int = 0) -> dict[str, Any]:
    """A PUT's attributeMappingSource -> the canonical form (structured, with the expression text regenerated).
    ``type``/``name``/``parameters`` win; a source with only ``expression`` is parsed."""
    if depth > 20:
        raise ExpressionError(f"{where}: the expression nests more than 20 functions deep.")
    if not isinstance(source, dict):
        raise ExpressionError(f"{where}: source must be an attributeMappingSource object "
                              '({"expression": "[mail]", "name": "mail", "type": "Attribute"}).')
    kind = source.get("type")
    if kind is None:
        if isinstance(source.get("expression"), str):
            return normalise(parse(source["expression"]), where, depth)
        raise ExpressionError(f"{where}: source needs a type (Attribute, Constant or Function) or an expression.")
    name = source.get("name")
    if kind not in ("Attribute", "Constant", "Function"):
        raise ExpressionError(f"{where}: source type {kind!r} is not Attribute, Constant or Function.")
    if not isinstance(name, str) or (kind != "Constant" and not name.strip()):
        raise ExpressionError(f"{where}: source name must be a non-empty string (the attribute or function name).")
    if kind == "Attribute":
        return attribute(name.strip())
    if kind == "Constant":
        return constant(name)
    if name not in FUNCTIONS:
        raise ExpressionError(f"{where}: the simulator does not evaluate the function {name}(); it knows "
                              f"{', '.join(sorted(FUNCTIONS))}.")
    params = source.get("parameters") or []
    if not isinstance(params, list) or not all(isinstance(p, dict) and "value" in p for p in params):
        raise ExpressionError(f"{where}: parameters must be a list of {{\"key\": ..., \"value\": {{...}}}}.")
    args = [normalise(p["value"], f"{where} > {name}", depth + 1) for p in params]
    need = 1 if name in ("Not", "ToLower", "ToUpper", "Coalesce") else 2
    if len(args) < need or (name not in VARIADIC and len(args) > len(FUNCTIONS[name])):
        raise ExpressionError(f"{where}: {name}() takes {'at least ' if name in VARIADIC else ''}{need} "
                              f"argument(s), not {len(args)}.")
    if name == "Switch" and len(args) % 2:
        raise ExpressionError(f"{where}: Switch(source, default, key, value, ...) needs key/value pairs.")
    return function(name, *args)


def attributes_used(source: dict[str, Any]) -> set[str]:
    if source["type"] == "Attribute":
        return {source["name"]}
    out: set[str] = set()
    for p in source.get("parameters") or []:
        out |= attributes_used(p["value"])
    return out


Value = str | None


def evaluate(source: dict[str, Any], values: Mapping[str, Value] | Callable[[str], Value]) -> Value:
    """The string an expression yields for one source object (``values`` maps attribute names to strings)."""
    kind = source["type"]
    if kind == "Attribute":
        return values(source["name"]) if callable(values) else values.get(source["name"])
    if kind == "Constant":
        return source["name"]
    args = [p["value"] for p in source.get("parameters") or []]
    name = source["name"]

    def ev(i: int) -> Value:
        return evaluate(args[i], values)
    if name == "Switch":
        subject = ev(0)
        for i in range(2, len(args) - 1, 2):
            if ev(i) == subject:
                return ev(i + 1)
        default = ev(1)
        return default if default != "" else None
    if name == "Not":
        v = ev(0)
        return None if v is None else ("False" if v.lower() == "true" else "True")
    if name == "Join":
        parts = [ev(i) for i in range(1, len(args))]
        return (ev(0) or "").join(p for p in parts if p)
    if name in ("ToLower", "ToUpper"):
        v = ev(0)
        return None if v is None else (v.lower() if name == "ToLower" else v.upper())
    if name == "Coalesce":
        return next((v for v in (ev(i) for i in range(len(args))) if v), None)
    if name == "Append":
        return (ev(0) or "") + (ev(1) or "")
    raise ExpressionError(f"Unknown function {name}().")
