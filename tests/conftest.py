"""Shared fixtures: real sandbox servers, the in-memory keyring, and the CI-aware browser guard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox_fixture import RunningSandbox, SandboxFactory, start_sandbox

CHROMIUM = Path("/usr/bin/chromium")
SESSION_SANDBOX_OPTIONS: dict[str, Any] = {"seed_users": 200, "seed_groups": 20, "seed": 7}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_chromium() -> str:
    """Path of Debian's Chromium. Missing: the test fails under CI=true, otherwise it is skipped."""
    if CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK):
        return str(CHROMIUM)
    message = "/usr/bin/chromium is missing (install Debian's chromium: apt-get install chromium)"
    if in_ci():
        pytest.fail(message + "; browser tests are required when CI=true", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")


@pytest.fixture(autouse=True)
def _browser_guard(request: pytest.FixtureRequest) -> None:
    """Tests marked ``browser`` fail (CI) or skip (locally) when Chromium is missing."""
    if request.node.get_closest_marker("browser") is not None:
        require_chromium()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """One sandbox for the whole session (200 users, 20 groups, seed 7). Do not break it: use
    ``sandbox_factory`` for destructive tests (faults, key revocation, restarts)."""
    box = start_sandbox(**SESSION_SANDBOX_OPTIONS)
    try:
        yield box
    finally:
        box.cleanup()


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """``sandbox_factory(seed_users=.., seed_groups=.., seed=.., faults={..}, extra_args=[..], demo=..,
    max_page_size=.., data_dir=.., api_key=.., env={..})`` -> RunningSandbox; all stopped after the test."""
    factory = SandboxFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def memory_keyring() -> Iterator[Any]:
    """Install console.credentials.MemoryKeyring as the keyring backend for the session."""
    try:
        from console.credentials import MemoryKeyring
    except ImportError:  # pragma: no cover - until the console core provides it
        pytest.skip("console.credentials.MemoryKeyring is not available")
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
