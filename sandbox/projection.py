"""``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5): case-insensitive, sub-attributes and URN
prefixes; ``id``, ``schemas`` and ``meta`` are always returned."""

from __future__ import annotations

from typing import Any

from .scim import CORE_GROUP, CORE_USER, ENTERPRISE


def _parse_attr_list(text: str | None) -> list[tuple[str | None, str, str | None]]:
    if not text:
        return []
    out = []
    for raw in text.split(","):
        raw = raw.strip()
        if not raw:
            continue
        uri = None
        low = raw.lower()
        for u in (ENTERPRISE, CORE_USER, CORE_GROUP):
            if low.startswith(u.lower() + ":"):
                uri, raw = u, raw[len(u) + 1:]
                break
            if low == u.lower():
                uri, raw = u, ""
                break
        attr, _, sub = raw.partition(".")
        out.append((uri, attr.lower(), sub.lower() or None))
    return out


_ALWAYS = {"id", "schemas", "meta"}


def project(doc: dict[str, Any], attributes: str | None, excluded: str | None) -> dict[str, Any]:
    """Apply ``attributes`` / ``excludedAttributes`` (case-insensitive; sub-attributes and URN prefixes)."""
    inc = _parse_attr_list(attributes)
    if inc:
        out: dict[str, Any] = {}
        for k, v in doc.items():
            kl = k.lower()
            if kl in _ALWAYS:
                out[k] = v
                continue
            if kl == ENTERPRISE.lower() and isinstance(v, dict):
                subs = [(a, s) for u, a, s in inc if u == ENTERPRISE]
                if any(a == "" for a, _ in subs):
                    out[k] = v
                    continue
                picked = {sk: sv for sk, sv in v.items() if any(a == sk.lower() for a, _ in subs)}
                if picked:
                    out[k] = picked
                continue
            wanted = [s for u, a, s in inc if a == kl and u != ENTERPRISE]
            if not wanted:
                continue
            if None in wanted or not isinstance(v, dict | list):
                out[k] = v
            elif isinstance(v, dict):
                out[k] = {sk: sv for sk, sv in v.items() if sk.lower() in wanted}
            else:
                out[k] = [{sk: sv for sk, sv in item.items() if sk.lower() in wanted}
                          for item in v if isinstance(item, dict)]
        return out
    exc = _parse_attr_list(excluded)
    if not exc:
        return doc
    out = dict(doc)
    for uri, attr, sub in exc:
        if attr in _ALWAYS:
            continue
        if uri == ENTERPRISE:
            ent = out.get(ENTERPRISE)
            if isinstance(ent, dict):
                out[ENTERPRISE] = {k: v for k, v in ent.items() if k.lower() != attr}
            continue
        for k in list(out):
            if k.lower() == attr:
                if sub is None:
                    del out[k]
                elif isinstance(out[k], dict):
                    out[k] = {sk: sv for sk, sv in out[k].items() if sk.lower() != sub}
                elif isinstance(out[k], list):
                    out[k] = [{sk: sv for sk, sv in i.items() if sk.lower() != sub}
                              for i in out[k] if isinstance(i, dict)]
    return out


def wants_members(attributes: str | None, excluded: str | None) -> bool:
    inc = _parse_attr_list(attributes)
    if inc:
        return any(a == "members" for _, a, _ in inc)
    return not any(a == "members" for _, a, _ in _parse_attr_list(excluded))

