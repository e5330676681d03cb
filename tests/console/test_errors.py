"""One error family for pages and the command line: ``console.errors.console_error`` adapts the SCIM client's
errors to ``ConsoleError`` keeping what a person acts on (message, remedy, status, permission); anything else is
a bug and stays one."""

from __future__ import annotations

import logging

import pytest

from console.cli import main
from console.errors import ConsoleError, InvalidInput, ServiceError, TokenError, console_error
from scim_client import AuthenticationError, ConnectionFailed, PermissionDenied, RateLimited, ScimError


def test_console_errors_pass_through_unchanged() -> None:
    exc = InvalidInput("No such column.", "Use one of userName, email.")
    assert console_error(exc) is exc
    token = TokenError("Token rejected.", "Generate a new one.", result="rejected")
    assert console_error(token) is token
    assert token.status is None and token.permission is None


def test_a_permission_denied_keeps_status_remedy_and_permission() -> None:
    exc = PermissionDenied("Forbidden: the token's user may not edit users.", status=403,
                           permission="Create, edit and delete users", named=True)
    adapted = console_error(exc)
    assert isinstance(adapted, ServiceError) and isinstance(adapted, ConsoleError)
    assert adapted.message == "Forbidden: the token's user may not edit users."
    assert adapted.remedy == exc.remedy and adapted.remedy
    assert adapted.status == 403
    assert adapted.permission == "Create, edit and delete users"
    assert adapted.__cause__ is exc


@pytest.mark.parametrize("exc, status", [
    (AuthenticationError("Token rejected.", status=401), 401),
    (RateLimited("Too many requests.", status=429, retry_after=3.0), 429),
    (ConnectionFailed("Cannot reach 127.0.0.1:9.", kind="connect"), None),
    (ScimError("Odd answer.", status=502, remedy="Try later."), 502),
])
def test_every_scim_error_becomes_a_service_error(exc: ScimError, status: int | None) -> None:
    adapted = console_error(exc)
    assert isinstance(adapted, ServiceError)
    assert (adapted.message, adapted.remedy, adapted.status, adapted.permission) == (
        exc.message, exc.remedy, status, None)
    assert str(adapted) == f"{exc.message} {exc.remedy}".strip()


def test_anything_else_is_a_bug_not_an_error_family_member() -> None:
    assert console_error(KeyError("x")) is None
    assert console_error(RuntimeError("boom")) is None


def _command_raising(exc: Exception):  # a parser whose one command raises ``exc``
    import argparse

    def build() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="test")
        sub = parser.add_subparsers(dest="command", required=True)
        cmd = sub.add_parser("boom")

        def handler(_args: argparse.Namespace) -> int:
            raise exc

        cmd.set_defaults(handler=handler)
        return parser

    return build


def test_the_cli_prints_a_scim_error_with_its_remedy(monkeypatch, capsys) -> None:
    import console.cli as cli

    monkeypatch.setattr(cli, "build_parser", _command_raising(
        PermissionDenied("Forbidden.", status=403, permission="Read users", remedy="Give the user Read users.")))
    assert main(["boom"]) == 2
    err = capsys.readouterr().err
    assert "error: Forbidden. Give the user Read users." in err
    assert "Traceback" not in err


def test_the_cli_logs_an_unexpected_error_with_its_traceback(monkeypatch, capsys, caplog) -> None:
    import console.cli as cli

    monkeypatch.setattr(cli, "build_parser", _command_raising(ZeroDivisionError("division by zero")))
    with caplog.at_level(logging.ERROR, logger="console.cli"):
        assert main(["boom"]) == 2
    err = capsys.readouterr().err
    assert "unexpected error (ZeroDivisionError)" in err
    record = next(r for r in caplog.records if r.name == "console.cli")
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
