"""python-scim's conformance checker (scim2-cli / scim2-tester) against a throwaway sandbox: every check SUCCESS.

The bearer header goes through SCIM_CLI_HEADERS (the child's environment), not argv; output is captured and
only a summary of failing lines (scrubbed of the token) is shown on failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _scim2_command() -> list[str]:
    exe = shutil.which("scim2") or str(Path(sys.executable).with_name("scim2"))
    if not Path(exe).exists():
        pytest.fail("the scim2 command (package scim2-cli, requirements-dev.txt) is not installed")
    return [exe]


@pytest.mark.slow
def test_scim2_conformance_checker_passes_every_check(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=10, seed_groups=3)
    token = box.token()
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {token}", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run([*_scim2_command(), "--url", box.scim_url, "test"], env=env, capture_output=True,
                          text=True, timeout=280)
    output = (proc.stdout + proc.stderr).replace(token, "[token]")
    failing = [line for line in output.splitlines() if re.search(r"\b(ERROR|CRITICAL|SKIPPED|FAIL)", line)]
    assert proc.returncode == 0 and not failing, "\n".join(failing[:40]) or output[-3000:]
    assert output.count("SUCCESS") >= 100  # about 130 checks: discovery, CRUD, attributes, PATCH
