"""scim2-models, loaded on first use.

The library (pydantic) takes 1-2 s to import, so the sandbox starts without it and loads it in a background
thread once it is ready (``warm_up``), or on the first request that needs it (``load``). Code reads the names
through ``M`` (``M.ScimFilter``, ``M.UserModel``, ...), which is filled in by ``load()``.
"""

from __future__ import annotations

import threading
from typing import Any


class _Models:
    """The scim2-models names the sandbox uses; every attribute is set by ``load()``."""

    Context: Any = None
    EnterpriseUser: Any = None
    Group: Any = None
    PatchOp: Any = None
    ResourceType: Any = None
    SchemaExtension: Any = None
    User: Any = None
    UserModel: Any = None  # User[EnterpriseUser]
    AttrPath: Any = None
    CompareOperator: Any = None
    Comparison: Any = None
    LogicalExpr: Any = None
    LogicalOperator: Any = None
    Not: Any = None
    Path: Any = None
    Present: Any = None
    ScimFilter: Any = None
    ValuePath: Any = None
    loaded: bool = False


M = _Models()
_lock = threading.Lock()

# Special-use domains that real directories hold in e-mail addresses: hybrid (on-premises AD) tenants have
# ``.local`` mail and UPN suffixes, and Entra sends them. email-validator (used by scim2-models through
# pydantic's EmailStr) refuses every special-use domain; the sandbox accepts these ones.
ACCEPTED_SPECIAL_USE_DOMAINS: tuple[str, ...] = ("local",)


def load() -> None:
    if M.loaded:
        return
    with _lock:
        if M.loaded:
            return
        import email_validator
        import scim2_models as m
        import scim2_models.path as p

        for name in ACCEPTED_SPECIAL_USE_DOMAINS:
            if name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
                email_validator.SPECIAL_USE_DOMAIN_NAMES.remove(name)
        M.Context, M.EnterpriseUser, M.Group, M.PatchOp = m.Context, m.EnterpriseUser, m.Group, m.PatchOp
        M.ResourceType, M.SchemaExtension, M.User = m.ResourceType, m.SchemaExtension, m.User
        M.UserModel = m.User[m.EnterpriseUser]
        M.AttrPath, M.CompareOperator, M.Comparison = p.AttrPath, p.CompareOperator, p.Comparison
        M.LogicalExpr, M.LogicalOperator, M.Not, M.Path = p.LogicalExpr, p.LogicalOperator, p.Not, p.Path
        M.Present, M.ScimFilter, M.ValuePath = p.Present, p.ScimFilter, p.ValuePath
        M.loaded = True


def warm_up() -> None:
    """Load scim2-models now (called in a background thread once the server is ready)."""
    load()
