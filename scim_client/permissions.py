"""Which of the six 6clicks permissions does the token's user hold? Two ways to find out.

``probe_permissions`` changes nothing: for each permission it sends one request that a permitted caller gets
400 or 404 for (a body without its required attribute, an id that cannot exist) and an unpermitted one 403. It
relies on the server checking permission *before* validation and existence, as the sandbox and most APIs do;
a server that checks existence first answers 404 to everyone and the probe reads that as "granted" (the verdict
says so). A 2xx to one of these requests means the server accepted what it should have refused: whatever it
created is deleted again and the verdict is ``unclear``.

``full_probe`` is the explicit alternative: it creates, edits and deletes a clearly named inactive probe user
(``scim-console-probe-<hex>@probe.example.com``: RFC 2606's reserved domain has no mail servers, and validators
accept it where they refuse ``.invalid``) and a probe group, one step per permission, and cleans up even when a
step fails, reporting anything it could not delete by id.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from . import patch
from .client import ScimClient
from .errors import (
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    ScimError,
)
from .models import GROUP_SCHEMA, USER_SCHEMA

Verdict = Literal["granted", "missing", "unclear"]

# CLI-style key -> the 6clicks name (scim_client.errors.PERMISSIONS has the same keys)
INTEGRATIONS, CREATE_USERS, EDIT_USERS, DELETE_USERS = "integrations", "create-users", "edit-users", "delete-users"
MANAGE_GROUPS, MANAGE_MEMBERS = "manage-groups", "manage-group-members"
PERMISSION_ORDER = (INTEGRATIONS, CREATE_USERS, EDIT_USERS, DELETE_USERS, MANAGE_GROUPS, MANAGE_MEMBERS)
PROBE_PREFIX = "scim-console-probe-"


@dataclass(frozen=True)
class PermissionCheck:
    """The answer for one permission. ``request`` says what was sent, in words; ``status`` is the HTTP status
    (None when no answer came); ``code`` and ``params`` word ``message`` again in another language (as
    :class:`~scim_client.errors.ScimError`'s do)."""

    key: str
    verdict: Verdict
    request: str
    status: int | None
    message: str
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def granted(self) -> bool:
        return self.verdict == "granted"


@dataclass
class FullProbe:
    """The outcome of ``full_probe``: one check per permission, and what cleanup could not remove."""

    checks: list[PermissionCheck]
    leftovers: list[str] = field(default_factory=list)  # "user <id>" / "group <id>" still on the server
    probe_user: str = ""
    probe_group: str = ""


def _impossible_id() -> str:
    """An id no server has issued: a fresh random UUID with the probe's prefix in its last group."""
    return f"00000000-0000-4000-8000-{secrets.token_hex(6)}"


def _verdict_for(exc: ScimError) -> tuple[Verdict, str, str, dict[str, Any]]:
    """(verdict, message, code, params) for the error a permission check's request was answered with."""
    if isinstance(exc, PermissionDenied):
        return "missing", exc.message, exc.code, exc.params
    if isinstance(exc, (BadRequest, NotFound, Conflict)):
        return "granted", (f"answered {exc.status}: permitted callers are refused for the request itself "
                           "(this relies on the server checking permission before the request's content)"), \
            "perm-refused-as-expected", {"status": exc.status}
    return "unclear", exc.message, exc.code, exc.params


def _send(client: ScimClient, method: str, path: str, body: Any, operation: str) -> tuple[int, Any]:
    answer = client._http.request(method, path, json=body, operation=operation, what="checking a permission",
                                  retry=False if method in ("POST", "PATCH") else None)
    return answer.status, answer.data


def probe_permissions(client: ScimClient) -> list[PermissionCheck]:
    """One check per permission, in the guide's order, without changing anything. Raises AuthenticationError
    when the token itself is refused (every answer would be 401) and ConnectionFailed when nothing answers."""
    checks: list[PermissionCheck] = []
    read = client.probe()
    if read.outcome == "rejected":
        raise AuthenticationError(read.message, status=read.status, remedy=read.remedy, code=read.code,
                                  params=read.params)
    if read.outcome in ("unreachable", "tls"):
        raise ConnectionFailed(read.message, remedy=read.remedy, code=read.code, params=read.params)
    if read.ok:
        checks.append(PermissionCheck(INTEGRATIONS, "granted", "GET Users (one user)", read.status,
                                      "reading users works", "perm-read-works"))
    elif read.outcome == "forbidden":
        checks.append(PermissionCheck(INTEGRATIONS, "missing", "GET Users (one user)", read.status, read.message,
                                      read.code, read.params))
    else:
        checks.append(PermissionCheck(INTEGRATIONS, "unclear", "GET Users (one user)", read.status, read.message,
                                      read.code, read.params))
    nowhere = _impossible_id()
    members_op = patch.add_members([_impossible_id()])
    active_op = patch.set_active(True)
    requests: list[tuple[str, str, str, str, Any, str, str]] = [
        (CREATE_USERS, "POST", "Users", "create_user", {"schemas": [USER_SCHEMA]},
         "POST Users without a userName", "Users"),
        (EDIT_USERS, "PATCH", f"Users/{nowhere}", "edit_user", active_op, "PATCH a user id that does not exist",
         ""),
        (DELETE_USERS, "DELETE", f"Users/{nowhere}", "delete_user", None, "DELETE a user id that does not exist",
         ""),
        (MANAGE_GROUPS, "POST", "Groups", "create_group", {"schemas": [GROUP_SCHEMA]},
         "POST Groups without a displayName", "Groups"),
        (MANAGE_MEMBERS, "PATCH", f"Groups/{nowhere}", "group_members", members_op,
         "PATCH members of a group id that does not exist", ""),
    ]
    params: dict[str, Any]
    for key, method, path, operation, body, words, created_in in requests:
        try:
            status, data = _send(client, method, path, body, operation)
        except AuthenticationError:
            raise
        except ScimError as exc:
            verdict, message, code, found = _verdict_for(exc)
            checks.append(PermissionCheck(key, verdict, words, exc.status, message, code, found))
            continue
        message = f"the server accepted it ({status}) where it should have refused the request itself"
        params = {"status": status}
        if created_in and isinstance(data, dict) and isinstance(data.get("id"), str):
            note, cleanup = _removal(client, created_in, data["id"])
            message += note
            params.update(cleanup)
        checks.append(PermissionCheck(key, "unclear", words, status, message, "perm-accepted", params))
    return checks


def _removal(client: ScimClient, kind: str, rid: str) -> tuple[str, dict[str, Any]]:
    """Delete what a check created: the note for the check's message, and the same as params (``created``:
    user or group, ``created_id``, ``cleanup_error``: the ScimError when it could not be deleted, else None)."""
    what = kind[:-1].lower()
    try:
        client._http.request("DELETE", f"{kind}/{rid}", operation="delete_user" if kind == "Users"
                             else "delete_group", what="removing what a permission check created")
        return (f"; what it created ({what} {rid}) was deleted again",
                {"created": what, "created_id": rid, "cleanup_error": None})
    except ScimError as exc:
        return (f"; it created {what} {rid}, which could not be deleted ({exc.message}): delete it by hand",
                {"created": what, "created_id": rid, "cleanup_error": exc})


def _remove(client: ScimClient, kind: str, rid: str) -> str:
    return _removal(client, kind, rid)[0]


def _id_of(resource: Any) -> str | None:
    rid = getattr(resource, "id", None)
    return rid if isinstance(rid, str) and rid else None


def _add_and_remove(client: ScimClient, group_id: str, user_id: str) -> None:
    client.add_members(group_id, [user_id])
    client.remove_members(group_id, [user_id])


def full_probe(client: ScimClient, *, token_hex: Callable[[int], str] = secrets.token_hex) -> FullProbe:
    """Create, edit and delete a probe user and group, one step per permission, then clean up whatever is left
    (even after a failed step). The probe user is created inactive with an ``.example.com`` address, so no
    invitation can reach anyone. Raises AuthenticationError when the token is refused."""
    tag = token_hex(4)
    user_name = f"{PROBE_PREFIX}{tag}@probe.example.com"
    group_name = f"SCIM console probe {tag}"
    result = FullProbe([], probe_user=user_name, probe_group=group_name)
    user_id: str | None = None
    group_id: str | None = None

    def step(key: str, words: str, action: Callable[[], Any]) -> Any:
        try:
            value = action()
        except AuthenticationError:
            raise
        except PermissionDenied as exc:
            result.checks.append(PermissionCheck(key, "missing", words, exc.status, exc.message, exc.code,
                                                 exc.params))
            return None
        except ScimError as exc:
            result.checks.append(PermissionCheck(key, "unclear", words, exc.status, exc.message, exc.code,
                                                 exc.params))
            return None
        result.checks.append(PermissionCheck(key, "granted", words, 200, "done", "perm-done"))
        return value if value is not None else True

    try:
        read = client.probe()
        if read.outcome == "rejected":
            raise AuthenticationError(read.message, status=read.status, remedy=read.remedy, code=read.code,
                                      params=read.params)
        result.checks.append(PermissionCheck(INTEGRATIONS, "granted" if read.ok else
                                             "missing" if read.outcome == "forbidden" else "unclear",
                                             "GET Users (one user)", read.status, read.message, read.code,
                                             read.params))
        user = step(CREATE_USERS, f"create the inactive probe user {user_name}",
                    lambda: client.create_user(user_name, email=user_name, given_name="SCIM console",
                                               family_name="probe", active=False))
        user_id = _id_of(user)
        if user_id:
            step(EDIT_USERS, "change the probe user's given name",
                 partial(client.patch_user, user_id, patch.request(patch.replace("name.givenName", "SCIM probe"))))
        group_id = _id_of(step(MANAGE_GROUPS, f"create the probe group {group_name!r}",
                               partial(client.create_group, group_name)))
        if group_id and user_id:
            step(MANAGE_MEMBERS, "add the probe user to the probe group and remove them again",
                 partial(_add_and_remove, client, group_id, user_id))
        if group_id and step(MANAGE_GROUPS, "delete the probe group", partial(client.delete_group, group_id)):
            group_id = None
        if user_id and step(DELETE_USERS, "delete the probe user", partial(client.delete_user, user_id)):
            user_id = None
    finally:
        for kind, rid in (("Groups", group_id), ("Users", user_id)):
            if rid:
                note = _remove(client, kind, rid)
                if "could not" in note:
                    result.leftovers.append(f"{kind[:-1].lower()} {rid}")
    merged: dict[str, PermissionCheck] = {}
    for check in result.checks:  # one line per permission: a failure in any of its steps wins
        old = merged.get(check.key)
        if old is None or (old.granted and not check.granted):
            merged[check.key] = check
    for key in PERMISSION_ORDER:  # a step never reached says why
        merged.setdefault(key, PermissionCheck(key, "unclear", "not tried", None,
                                               "an earlier step failed, so this one could not be tried",
                                               "perm-not-tried"))
    result.checks = [merged[k] for k in PERMISSION_ORDER]
    return result
