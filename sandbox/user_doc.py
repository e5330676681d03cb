"""SCIM User bodies: normalising what Entra sends (the tolerances in ``sandbox.policy``), validation with
scim2-models (``User[EnterpriseUser]``), and PATCH (the Entra shapes rewritten to RFC 7644 operations, then
applied with scim2-models' ``PatchOp.patch``).

6clicks semantics: ``userName`` and ``emails`` are set once; later updates are answered with success and
ignored (tolerance ``ignored-immutable``), so the drift after an Entra rename is real.
"""

from __future__ import annotations

from typing import Any

import orjson

from .models import M, load
from .policy import DEFAULT, Tolerances
from .scim import (
    CORE_USER,
    ENTERPRISE,
    PATCH_URN,
    ScimHTTPError,
    bad_request,
    ci_get,
    drop_nulls,
    parse_bool,
    patch_operations,
    short,
)

IMMUTABLE_ATTRS = ("username", "emails")  # lower-cased core attribute names 6clicks keeps as created
# The User's multi-valued complex attributes: a PATCH value for the whole attribute must be a list (or one object).
MULTI_VALUED = frozenset({"emails", "phonenumbers", "ims", "photos", "addresses", "groups", "entitlements", "roles",
                          "x509certificates"})
_CORE_URIS = ("", CORE_USER.lower())


def normalise_user_body(body: Any, policy: Tolerances = DEFAULT) -> tuple[dict[str, Any], list[str]]:
    """A POST/PUT body made ready for validation: nulls, ``meta``/``id`` dropped, string booleans, schema URIs,
    attributes outside the schema and the manager shape handled as the tolerances say. Returns (body, names of
    the unknown attributes that were dropped)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object (a SCIM User).", "invalidSyntax")
    body = drop_nulls(body, policy)
    body.pop("meta", None)
    body.pop("id", None)
    unknown = drop_unknown_attributes(body, policy)
    key, active = ci_get(body, "active")
    if key is not None:
        body[key] = parse_bool(active, "active", policy)
    _, user_name = ci_get(body, "userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise bad_request("userName is required (a non-empty string).")
    schemas = body.get("schemas") or [CORE_USER]
    if not isinstance(schemas, list):
        raise bad_request("schemas must be a list of schema URIs.", "invalidSyntax")
    own = (CORE_USER.lower(), ENTERPRISE.lower())
    known = [s for s in schemas if isinstance(s, str) and s.lower() in own]
    if not policy.unknown_schema_uri and len(known) != len(schemas):
        other = [s for s in schemas if not (isinstance(s, str) and s.lower() in own)]
        raise bad_request(f"Unknown schema URI(s) {other!r} (strict: the unknown-schema-uri tolerance is off); "
                          f"a User may name {CORE_USER} and {ENTERPRISE}.", "invalidSyntax")
    if any(k.lower() == ENTERPRISE.lower() for k in body) and ENTERPRISE not in known:
        known.append(ENTERPRISE)
    body["schemas"] = known or [CORE_USER]
    _ek, ent = ci_get(body, ENTERPRISE)
    if isinstance(ent, dict):
        mk, manager = ci_get(ent, "manager")
        if mk is not None:
            ent[mk] = manager_value(manager, policy)
    return body, unknown


def known_attributes() -> tuple[frozenset[str], frozenset[str]]:
    """Lower-cased attribute names of the core User schema (with the common attributes) and of the enterprise
    extension, from scim2-models' schema definitions."""
    global _KNOWN
    if _KNOWN is None:
        load()
        core = {a.name.lower() for a in M.User.to_schema().attributes} | {"id", "externalid", "meta", "schemas"}
        ent = {a.name.lower() for a in M.EnterpriseUser.to_schema().attributes}
        _KNOWN = (frozenset(core), frozenset(ent))
    return _KNOWN


_KNOWN: tuple[frozenset[str], frozenset[str]] | None = None


def drop_unknown_attributes(body: dict[str, Any], policy: Tolerances = DEFAULT) -> list[str]:
    """Tolerance ``unknown-attributes``: remove (and name) attributes outside the User and enterprise schemas,
    at the top level and inside the enterprise extension. Strict: refuse them."""
    core, ent = known_attributes()
    unknown = [k for k in body if k.lower() not in core and k.lower() != ENTERPRISE.lower()]
    _ek, extension = ci_get(body, ENTERPRISE)
    if isinstance(extension, dict):
        unknown += [f"{ENTERPRISE}:{k}" for k in extension if k.lower() not in ent]
    if unknown and not policy.unknown_attributes:
        raise bad_request(f"Attribute(s) outside the User schema: {', '.join(unknown)[:300]} (strict: the "
                          "unknown-attributes tolerance is off).")
    for name in unknown:
        if name.startswith(f"{ENTERPRISE}:") and isinstance(extension, dict):
            extension.pop(name[len(ENTERPRISE) + 1:], None)
        else:
            body.pop(name, None)
    return unknown


def manager_value(value: Any, policy: Tolerances = DEFAULT) -> Any:
    """The enterprise ``manager`` as ``{"value": id[, "$ref": uri][, "displayName": name]}``: ``$ref`` is only
    RECOMMENDED by RFC 7643 §4.3, so ``{"value": id}`` is complete. Tolerance ``bare-manager-id``: a bare string
    id or a one-element list (Microsoft's documented PATCH) becomes that object."""
    if isinstance(value, list | str):
        if not policy.bare_manager_id:
            raise bad_request('manager must be an object such as {"value": "<user id>"} (strict: the '
                              "bare-manager-id tolerance is off).")
        if isinstance(value, list):
            if len(value) > 1:
                raise bad_request("manager is single-valued: send one manager.")
            value = value[0] if value else None
    if isinstance(value, str):
        value = {"value": value}
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request('manager must be an object such as {"value": "<user id>"}.')
    out: dict[str, Any] = {}
    for key, item in value.items():
        low = key.lower()
        if low not in ("value", "$ref", "displayname"):
            raise bad_request(f"manager has no sub-attribute {key!r}; use value, $ref (optional), displayName.")
        if item is None:
            continue
        if not isinstance(item, str):
            raise bad_request(f"manager.{key} must be a string.")
        out[{"value": "value", "$ref": "$ref", "displayname": "displayName"}[low]] = item
    if not out.get("value"):
        raise bad_request('manager needs a "value" with the manager\'s user id.')
    return out


def _take_manager(doc: dict[str, Any]) -> Any:
    """Remove the enterprise manager from ``doc`` (validated apart: scim2-models insists on ``$ref``)."""
    _ek, extension = ci_get(doc, ENTERPRISE)
    if not isinstance(extension, dict):
        return None
    mk, manager = ci_get(extension, "manager")
    if mk is None:
        return None
    extension.pop(mk)
    return manager


def _put_manager(doc: dict[str, Any], manager: Any) -> dict[str, Any]:
    if manager:
        doc.setdefault(ENTERPRISE, {})["manager"] = manager
        schemas = doc.setdefault("schemas", [CORE_USER])
        if ENTERPRISE not in schemas:
            schemas.append(ENTERPRISE)
    return doc


def validate_user(body: dict[str, Any], purpose: str) -> dict[str, Any]:
    """Validate with scim2-models (``purpose``: "create" or "replace"); the canonical document back."""
    load()
    context = (M.Context.RESOURCE_CREATION_REQUEST if purpose == "create"
               else M.Context.RESOURCE_REPLACEMENT_REQUEST)
    manager = _take_manager(body)
    try:
        model = M.UserModel.model_validate(body, scim_ctx=context)
    except Exception as exc:
        raise bad_request(f"The user is not valid: {short(exc)}") from None
    return _put_manager(_dump_user(model), manager)


def keep_immutable(old: dict[str, Any], new: dict[str, Any], policy: Tolerances = DEFAULT) -> None:
    """PUT: userName and e-mails stay as created (a user created without e-mail may get one later).
    Strict (``ignored-immutable`` off): a changed value is refused."""
    if not policy.ignored_immutable:
        if new.get("userName") != old.get("userName"):
            raise _mutability("userName")
        if old.get("emails") and _email_values(new.get("emails")) != _email_values(old.get("emails")):
            raise _mutability("emails")
    new["userName"] = old["userName"]
    if old.get("emails"):
        new["emails"] = old["emails"]


def _mutability(attr: str) -> ScimHTTPError:
    return bad_request(f"{attr} is immutable in 6clicks: it keeps the value it was created with (strict: the "
                       "ignored-immutable tolerance is off).", "mutability")


def _email_values(emails: Any) -> set[str]:
    items = emails if isinstance(emails, list) else [emails] if isinstance(emails, dict) else []
    return {str(e.get("value", "")).lower() for e in items if isinstance(e, dict)}


def _dump_user(model: Any) -> dict[str, Any]:
    doc = model.model_dump(scim_ctx=M.Context.RESOURCE_QUERY_RESPONSE)
    doc.pop("meta", None)
    doc.pop("id", None)
    doc.pop("groups", None)
    doc.pop("password", None)
    return doc


def apply_user_patch(doc: dict[str, Any], body: Any, policy: Tolerances = DEFAULT
                     ) -> tuple[dict[str, Any], list[str], list[str]]:
    """Apply a PATCH to a stored user document. Returns (new document, ignored paths of immutable attributes,
    ignored paths of attributes outside the schema)."""
    load()
    ops = patch_operations(body, policy)
    frozen = {a for a in IMMUTABLE_ATTRS if any(k.lower() == a and v for k, v in doc.items())}
    op_of = _UserOps(doc, frozen, policy)
    rfc_ops: list[dict[str, Any]] = []
    for op in ops:
        name, path, value = op["op"], op.get("path"), op.get("value")
        if not path:
            if name == "remove":
                raise bad_request("A remove operation needs a path.", "noTarget")
            if not isinstance(value, dict):
                raise bad_request("An operation without a path needs an object value.", "invalidValue")
            for k, v in value.items():
                if k.lower() == "schemas":
                    continue
                if k.lower() == ENTERPRISE.lower() and isinstance(v, dict):
                    for sk, sv in v.items():
                        rfc_ops.extend(op_of(name, f"{ENTERPRISE}:{sk}", sv))
                    continue
                if not policy.dotted_keys and ("." in k or ":" in k):
                    raise bad_request(f"{k!r} is not an attribute name: a value without path holds attribute "
                                      "names (strict: the dotted-keys tolerance is off).", "invalidPath")
                rfc_ops.extend(op_of(name, k, v))
        else:
            rfc_ops.extend(op_of(name, str(path), value))
    if not rfc_ops and not op_of.manager_ops:
        return doc, op_of.ignored, op_of.unknown
    work = orjson.loads(orjson.dumps(doc))
    manager = _take_manager(work)
    try:
        model = M.UserModel.model_validate(work, scim_ctx=M.Context.RESOURCE_QUERY_RESPONSE)
        if rfc_ops:
            patch = M.PatchOp[M.UserModel].model_validate(
                {"schemas": [PATCH_URN], "Operations": rfc_ops}, scim_ctx=M.Context.RESOURCE_PATCH_REQUEST)
            patch.patch(model)
    except ScimHTTPError:
        raise
    except Exception as exc:
        scim_type = getattr(exc, "scim_type", None) or "invalidValue"
        raise bad_request(f"The PATCH could not be applied: {short(exc)}", scim_type) from None
    for name, sub, value in op_of.manager_ops:
        manager = _patch_manager(manager, name, sub, value, policy)
    return _put_manager(_dump_user(model), manager), op_of.ignored, op_of.unknown


def _patch_manager(manager: Any, name: str, sub: str | None, value: Any, policy: Tolerances) -> Any:
    """One operation on the enterprise manager (kept apart from scim2-models, which insists on ``$ref``)."""
    if name == "remove":
        if sub is None or sub.lower() == "value" or not isinstance(manager, dict):
            return None
        return {k: v for k, v in manager.items() if k.lower() != sub.lower()}
    if sub is None:
        return manager_value(value, policy)
    merged = dict(manager) if isinstance(manager, dict) else {}
    merged[sub] = value
    return manager_value(merged, policy)


def typed_element_missing(doc: dict[str, Any], ast: Any) -> tuple[str, str] | None:
    """For ``attr[type eq "T"].sub`` paths: (attr name, T) when ``doc`` has no element of type T."""
    if not isinstance(ast, M.ValuePath) or not ast.sub_attr or ast.attr_path.uri or ast.attr_path.sub_attr:
        return None
    f = ast.val_filter
    if not (isinstance(f, M.Comparison) and f.attr_path.attr.lower() == "type"
            and f.op == M.CompareOperator.eq and isinstance(f.value, str)):
        return None
    _, items = ci_get(doc, ast.attr_path.attr)
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("type", "")).lower() == f.value.lower():
            return None
    return ast.attr_path.attr, f.value


class _UserOps:
    """Rewrites one Entra-shaped user PATCH operation into RFC 7644 operations scim2-models can apply."""

    def __init__(self, doc: dict[str, Any], frozen: set[str], policy: Tolerances) -> None:
        self.doc = doc
        self.frozen = frozen
        self.policy = policy
        self.ignored: list[str] = []
        self.unknown: list[str] = []
        self.manager_ops: list[tuple[str, str | None, Any]] = []
        self.created: set[tuple[str, str]] = set()

    def __call__(self, name: str, path: str, value: Any) -> list[dict[str, Any]]:
        policy = self.policy
        if path.split(".", 1)[0].lower() == "manager":
            if not policy.manager_path:
                raise bad_request(f"Invalid PATCH path {path!r}: the User has no attribute manager; use "
                                  f"{ENTERPRISE}:manager (strict: the manager-path tolerance is off).",
                                  "invalidPath")
            path = f"{ENTERPRISE}:{path}"  # tolerance manager-path: Microsoft's documented manager PATCH
        if path.lower() == ENTERPRISE.lower():
            return self._whole_extension(name, path, value)
        try:
            ast = M.Path(path).ast
        except Exception as exc:
            raise bad_request(f"Invalid PATCH path {path!r}: {short(exc)}", "invalidPath") from None
        attr_path = ast.attr_path if isinstance(ast, M.ValuePath) else ast
        attr = getattr(attr_path, "attr", "") or ""
        uri = (getattr(attr_path, "uri", None) or "").lower()
        core, ent = known_attributes()
        if (uri == ENTERPRISE.lower() and attr.lower() not in ent) or (
                uri != ENTERPRISE.lower() and (uri not in _CORE_URIS or attr.lower() not in core)):
            if not policy.unknown_attributes:
                raise bad_request(f"Invalid PATCH path {path!r}: no such attribute in the User schema (strict: "
                                  "the unknown-attributes tolerance is off).", "invalidPath")
            self.unknown.append(path)  # tolerance unknown-attributes: ignored
            return []
        if attr.lower() == "manager" and uri == ENTERPRISE.lower():
            if isinstance(ast, M.ValuePath):
                raise bad_request("manager is single-valued: no filter in its path.", "invalidPath")
            self.manager_ops.append((name, getattr(attr_path, "sub_attr", None), value))
            return []
        whole = not isinstance(ast, M.ValuePath) and not getattr(attr_path, "sub_attr", None)
        if (whole and attr.lower() in MULTI_VALUED and uri in _CORE_URIS and name != "remove"
                and value is not None and not isinstance(value, list | dict)):
            raise bad_request(f"{attr} is a list of objects: send a list such as [{{\"value\": \"...\", "
                              f"\"type\": \"work\"}}], or a path such as {attr}[type eq \"work\"].value for one "
                              "value.", "invalidValue")
        if attr.lower() in self.frozen and uri in _CORE_URIS:
            if not policy.ignored_immutable and not self._unchanged(ast, attr, name, value):
                raise _mutability(attr)
            self.ignored.append(path)  # tolerance ignored-immutable: set once, later updates ignored
            return []
        if attr.lower() == "active" and uri in _CORE_URIS and value is not None:
            value = parse_bool(value, "active", policy)
        missing = typed_element_missing(self.doc, ast)
        if missing is not None:
            key = (missing[0].lower(), missing[1].lower())
            if key not in self.created:
                if value is None or name == "remove":
                    return []  # nothing of that type to remove
                if not policy.typed_element_create:
                    raise bad_request(f"The user has no {missing[0]} element of type {missing[1]!r} to set "
                                      f"{path!r} on (strict: the typed-element-create tolerance is off).",
                                      "noTarget")
                # tolerance typed-element-create: Entra sets emails[type eq "work"].value on a user without one
                self.created.add(key)
                return [{"op": "add", "path": missing[0], "value": [{"type": missing[1], ast.sub_attr: value}]}]
        if value is None and name in ("add", "replace"):
            if not policy.explicit_nulls:
                raise bad_request(f"{path} is set to null (strict: the explicit-nulls tolerance is off); use "
                                  "a remove operation.")
            return [{"op": "remove", "path": path}]  # tolerance explicit-nulls
        if isinstance(value, dict | list):
            value = drop_nulls(value, policy)
        op: dict[str, Any] = {"op": name, "path": path}
        if name != "remove" or value is not None:
            op["value"] = value
        return [op]

    def _whole_extension(self, name: str, path: str, value: Any) -> list[dict[str, Any]]:
        """An operation on the whole enterprise extension: its manager is handled apart, the rest by
        scim2-models; sub-attributes outside the schema follow tolerance ``unknown-attributes``."""
        if name == "remove":
            self.manager_ops.append(("remove", None, None))
            return [{"op": "remove", "path": path}]
        if not isinstance(value, dict):
            raise bad_request(f"{ENTERPRISE} is an object of enterprise attributes.", "invalidValue")
        value = drop_nulls(value, self.policy)
        _, ent = known_attributes()
        rest: dict[str, Any] = {}
        manager = None
        for key, item in value.items():
            if key.lower() == "manager":
                manager = item
            elif key.lower() in ent:
                rest[key] = item
            elif not self.policy.unknown_attributes:
                raise bad_request(f"{ENTERPRISE} has no attribute {key!r} (strict: the unknown-attributes "
                                  "tolerance is off).", "invalidValue")
            else:
                self.unknown.append(f"{ENTERPRISE}:{key}")
        if manager is not None:
            self.manager_ops.append((name, None, manager))
        elif name == "replace":
            self.manager_ops.append(("remove", None, None))
        if not rest and name == "add":
            return []
        return [{"op": name, "path": path, "value": rest}]

    def _unchanged(self, ast: Any, attr: str, name: str, value: Any) -> bool:
        """Whether an operation on userName/emails would leave the stored value as it is."""
        if name == "remove":
            return False
        if attr.lower() == "username":
            return value == self.doc.get("userName")
        _, emails = ci_get(self.doc, "emails")
        if isinstance(ast, M.ValuePath):
            f = ast.val_filter
            if (ast.sub_attr == "value" and isinstance(f, M.Comparison) and f.attr_path.attr.lower() == "type"
                    and isinstance(f.value, str)):
                return any(isinstance(e, dict) and str(e.get("type", "")).lower() == f.value.lower()
                           and str(e.get("value", "")).lower() == str(value).lower() for e in emails or [])
            return False
        return _email_values(value) == _email_values(emails)
