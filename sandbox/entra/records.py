"""Provisioning-log records in Microsoft Graph's ``provisioningObjectSummary`` schema, and Entra's error codes."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

NEVER = "0001-01-01T00:00:00Z"
APP_NAME = "6clicks"
SOURCE_SYSTEM = "Microsoft Entra ID"


def iso(dt: datetime) -> str:
    """Fixed-width UTC timestamp (sorts lexicographically), e.g. 2026-11-26T04:15:00.123456Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def det_uuid(*parts: object) -> str:
    """A deterministic UUID from the seed and a path of names (stable ids for a given --seed)."""
    h = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return str(uuid.UUID(bytes=h[:16], version=4))


@dataclass(frozen=True, slots=True)
class ErrorKind:
    code: str
    category: str  # failure | nonServiceFailure
    transient: bool
    reason: str
    action: str


def classify(status: int | None, error: str | None, body: Any, app: str = APP_NAME) -> ErrorKind:
    """Entra's error code for one failed request to the SCIM endpoint."""
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("detail") or "")
    suffix = f" The response was: {detail}" if detail else ""
    if error == "timeout":
        return ErrorKind("Timeout", "nonServiceFailure", True,
                         f"The request to {app} timed out.", "The operation will be retried in the next cycle.")
    if error == "connection" or status is None:
        return ErrorKind("WebExceptionProtocolError", "nonServiceFailure", True,
                         f"The connection to {app} was closed before a response was received.",
                         "The operation will be retried in the next cycle.")
    if status == 401:
        return ErrorKind(
            "SystemForCrossDomainIdentityManagementCredentialValidationFailure", "nonServiceFailure", False,
            f"The credentials (SecretToken) for {app} were rejected with 401 Unauthorized.{suffix}",
            "Generate a new long-lived token for the 6clicks API key and save it as the Secret Token of the "
            "enterprise app (or PUT synchronization/secrets), then restart provisioning.")
    if status == 403:
        return ErrorKind("InsufficientRights", "nonServiceFailure", False,
                         f"{app} refused the operation (403 Forbidden).{suffix}",
                         "Give the API key's user the 6clicks permission named in the response.")
    if status == 409:
        return ErrorKind("EntryConflict", "failure", False,
                         f"The object could not be created in {app} because an object with a conflicting "
                         f"matching attribute already exists (409 Conflict).{suffix}",
                         "Correct the conflicting user in Microsoft Entra ID or in 6clicks, or review the "
                         "matching attributes if the existing account should be taken over.")
    if status == 429:
        return ErrorKind("TooManyRequests", "nonServiceFailure", True,
                         f"{app} throttled the request (429 Too Many Requests).",
                         "The operation will be retried in the next cycle.")
    if status >= 500:
        return ErrorKind("InternalServerError", "nonServiceFailure", True,
                         f"{app} answered {status}.{suffix}", "The operation will be retried in the next cycle.")
    if status == 404:
        return ErrorKind("InvalidAnchor", "failure", False,
                         f"The object previously provisioned to {app} no longer exists there (404).",
                         "The object will be matched or created again in the next cycle.")
    if status == 400:
        return ErrorKind("SystemForCrossDomainIdentityManagementBadRequest", "nonServiceFailure", False,
                         f"{app} rejected the request as invalid (400).{suffix}",
                         "Check the attribute mappings against what 6clicks accepts.")
    return ErrorKind("SystemForCrossDomainIdentityManagementBadResponse", "nonServiceFailure", False,
                     f"{app} answered with an unexpected status {status}.{suffix}",
                     "Check that the Tenant URL points to the 6clicks SCIM endpoint.")


def step(order: int, name: str, kind: str, status: str, description: str,
         details: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "provisioningStepType": kind, "status": status, "description": description,
            "details": details or {}, "_order": order}


def finish_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in sorted(steps, key=lambda s: s["_order"]):
        s = dict(s)
        s.pop("_order", None)
        out.append(s)
    return out


def mod(name: str, old: str | None, new: str | None) -> dict[str, Any]:
    return {"displayName": name, "oldValue": old, "newValue": new}
