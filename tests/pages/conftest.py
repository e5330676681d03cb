"""Fixtures for the page tests: a temporary console home, an in-process memory keyring shared by the test and
the app (AppTest runs the script in this process), connections created through the console core against a
real sandbox, and helpers to run the app at a given page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "legacy_pages: run AppTest in Streamlit's raw legacy pages/ mode")
    config.addinivalue_line("markers", "no_access_link: AppTest sessions do not present the access link")


@pytest.fixture(autouse=True)
def access_link(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AppTest session presents the console's access link on its first run, as the operator's browser
    does (``?token=`` from ``<SCIM_CONSOLE_HOME>/access-secret``, see pages/_access.py); the app then keeps
    the session signed in. Only with a test home set (never the real one). Tests marked ``no_access_link``
    see the way-in page."""
    if request.node.get_closest_marker("no_access_link"):
        return
    import os

    from console.access import TOKEN_PARAM, ensure_secret

    original = AppTest.run

    def run(self: AppTest, *args: Any, **kwargs: Any) -> AppTest:
        home = os.environ.get("SCIM_CONSOLE_HOME")
        if home and not getattr(self, "_access_presented", False):
            self.query_params[TOKEN_PARAM] = ensure_secret(Path(home))
            self._access_presented = True  # type: ignore[attr-defined]
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AppTest, "run", run)


@pytest.fixture(autouse=True)
def navigation_like_the_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest resets Streamlit's legacy ``pages/``-folder flag before every run, so with a ``pages/`` folder
    its reruns execute the page file alone (legacy mode), unlike the server, where ``st.navigation`` clears the
    flag for the process. Keep it cleared, as on the server; tests marked ``legacy_pages`` see the raw mode."""
    if request.node.get_closest_marker("legacy_pages"):
        return
    from streamlit.runtime import pages_manager

    original = pages_manager.PagesManager.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        pages_manager.PagesManager.uses_pages_directory = False

    monkeypatch.setattr(pages_manager.PagesManager, "__init__", init)


@pytest.fixture
def console_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SCIM_CONSOLE_HOME, a process-wide memory keyring chosen through the system mode, no demo."""
    from console.credentials import MemoryKeyring

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SCIM_CONSOLE_HOME", str(home))
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "system")
    monkeypatch.setenv("SCIM_CONSOLE_NO_DEMO", "1")
    monkeypatch.setenv("SCIM_CONSOLE_REMIND_EVERY", "0")  # no reminder thread unless a test asks for one
    monkeypatch.chdir(REPO)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield home
    keyring.set_keyring(previous)


def open_ctx(home: Path) -> Any:
    from console.context import open_context
    from console.credentials import default_credentials

    return open_context(home, credentials=default_credentials())


@dataclass
class Live:
    ctx: Any
    conn: Any
    home: Path
    sandbox: Any


def make_connection(home: Path, sandbox: Any, name: str = "Tenant", *, snapshot: bool = True,
                    entra: bool = True) -> Live:
    from console.connections import Connection, ConnectionRepo, EntraSettings
    from console.directory.take import take_snapshot
    from console.tokens.service import TokenService

    ctx = open_ctx(home)
    settings = None
    if entra and getattr(sandbox, "graph_url", None):
        settings = EntraSettings(tenant_id=sandbox.tenant_id, client_id=sandbox.client_id,
                                 service_principal_id=sandbox.service_principal_id, job_id=sandbox.job_id,
                                 graph_base_url=sandbox.graph_url, login_base_url=sandbox.login_url)
    conn = ConnectionRepo(ctx).add(Connection(name=name, api_url=sandbox.api_url, entra=settings))
    svc = TokenService(ctx)
    svc.set_api_key(name, sandbox.api_key)
    if settings is not None:
        ctx.credentials.set(name, "graph_client_secret", sandbox.client_secret)
    svc.generate(name)
    if snapshot:
        take_snapshot(ctx, conn)
    return Live(ctx=ctx, conn=conn, home=home, sandbox=sandbox)


@pytest.fixture
def live(console_home: Path, sandbox: Any) -> Live:
    """A connection "Tenant" to the session sandbox, token generated, one snapshot taken."""
    return make_connection(console_home, sandbox)


def app(page: str | None = None, *, timeout: float = 90, state: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def sources(at: AppTest) -> str:
    """The Markdown sources of every Markdown-rendering text of the last run (markdown, captions, alerts,
    metric labels and values, titles, badges), as Streamlit receives them."""
    parts: list[str] = []
    for kind in MARKDOWN_KINDS:
        parts.extend(str(e.value) for e in getattr(at, kind))
    parts.extend(f"{m.label}: {m.value}" for m in at.metric)
    for el in at.get("badge"):
        parts.append(str(getattr(el.proto, "label", "")) or str(el.proto))
    return "\n".join(parts)


#: proto fields Streamlit renders as Markdown (labels, bodies, help tooltips, metric values and deltas, progress
#: texts, segmented-control options, dialog titles); plain-text elements are left out on purpose
MARKDOWN_FIELDS = frozenset({"body", "label", "help", "text", "delta", "content", "title"})
PLAIN_ELEMENTS = frozenset({"Dataframe", "ArrowDataFrame", "Json", "Code", "Text", "PlotlyChart"})


def markdown_strings(at: AppTest) -> list[str]:
    """Every string of the last run that reaches a Markdown renderer, from every element and block (widget
    labels and help, expander, tab and popover labels, toasts, alerts, metrics...)."""
    out: list[str] = []

    def collect(message: Any) -> None:
        for descriptor, value in message.ListFields():
            repeated = getattr(descriptor, "is_repeated", None)
            if repeated is None:  # older protobuf
                repeated = descriptor.label == descriptor.LABEL_REPEATED
            items = list(value) if repeated else [value]
            if descriptor.type == descriptor.TYPE_MESSAGE:
                for item in items:
                    collect(item)
            elif descriptor.type == descriptor.TYPE_STRING and descriptor.name in MARKDOWN_FIELDS:
                out.extend(str(item) for item in items)

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and proto.DESCRIPTOR.name not in PLAIN_ELEMENTS:
            collect(proto)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return out


def unescape(markdown: str) -> str:
    """What ``ui.md_escape`` text reads as: backslash escapes resolved, word joiners dropped."""
    return _ESCAPED.sub(r"\1", markdown).replace("\u2060", "")


def texts(at: AppTest) -> str:
    """Every piece of visible text of the last run (see ``sources``), escapes resolved."""
    return unescape(sources(at))


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def synthetic_frames(users: int, groups: int, *, memberships_per_user: int = 2, seed: int = 7) -> Any:
    """Snapshot frames of a big directory, built quickly (no server) for the 100,000-user page tests."""
    from console.directory.frames import SnapshotFrames

    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i:06d}" for i in range(users)], dtype=object)
    first = np.array(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"], dtype=object)
    last = np.array(["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"],
                    dtype=object)
    given = first[rng.integers(0, len(first), users)]
    family = last[rng.integers(0, len(last), users)]
    user_names = np.char.add(np.char.add(np.array([f"user{i:06d}" for i in range(users)]), "@"), "example.org")
    now = pd.Timestamp.now(tz="UTC")
    udf = pd.DataFrame({
        "id": ids, "userName": user_names.astype(object), "email": user_names.astype(object),
        # as the guide's Entra mapping provisions people: no displayName (one in ten has one, set by hand)
        "givenName": given, "familyName": family,
        "displayName": np.where(rng.random(users) < 0.1, given + " " + family, None),
        "active": rng.random(users) > 0.1, "externalId": [f"ext-{i}" for i in range(users)],
        "created": now - pd.Timedelta(days=30), "lastModified": now - pd.Timedelta(days=1)})
    gids = [f"g{i:04d}" for i in range(groups)]
    names = [f"Role - R{i:04d}" if i % 10 == 0 else f"Team {i:04d}" for i in range(groups)]
    member_group = rng.integers(0, groups, users * memberships_per_user)
    mdf = pd.DataFrame({"group_id": np.array(gids, dtype=object)[member_group],
                        "user_id": np.repeat(ids, memberships_per_user)}).drop_duplicates()
    counts = mdf.groupby("group_id").size()
    gdf = pd.DataFrame({"id": gids, "displayName": names, "externalId": [f"gext-{i}" for i in range(groups)],
                        "kind": ["role" if n.startswith("Role - ") else "group" for n in names]})
    gdf["member_count"] = gdf["id"].map(counts).fillna(0).astype("int64")
    return SnapshotFrames(udf, gdf, mdf.reset_index(drop=True))
