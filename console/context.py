"""The handle every caller of the core (pages, command line, tests) works through."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console.paths import data_dir as default_data_dir
from console.store import Store

if TYPE_CHECKING:
    from console.credentials import CredentialStore


@dataclass
class Context:
    data_dir: Path
    store: Store
    credentials: CredentialStore


def open_context(data_dir: Path | None = None, *, credentials: CredentialStore | None = None) -> Context:
    """Open the store (migrating it) and the credential store. ``credentials`` defaults to the OS keyring
    wrapper configured from the environment (see ``console.credentials``)."""
    from console.credentials import default_credentials

    path = Path(data_dir) if data_dir else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return Context(data_dir=path, store=Store.open(path), credentials=credentials or default_credentials())
