"""Stock python-scim ``scim2-server`` holding N users, for side-by-side figures (run as a subprocess).

``python -m bench._scim2_peer --port P --users N [--groups M]`` builds the application exactly as the
``scim2-server`` command does (default schemas, resource types and configuration, in-memory storage, the
threaded WSGI server of the standard library, static bearer token from ``SCIM2_PEER_TOKEN``), loads the users
through the storage's own ``create`` (the same path a POST takes after parsing, so loading 20,000 users does not
take minutes of HTTP), then prints ``ready http://127.0.0.1:P/v2`` and serves until terminated.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from scim2_models import Group, GroupMember, ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def user_payload(i: int) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{i:06d}@example.org",
        "externalId": f"ext-{i:06d}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "displayName": f"Given{i} Family{i}",
        "emails": [{"value": f"user{i:06d}@example.org", "type": "work", "primary": True}],
        "active": i % 10 != 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=0)
    args = parser.parse_args()

    config = load_default_service_provider_config()
    token = os.environ.get("SCIM2_PEER_TOKEN")
    if token:
        config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(load_default_schemas().values(),
                                           load_default_resource_types().values(), config=config)
    service = ScimService(provider, secret=os.urandom(24).hex())
    storage = InMemoryStorage()
    app = BearerTokenApplication(storage, provider, service=service, bearer_tokens=[token] if token else [])

    started = time.perf_counter()
    types = {rt.name: rt for rt in provider.resource_types}
    user_model = service.get_model(types["User"])
    group_model = service.get_model(types["Group"])
    ids = []
    for i in range(args.users):
        created = storage.create(types["User"], user_model.model_validate(user_payload(i)))
        ids.append(created.id)
    for g in range(args.groups):
        members = [GroupMember(value=ids[j]) for j in range(g, len(ids), max(args.groups, 1))][:200]
        storage.create(types["Group"], group_model.model_validate(
            Group(display_name=f"Group {g:04d}", members=members).model_dump()))
    print(f"loaded {args.users} users and {args.groups} groups in {time.perf_counter() - started:.1f} s",
          flush=True)

    with make_server("127.0.0.1", args.port, app, server_class=ThreadingWSGIServer,
                     handler_class=QuietHandler) as server:
        server.request_queue_size = 64
        print(f"ready http://127.0.0.1:{args.port}/v2", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
