"""The console core's error family. Every message says what happened and what to do about it."""

from __future__ import annotations


class ConsoleError(Exception):
    """An error a person can act on. ``remedy`` is the next step, in one sentence."""

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

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
