from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .peers import Served, free_port

STOCK_TOKEN = "stock-bearer-token-0123456789abcdef"


@pytest.fixture
def serve() -> Iterator:
    """serve(app) -> base URL of the app running on 127.0.0.1; stopped after the test."""
    running: list[Served] = []

    def start(app) -> str:
        served = Served(app)
        running.append(served)
        return served.url

    yield start
    for served in running:
        served.stop()


def _scim2_server_bin() -> str:
    candidate = Path(sys.executable).with_name("scim2-server")
    return str(candidate) if candidate.exists() else "scim2-server"


@pytest.fixture(scope="module")
def stock_server() -> Iterator[str]:
    """python-scim's stock scim2-server (strict, independent peer) on a free port; yields its /v2 base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [_scim2_server_bin(), "--hostname", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    base = f"http://127.0.0.1:{port}/v2"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(base + "/ServiceProviderConfig", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("scim2-server did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
