"""The permission probes against python-scim's stock scim2-server: an independent peer with no permission model,
so every permission reads as granted, the no-change probe leaves its data as it was, and the full probe leaves
nothing behind."""

from __future__ import annotations

from scim_client import ScimClient
from scim_client.permissions import PERMISSION_ORDER, full_probe, probe_permissions
from tests.scim_client.conftest import STOCK_TOKEN


def _names(client: ScimClient) -> tuple[set[str], set[str]]:
    return ({u.user_name for u in client.iter_users()}, {g.display_name for g in client.list_groups()})


def test_probes_on_an_independent_server(stock_server):
    with ScimClient(stock_server, token=STOCK_TOKEN) as client:
        client.create_user("existing@example.com", email="existing@example.com")
        before = _names(client)
        checks = probe_permissions(client)
        assert [c.key for c in checks] == list(PERMISSION_ORDER)
        assert all(c.verdict == "granted" for c in checks), checks
        assert _names(client) == before  # nothing created, changed or deleted
        result = full_probe(client)
        assert [c.key for c in result.checks] == list(PERMISSION_ORDER)
        assert all(c.granted for c in result.checks), result.checks
        assert result.leftovers == [] and _names(client) == before
