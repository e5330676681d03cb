"""The sandbox's tolerances: the deliberate departures from strict SCIM that let Microsoft Entra ID's
provisioning traffic (and 6clicks' own semantics) through, as ONE frozen object.

Every tolerance is on by default (the sandbox behaves like 6clicks as Entra meets it). Switching one off makes
the server strict about that point, answering 400 with the ``scimType`` RFC 7644 gives, so tests can show what
a stricter service provider would do to Entra's requests. Names are kebab-case (``case-insensitive-op``); the
attribute is the same name in snake_case. Change them with ``python -m sandbox serve --strict NAME`` (repeat),
``PUT /sandbox-admin/policy {"NAME": false}`` or, in-process, ``Tolerances().with_changes({...})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

DESCRIPTIONS: dict[str, str] = {
    "case-insensitive-op": 'PATCH "op" compared case-insensitively ("Replace", "Add", "Remove"); off: only '
                           "add/replace/remove in lower case (400 invalidSyntax)",
    "string-booleans": 'boolean attributes (active) accept the strings "True"/"False" in any case; off: only JSON '
                       "booleans (400 invalidValue)",
    "dotted-keys": "a PATCH operation without path may hold dotted keys (name.givenName) and full URN attribute keys; "
                   "off: 400 invalidPath (the enterprise URN holding an object stays allowed, as RFC 7644 has it)",
    "member-value-list": 'group members are removed with a value list ({"op": "Remove", "path": "members", "value": '
                         '[{"value": id}]}); off: only members[value eq "id"] paths (400 invalidPath)',
    "unknown-schema-uri": "schema URIs other than the resource's own (Microsoft's ADSCIM Group URI) are dropped; "
                          "off: 400 invalidSyntax",
    "explicit-nulls": "attributes sent as null count as absent (a PATCH to null removes); off: 400 invalidValue",
    "bare-manager-id": "the enterprise manager may be a bare string id or a one-element list; off: only "
                       '{"value": id} (400 invalidValue)',
    "ignored-immutable": "updates to userName and e-mails are accepted and ignored (6clicks keeps the values it was "
                         "created with); off: a changed value is refused (400 mutability)",
    "typed-element-create": 'a path such as emails[type eq "work"].value on a user without such an element creates '
                            "it; off: 400 noTarget",
    "unknown-attributes": "user attributes outside the User and enterprise User schemas (an extra Entra mapping, a "
                          "custom extension) are ignored, so they do not fail a whole create; off: 400 invalidValue "
                          "(POST/PUT) or invalidPath (PATCH)",
    "manager-path": 'the PATCH path "manager" (Microsoft\'s documented form) means the enterprise extension\'s manager; '
                    "off: 400 invalidPath",
}


@dataclass(frozen=True, slots=True)
class Tolerances:
    """Which Entra/6clicks tolerances the SCIM server applies (True = tolerant, the default)."""

    case_insensitive_op: bool = True
    string_booleans: bool = True
    dotted_keys: bool = True
    member_value_list: bool = True
    unknown_schema_uri: bool = True
    explicit_nulls: bool = True
    bare_manager_id: bool = True
    ignored_immutable: bool = True
    typed_element_create: bool = True
    unknown_attributes: bool = True
    manager_path: bool = True

    @staticmethod
    def names() -> tuple[str, ...]:
        """Every tolerance's kebab-case name, in declaration order."""
        return tuple(f.name.replace("_", "-") for f in fields(Tolerances))

    def as_dict(self) -> dict[str, bool]:
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)}

    def with_changes(self, changes: Mapping[str, object]) -> Tolerances:
        """A copy with the named tolerances set (kebab- or snake-case names; values must be booleans)."""
        known = {n.replace("-", "_") for n in self.names()}
        updates: dict[str, bool] = {}
        for name, value in changes.items():
            attr = str(name).strip().lower().replace("-", "_")
            if attr not in known:
                raise ValueError(f"Unknown tolerance {name!r}; known: {', '.join(self.names())}.")
            if not isinstance(value, bool):
                raise ValueError(f"Tolerance {name!r} must be true or false.")
            updates[attr] = value
        return replace(self, **updates)

    def strict(self, *names: str) -> Tolerances:
        """A copy with the named tolerances switched off."""
        return self.with_changes(dict.fromkeys(names, False))


DEFAULT = Tolerances()
STRICT = Tolerances().strict(*Tolerances.names())

assert set(DESCRIPTIONS) == set(Tolerances.names()), "every tolerance needs a description"
