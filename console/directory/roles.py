"""How a role's name is shown where the context already says "role".

6clicks receives roles from Entra as SCIM groups whose display name follows a convention (the connection's role
rule, ``prefix:Role - `` by default, or ``regex:EXPRESSION``). In a column, filter or heading that already says
"role", the rule's part of the name is noise ("Role: Role - Compliance Officer"), so it is left out there:
``role_label(rule, "Role - Compliance Officer")`` -> "Compliance Officer". Everywhere else (the Groups & roles
table, exports, the audit log) the name is shown as 6clicks has it.

``role_matcher`` is the rule itself (which groups are roles), used by ``Connection.is_role`` and so by snapshots
(the ``kind`` column) and operations. ``rule_text`` says the rule in words for the pages ("names starting with
“Role - ”"), instead of its stored form. UI-free; the rule comes as text or as a ``Connection`` (its ``role_rule``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from console.errors import InvalidInput
from console.i18n import _

DEFAULT_RULE = "prefix:Role - "


def _rule(rule: Any) -> str:
    text = rule if isinstance(rule, str) else getattr(rule, "role_rule", None)
    return str(text or DEFAULT_RULE)


@lru_cache(maxsize=32)
def _pattern(expression: str) -> re.Pattern[str] | None:
    try:
        return re.compile(expression)
    except re.error:  # an invalid rule is reported where it is edited; here the name is shown as it is
        return None


def role_matcher(rule: str | None) -> Callable[[str], bool]:
    """Whether a group's display name makes it a role under ``rule`` (``prefix:TEXT``: the name starts with TEXT;
    ``regex:EXPRESSION``: the expression is found in the name). Raises ``InvalidInput`` for a rule that cannot
    work (an empty prefix, an invalid expression, an unknown form), saying how to write it."""
    spec = rule or DEFAULT_RULE
    if spec.startswith("prefix:"):
        prefix = spec[len("prefix:"):]
        if not prefix:
            raise InvalidInput(_("The role rule 'prefix:' has an empty prefix."),
                               _("Give the text role names start with, e.g. 'prefix:Role - '."))
        return lambda name: name.startswith(prefix)
    if spec.startswith("regex:"):
        expression = spec[len("regex:"):]
        try:
            compiled = re.compile(expression)
        except re.error as exc:
            raise InvalidInput(_("The role rule's regular expression {expression} is invalid ({problem}).").format(
                expression=repr(expression), problem=exc), _("Fix the expression, e.g. 'regex:^(Role|Roles) - '.")) from None
        return lambda name: compiled.search(name) is not None
    raise InvalidInput(_("The role rule {rule} is not understood.").format(rule=repr(spec)),
                       _("Write it as 'prefix:TEXT' (default 'prefix:Role - ') or 'regex:EXPRESSION'."))


def role_label(rule: Any, name: Any) -> str:
    """``name`` without the rule's marker when the name starts with it: the prefix of a ``prefix:`` rule, or a
    ``regex:`` rule's match when it starts the name. A name that would be left empty, or that does not start
    with the marker, is returned whole (stripped). Not a string (missing, a number): its text, or ""."""
    if name is None:
        return ""
    text = str(name).strip()
    spec = _rule(rule)
    cut = 0
    if spec.startswith("prefix:"):
        prefix = spec[len("prefix:"):]
        if prefix and text.startswith(prefix.strip()):
            cut = len(prefix) if text.startswith(prefix) else len(prefix.strip())
    elif spec.startswith("regex:"):
        compiled = _pattern(spec[len("regex:"):])
        match = compiled.match(text) if compiled is not None else None
        if match is not None:
            cut = match.end()
    rest = text[cut:].strip(" -–—:·|/\t")
    return rest if cut and rest else text


def role_labels(rule: Any, names: Any) -> list[str]:
    """``role_label`` for many names (a list or a pandas Series)."""
    return [role_label(rule, n) for n in names]


def rule_text(rule: Any) -> str:
    """The role rule in words, in the current language: "names starting with “Role - ”" or "names matching
    “^(Role|Roles) - ”"."""
    spec = _rule(rule)
    if spec.startswith("prefix:"):
        return _("names starting with “{prefix}”").format(prefix=spec[len("prefix:"):])
    if spec.startswith("regex:"):
        return _("names matching the regular expression “{expression}”").format(expression=spec[len("regex:"):])
    return _("the rule “{rule}”").format(rule=spec)
