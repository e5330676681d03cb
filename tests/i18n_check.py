"""Finding English left in a page rendered in Japanese: every visible string of an AppTest run (Markdown texts,
labels, help, options, placeholders, chart titles) is searched for a run of three English words once proper
names (6clicks, Microsoft Entra ID, SCIM, ...) and the test's own data values are taken out."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

#: proper names and technical terms that stay in Latin script in the Japanese UI (see docs/glossary-ja.md)
ALLOWED = (
    "Microsoft Entra ID", "Microsoft Entra", "Entra ID", "Microsoft Graph", "Microsoft Learn", "Entra", "Graph",
    "6clicks", "SCIM", "CSV", "JSON", "API", "URL", "TLS", "HTTP", "HTTPS", "UTC", "GUID", "ID", "SSO", "JIT",
    "OAuth", "Bearer", "apprise", "cron", "systemd", "keyring", "PowerShell", "Streamlit", "iCalendar", ".ics",
    "SCIM_CONSOLE_LANG", "python -m console", "English", "DEMO", "Switch", "IsSoftDeleted", "userPrincipalName",
    "objectId", "externalId", "displayName", "givenName", "familyName", "surname", "mail", "userName",
    "emails[type eq \"work\"].value", "name.givenName", "name.familyName", "members", "active",
)
_WORD_RUN = re.compile(r"(?<![\w@./:-])[A-Za-z][a-z'’]+(?:[ ,]{1,2}[A-Za-z][a-z'’]*){2,}")
_CODE = re.compile(r"`[^`]*`|https?://\S+|\S+@\S+|\{[^}]*\}|:material/[a-z_]+:")
STRING_FIELDS = frozenset({"body", "label", "help", "text", "delta", "content", "title", "placeholder",
                           "options", "default", "value", "caption"})
SKIP_ELEMENTS = frozenset({"Dataframe", "ArrowDataFrame", "Json", "Code"})


def english_sentences(strings: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """The runs of three or more English words found in ``strings`` (each reported with its string)."""
    extra = sorted({a for a in allowed if a}, key=len, reverse=True)
    names = sorted(set(ALLOWED) | set(extra), key=len, reverse=True)
    found = []
    for text in strings:
        cleaned = _CODE.sub(" ", str(text))
        for name in names:
            cleaned = cleaned.replace(name, " ")
        for match in _WORD_RUN.finditer(cleaned):
            found.append(f"{match.group(0)!r} in {str(text)[:160]!r}")
    return found


def visible_strings(at: Any) -> list[str]:
    """Every string of the last run an operator can read, from every element and block."""
    out: list[str] = []

    def collect(message: Any) -> None:
        for descriptor, value in message.ListFields():
            repeated = getattr(descriptor, "is_repeated", None)
            if repeated is None:
                repeated = descriptor.label == descriptor.LABEL_REPEATED
            items = list(value) if repeated else [value]
            if descriptor.type == descriptor.TYPE_MESSAGE:
                for item in items:
                    collect(item)
            elif descriptor.type == descriptor.TYPE_STRING and descriptor.name in STRING_FIELDS:
                out.extend(str(item) for item in items)
            elif descriptor.type == descriptor.TYPE_STRING and descriptor.name == "spec":  # a Plotly figure
                for item in items:
                    out.extend(_figure_texts(str(item)))

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and proto.DESCRIPTOR.name not in SKIP_ELEMENTS:
            collect(proto)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return out


def _figure_texts(spec: str) -> list[str]:
    """A Plotly figure's titles, axis titles and legend names (its data values are the test's data)."""
    try:
        figure = json.loads(spec)
    except ValueError:
        return []
    out: list[str] = []
    layout = figure.get("layout", {}) if isinstance(figure, dict) else {}

    def title(node: Any) -> None:
        if isinstance(node, dict):
            text = node.get("title")
            if isinstance(text, dict):
                text = text.get("text")
            if isinstance(text, str):
                out.append(text)

    title(layout)
    for key, value in layout.items():
        if key.startswith(("xaxis", "yaxis")):
            title(value)
        if key == "annotations" and isinstance(value, list):
            out.extend(str(a.get("text", "")) for a in value if isinstance(a, dict))
    for trace in figure.get("data", []) if isinstance(figure, dict) else []:
        if isinstance(trace, dict) and isinstance(trace.get("name"), str):
            out.append(trace["name"])
        if isinstance(trace, dict) and isinstance(trace.get("hovertemplate"), str):
            out.append(re.sub(r"%\{[^}]*\}|<[^>]+>", " ", trace["hovertemplate"]))
    return out
