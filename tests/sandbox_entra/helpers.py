"""Small helpers for the Entra simulator tests: Graph calls with client credentials, admin shortcuts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from tests.sandbox_fixture import RunningSandbox


class Graph:
    """Microsoft Graph as the console would call it (client credentials against the sandbox's login URL)."""

    def __init__(self, box: RunningSandbox) -> None:
        self.box = box
        resp = httpx.post(f"{box.login_url}/{box.tenant_id}/oauth2/v2.0/token", data={
            "client_id": box.client_id, "client_secret": box.client_secret,
            "scope": "https://graph.microsoft.com/.default", "grant_type": "client_credentials"}, timeout=30)
        assert resp.status_code == 200, resp.text
        self.token = resp.json()["access_token"]
        self.client = httpx.Client(base_url=box.graph_url, timeout=60,
                                   headers={"Authorization": f"Bearer {self.token}"})
        self.sync = f"/servicePrincipals/{box.service_principal_id}/synchronization"
        self.job_path = f"{self.sync}/jobs/{box.job_id}"

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params or None)

    def job(self) -> dict[str, Any]:
        resp = self.get(self.job_path)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def all_logs(self, top: int = 50, filter: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"$top": top}
        if filter:
            params["$filter"] = filter
        resp = self.client.get("/auditLogs/provisioning", params=params)
        out: list[dict[str, Any]] = []
        while True:
            assert resp.status_code == 200, resp.text
            body = resp.json()
            out.extend(body["value"])
            link = body.get("@odata.nextLink")
            if not link:
                return out
            resp = self.client.get(link)

    def put_secrets(self, token: str | None = None, base: str | None = None) -> httpx.Response:
        value = []
        if base is not None:
            value.append({"key": "BaseAddress", "value": base})
        if token is not None:
            value.append({"key": "SecretToken", "value": token})
        return self.client.put(f"{self.sync}/secrets", json={"value": value})

    def post(self, suffix: str, json: Any = None) -> httpx.Response:
        return self.client.post(f"{self.job_path}/{suffix}", json=json)

    def close(self) -> None:
        self.client.close()


def cycles(box: RunningSandbox, count: int = 1, **extra: Any) -> list[dict[str, Any]]:
    return box.admin("POST", "/sandbox-admin/entra/cycles", json={"count": count, **extra})["cycles"]


def tenant(box: RunningSandbox, *actions: dict[str, Any]) -> list[dict[str, Any]]:
    return box.admin("POST", "/sandbox-admin/entra/tenant", json={"actions": list(actions)})["results"]


def status(box: RunningSandbox) -> dict[str, Any]:
    return box.admin("GET", "/sandbox-admin/entra/status")


def scim_user_by_external_id(box: RunningSandbox, external_id: str) -> dict[str, Any] | None:
    with box.client() as c:
        resp = c.get("/Users", params={"filter": f'externalId eq "{external_id}"'})
        assert resp.status_code == 200, resp.text
        found = resp.json().get("Resources") or []
    return found[0] if found else None


def scim_group(box: RunningSandbox, display_name: str) -> dict[str, Any] | None:
    with box.client() as c:
        resp = c.get("/Groups", params={"filter": f'displayName eq "{display_name}"'})
        assert resp.status_code == 200, resp.text
        found = resp.json().get("Resources") or []
    return found[0] if found else None


# The demo with every reconciliation category and the mapping drift planted (sandbox/entra/plant.py), small and
# fast: used by the plant tests, the reconciliation tests and the Reconcile page test.
PLANTED_DEMO: dict[str, Any] = {"seed_users": 120, "seed_groups": 8, "seed": 41, "demo": True,
                                "extra_args": ["--demo-days", "1", "--cycle-seconds", "0"]}


def planted_demo() -> Iterator[RunningSandbox]:
    """Body of a module-scoped fixture: a sandbox with ``PLANTED_DEMO``, removed afterwards."""
    from tests.sandbox_fixture import start_sandbox

    box = start_sandbox(**PLANTED_DEMO)
    try:
        yield box
    finally:
        box.cleanup()
