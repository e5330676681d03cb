"""console.redact: secrets go by their shape, wherever they are in a log line or an error text; and the app log
file, the command line's stderr and the pages' error boxes all use it."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from console.redact import RedactingFormatter, redact
from sandbox.requestlog import scrub

REPO = Path(__file__).resolve().parents[2]


def shapes() -> dict[str, str]:
    """One fresh secret of every shape (nothing here is a real credential)."""
    b64 = secrets.token_urlsafe
    return {
        "sandbox API key": "6ck_" + secrets.token_hex(20),
        "test API key": "6ck_test_" + secrets.token_hex(16),
        "JWT": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + b64(60).replace("=", "") + "." + b64(40),
        "Entra client secret": "Ab1" + "8Q~" + "".join(secrets.choice("abcXYZ019_.-~") for _ in range(34)),
        "opaque key": b64(30),  # an unknown shape, like a real 6clicks key might be
    }


PLACES = {
    "URL path": "GET https://tenant.example/scim/Users/{s} -> 404",
    "query value under an innocuous name": "GET /scim/Users?filter=active%20eq%20true&q={s}&count=5",
    "JSON body value": 'POST /auth-api/1.0/auth/token body={{"apiKey": "{s}", "isLongLivedToken": true}}',
    "JSON value under an innocuous name": '{{"note": "{s}", "displayName": "Ada"}}',
    "exception text": "httpx.HTTPStatusError: Client error '401 Unauthorized' for url 'x' ({s}) rejected",
    "bearer header": "headers={{'Authorization': 'Bearer {s}'}}",
    "form body": "client_id=abc&client_secret={s}&grant_type=client_credentials",
    "env assignment": "SCIM_SANDBOX_API_KEY={s} python -m sandbox",
    "URL password": "https://operator:{s}@scim.example/v2",
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("shape", list(shapes()))
def test_every_shape_in_every_place_is_redacted(shape: str, place: str) -> None:
    secret = shapes()[shape]
    line = PLACES[place].format(s=secret)
    for impl in (redact, scrub):  # the console's and the sandbox's own implementation
        out = impl(line)
        assert secret not in out, (impl.__module__, out)
        for part in secret.split("."):  # no part of a JWT survives either
            if len(part) >= 16:
                assert part not in out, (impl.__module__, out)
        assert "redacted" in out


@pytest.mark.parametrize("text", [
    "user 2819c223-7f76-453a-919d-413861904646 not found",
    "sha1 0123456789abcdef0123456789abcdef01234567 of the snapshot",
    "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/streamlit/runtime/scriptrunner/exec_code.py",
    "token: expired; token status: rejected; errorCode=SystemForCrossDomainIdentityManagementBadResponse",
    'filter=userName eq "ada@example.org"&startIndex=1&count=100',
    "Deactivated 12 of 12 (Role - Auditors) at 2026-11-20T10:00:00Z",
])
def test_ordinary_diagnostics_survive(text: str) -> None:
    assert redact(text) == text
    assert scrub(text) == text


def test_short_or_plain_values_in_credential_positions() -> None:
    assert redact("password=hunter2") == "password=[redacted]"   # a password always goes
    assert redact("api_key: missing") == "api_key: missing"      # a plain word is a diagnosis, not a key
    assert redact("apiKey=Zx81kPq") == "apiKey=[redacted]"


def test_formatter_redacts_message_arguments_and_traceback() -> None:
    secret = shapes()["opaque key"]
    jwt = shapes()["JWT"]
    try:
        raise RuntimeError(f"upstream said: token {jwt} is bad")
    except RuntimeError:
        record = logging.LogRecord("console.x", logging.ERROR, __file__, 1, "calling %s with %s", ("/Users", secret),
                                   sys.exc_info())
    text = RedactingFormatter("%(levelname)s %(message)s").format(record)
    assert secret not in text and jwt not in text and "Traceback" in text and "/Users" in text


def test_the_app_log_file_is_redacted(tmp_path: Path) -> None:
    from pages._ui import errors as ui

    secret = shapes()["Entra client secret"]
    ui.install_log_file(tmp_path)
    try:
        try:
            raise ValueError(f"graph login failed for secret {secret}")
        except ValueError as exc:
            ui.log_exception(exc)
        logging.getLogger("console.graph").warning("retrying with %s", "Bearer " + shapes()["opaque key"])
    finally:
        root = logging.getLogger("console")
        for h in [h for h in root.handlers if getattr(h, "baseFilename", "").startswith(str(tmp_path))]:
            root.removeHandler(h)
            h.close()
    text = (tmp_path / ui.LOG_FILE).read_text()
    assert "graph login failed" in text and "retrying with Bearer [redacted]" in text
    assert secret not in text
    assert ui.redact(f"x {secret}") == redact(f"x {secret}")  # pages use the core's function


def test_the_command_line_log_is_redacted() -> None:
    """``python -m console``'s stderr handler: a module that logged a secret by mistake still leaks nothing."""
    secret = shapes()["sandbox API key"]
    code = ("import logging, os\n"
            "from console.cli import _configure_logging\n"
            "_configure_logging()\n"
            "log = logging.getLogger('console.tokens.service')\n"
            "log.warning('key %s rejected', os.environ['LEAK'])\n"
            "try:\n"
            "    raise RuntimeError('body ' + os.environ['LEAK'])\n"
            "except RuntimeError:\n"
            "    log.exception('failed')\n")
    env = {**os.environ, "LEAK": secret, "SCIM_CONSOLE_LOG_LEVEL": "INFO"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-800:]
    assert "rejected" in proc.stderr and "Traceback" in proc.stderr
    assert secret not in proc.stderr and "[redacted api key]" in proc.stderr


PATHOLOGICAL = ["x" * 200_000, "eyJ" * 70_000, "6ck_" * 50_000, "token:" * 30_000, "aB3" * 70_000,
                "ab1Q~" * 40_000, "bearer " * 30_000, "a." * 100_000, "token" * 40_000 + "=x1", "secret_" * 30_000,
                "a://b:" * 30_000, "https://" + "a" * 100_000, "password" + " " * 100_000 + "x"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("impl", [redact, scrub], ids=["console", "sandbox"])
def test_huge_hostile_lines_are_redacted_in_linear_time(impl) -> None:
    """A 200,000-character path or filter (the sandbox fuzz sends them) must not hang the log writer: every rule
    runs in linear time (a quadratic one takes minutes here, and the timeout fails the test)."""
    for text in PATHOLOGICAL:
        impl(text)
    assert impl("q=" + "eyJ" * 5 + ".abcdef.ghijk") != "q=" + "eyJ" * 5 + ".abcdef.ghijk"
