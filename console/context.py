"""The handle every caller of the core (pages, command line, tests) works through."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from console import credentials as keyring_credentials
from console.credentials import CredentialStore
from console.memory import use_returning_arrow_pool
from console.paths import data_dir as default_data_dir
from console.store import STORE_FILE, Store


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    data_dir: Path
    store: Store
    credentials: CredentialStore
    # The time source of the core (timezone-aware UTC). Tests inject a fixed or stepping clock.
    clock: Callable[[], datetime] = field(default=_utcnow, repr=False)

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.store.close()


def open_context(
    data_dir: Path | None = None,
    *,
    credentials: CredentialStore | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Context:
    """Open the store (migrating it) and the credential store. ``credentials`` defaults to the OS keyring
    wrapper configured from the environment (see ``console.credentials``). Demo connections' secrets are
    kept in memory whatever the backend."""

    # Everything the console writes (store, snapshots, logs, exports) is the operator's alone, even in a data
    # folder someone created with a looser mode: files 0600, folders 0700.
    os.umask(0o077)
    use_returning_arrow_pool()  # a process's whole-directory phases give their memory back (console.memory)
    path = Path(data_dir) if data_dir else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    store = Store.open(path)
    for name in (STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm"):  # made by an older version or another umask
        with contextlib.suppress(OSError):
            os.chmod(path / name, 0o600)
    creds = credentials or keyring_credentials.default_credentials()

    def is_demo(name: str) -> bool:
        row = store.query_one("SELECT is_demo FROM connections WHERE name = ? COLLATE NOCASE", (name.strip(),))
        return bool(row and row["is_demo"])

    if creds.demo_lookup is None:
        creds.demo_lookup = is_demo
    return Context(data_dir=path, store=store, credentials=creds, clock=clock or _utcnow)
