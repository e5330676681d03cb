"""The console core's error family. Every message says what happened and what to do about it.

Pages and the command line see one family: ``ConsoleError``. Errors of the SCIM client (``scim_client.ScimError``
and its subclasses) become one through ``console_error`` (the single adapter), which keeps the HTTP status, the
remedy and, for a 403, the missing permission. Anything that is neither is a bug: ``console_error`` returns None
for it, and the caller logs its traceback and says "unexpected error, see the log file".
"""

from __future__ import annotations

from scim_client import PermissionDenied, ScimError


class ConsoleError(Exception):
    """An error a person can act on. ``remedy`` is the next step, in one sentence. ``status`` is the HTTP status
    of the answer behind it, when there was one; ``permission`` the 6clicks permission a 403 says is missing."""

    def __init__(self, message: str, remedy: str = "", *, status: int | None = None,
                 permission: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.status = status
        self.permission = permission

    def __str__(self) -> str:
        return f"{self.message} {self.remedy}".strip()


class StoreError(ConsoleError):
    """The local store cannot be opened or written."""


class NotFoundError(ConsoleError):
    """A named thing (connection, snapshot, action) does not exist."""


class InvalidInput(ConsoleError):
    """Input from the operator that cannot be used as given."""


class TokenError(ConsoleError):
    """A token operation failed (the token was rejected, or could not be made); ``result`` is the test or
    exchange classification when there is one. Operations stop a batch on it, like on a 401."""

    def __init__(self, message: str, remedy: str = "", *, result: str = "error") -> None:
        super().__init__(message, remedy)
        self.result = result


class ServiceError(ConsoleError):
    """A SCIM service answered with an error, or could not be reached (made from ``scim_client.ScimError`` by
    ``console_error``; the original is its ``__cause__``)."""


def console_error(exc: BaseException) -> ConsoleError | None:
    """``exc`` as the console's error family: a ``ConsoleError`` as it is, a ``ScimError`` (any subclass) as a
    ``ServiceError`` with its message, remedy, status and permission; None for anything else (a bug)."""
    if isinstance(exc, ConsoleError):
        return exc
    if isinstance(exc, ScimError):
        permission = exc.permission if isinstance(exc, PermissionDenied) else None
        adapted = ServiceError(exc.message, exc.remedy or "", status=exc.status, permission=permission)
        adapted.__cause__ = exc
        return adapted
    return None
