"""What a command prints cannot drive the operator's terminal: on a terminal, control characters (ESC
sequences) and bidi overrides in printed data show as visible markers; piped output stays exact."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from console.text import TerminalSafe

REPO = Path(__file__).resolve().parents[2]
HOSTILE_NAME = "logs\x1b]0;pwned\x07\x1b[2J\u202egnp.json"


def test_terminal_safe_shows_controls_and_bidi() -> None:
    buffer = io.StringIO()
    safe = TerminalSafe(buffer)
    safe.write("a\x1b[31mred\tb\r\nc\u202ed\x00")
    assert buffer.getvalue() == "a[U+001B][31mred\tb\r\nc[U+202E]d[U+0000]"
    safe.flush()  # everything else is the stream's


def _run_in_pty(argv: list[str], env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        proc.wait(timeout=60)
        os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_printed_file_names_and_records_cannot_drive_the_terminal(tmp_path: Path) -> None:
    env = {**os.environ, "SCIM_CONSOLE_KEYRING": "session", "SCIM_CONSOLE_NO_DEMO": "1", "PYTHONUNBUFFERED": "1"}
    data = ["--data-dir", str(tmp_path / "data")]
    added = subprocess.run([sys.executable, "-m", "console", "connections", "add", "Prod", "--api-url",
                            "https://api-au.6clicks.io", "--no-check", *data], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=120)
    assert added.returncode == 0, added.stderr
    hostile = tmp_path / HOSTILE_NAME
    hostile.write_text(json.dumps([{"id": "evil\x1b[2J\u202e", "activityDateTime": "never\x1b[31m"}]))
    argv = [sys.executable, "-m", "console", "logs", "import", str(hostile), "--connection", "Prod", *data]
    shown = _run_in_pty(argv, env)
    assert "rejected" in shown, shown
    assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
    assert "[U+001B]" in shown
    piped = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert "\x1b" in piped.stdout and "[U+001B]" not in piped.stdout, "piped output is data: left exact"


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """``python -m console ... | head``: when the reader closes the pipe, the command stops with the shell's
    SIGPIPE code (141) and no traceback or "unexpected error" on stderr."""
    env = {**os.environ, "SCIM_CONSOLE_HOME": str(tmp_path / "home"), "SCIM_CONSOLE_NO_DEMO": "1"}
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes
    try:
        done = subprocess.run([sys.executable, "-m", "console", "connections", "list", "--json"], cwd=REPO, env=env,
                              stdout=write, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert b"Traceback" not in done.stderr and b"unexpected error" not in done.stderr
