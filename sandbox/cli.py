"""Command line of the sandbox: ``python -m sandbox serve | seed | keys | log``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from . import entra
from .auth import PERMISSIONS, Auth, fingerprint, normalise_permissions
from .policy import Tolerances
from .requestlog import format_entry, tail
from .store import Store, StoreConflict, StoreNotFound

DEFAULT_KEY_NAME = "default"
ENV_API_KEY = "SCIM_SANDBOX_API_KEY"
ENV_ADMIN_TOKEN = "SCIM_SANDBOX_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a secret


def default_data_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path("scim-console") / "sandbox"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox",
                                     description="Embedded 6clicks-compatible SCIM 2.0 sandbox server.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server until stopped")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port (8765)")
    _data_dir_arg(serve)
    serve.add_argument("--seed-users", type=int, default=0, help="users to seed (once per data dir)")
    serve.add_argument("--seed-groups", type=int, default=None, help="groups to seed (default: 20 with users)")
    serve.add_argument("--seed", type=int, default=0, help="seed of the generated organisation")
    _seed_profile_arg(serve)
    serve.add_argument("--api-key", default=None,
                       help=f"register KEY with all six permissions as key {DEFAULT_KEY_NAME!r} (prefer ${ENV_API_KEY}:"
                            " argv is visible to every user of the machine)")
    serve.add_argument("--max-page-size", type=int, default=100, help="largest page served (100)")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    serve.add_argument("--fault-429", type=float, default=0.0, help="fraction answered 429 + Retry-After")
    serve.add_argument("--fault-500", type=float, default=0.0, help="fraction answered 500")
    serve.add_argument("--fault-drop", type=float, default=0.0, help="fraction of connections dropped")
    serve.add_argument("--fault-seed", type=int, default=0, help="seed of the fault sequence")
    serve.add_argument("--fault-paths", default=None, help="regex: faults only on matching paths")
    serve.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on injected 429s")
    serve.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    serve.add_argument("--strict", action="append", default=[], metavar="TOLERANCE", choices=Tolerances.names(),
                       help="switch off one of the Entra tolerances (repeat): " + ", ".join(Tolerances.names())
                            + " (see docs/sandbox.md; also PUT /sandbox-admin/policy)")
    entra.add_cli_arguments(serve)

    seed = sub.add_parser("seed", help="seed a data dir without serving (once per data dir)")
    _data_dir_arg(seed)
    seed.add_argument("--users", type=int, required=True)
    seed.add_argument("--groups", type=int, default=20)
    seed.add_argument("--seed", type=int, default=0)
    _seed_profile_arg(seed)

    keys = sub.add_parser("keys", help="manage API keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="create a key and print it once")
    _data_dir_arg(kc)
    kc.add_argument("--name", required=True)
    perms = kc.add_mutually_exclusive_group()
    perms.add_argument("--permission", action="append", default=None,
                       help=f"repeat; one of {', '.join(PERMISSIONS)} (default: all six)")
    perms.add_argument("--no-permissions", action="store_true",
                       help="a key whose user has none of the six permissions (every SCIM call answers 403)")
    kl = ksub.add_parser("list", help="list keys (names, permissions; never the keys)")
    _data_dir_arg(kl)
    kr = ksub.add_parser("revoke", help="delete a key; its tokens stop working at once")
    _data_dir_arg(kr)
    kr.add_argument("name")
    kp = ksub.add_parser("permissions", help="replace a key's permissions (removing one invalidates tokens)")
    _data_dir_arg(kp)
    kp.add_argument("name")
    kp.add_argument("--permission", action="append", default=[],
                    help=f"repeat; one of {', '.join(PERMISSIONS)} (none given: the key keeps no permission)")

    log = sub.add_parser("log", help="show the request log")
    _data_dir_arg(log)
    log.add_argument("--tail", type=int, default=50, help="last N entries (0: all)")
    log.add_argument("--json", action="store_true", help="raw JSON lines")
    extra = getattr(entra, "add_subcommands", None)  # export-logs (sets a handler(args, data_dir))
    if extra is not None:
        extra(sub, _data_dir_arg)
    return parser


def _seed_profile_arg(p: argparse.ArgumentParser) -> None:
    from .seed import DEFAULT_PROFILE, PROFILES

    p.add_argument("--seed-profile", choices=PROFILES, default=DEFAULT_PROFILE,
                   help="shape of the seeded users: 'entra' (default) has exactly the attributes the 6clicks "
                        "guide's Entra mapping sends (no displayName, title, phone or department); 'rich' adds "
                        "displayName, title and the enterprise extension")


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None, help="data directory (default: per-user data dir)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data_dir: Path = (args.data_dir or default_data_dir()).expanduser().resolve()
    try:
        if args.command == "serve":
            return serve(args, data_dir)
        if args.command == "seed":
            return seed_command(args, data_dir)
        if args.command == "keys":
            return keys_command(args, data_dir)
        if args.command == "log":
            return log_command(args, data_dir)
        handler = getattr(args, "handler", None)
        if handler is not None:
            return handler(args, data_dir)
    except (ValueError, StoreConflict) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


# ------------------------------------------------------------------------------------------------ keys/log
def keys_command(args: argparse.Namespace, data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / "sandbox.db")
    auth = Auth(store, data_dir)
    try:
        if args.keys_command == "create":
            key = auth.create_key(args.name, [] if args.no_permissions else args.permission)
            print(key)
            print(f"(shown once; fingerprint {fingerprint(key)}; key name {args.name!r})", file=sys.stderr)
            return 0
        if args.keys_command == "list":
            for rec in store.list_keys():
                print(f"{rec.name}\t{','.join(rec.permissions) or '(none)'}\tcreated {rec.created}")
            return 0
        if args.keys_command == "revoke":
            if not store.revoke_key(args.name):
                print(f"error: no API key named {args.name!r}; see: python -m sandbox keys list", file=sys.stderr)
                return 1
            print(f"revoked {args.name}")
            return 0
        if args.keys_command == "permissions":
            perms = normalise_permissions(args.permission) if args.permission else []
            try:
                rec = store.set_key_permissions(args.name, perms)
            except StoreNotFound:
                print(f"error: no API key named {args.name!r}", file=sys.stderr)
                return 1
            print(f"{rec.name}\t{','.join(rec.permissions) or '(none)'}")
            return 0
    finally:
        store.close()
    return 2


def log_command(args: argparse.Namespace, data_dir: Path) -> int:
    path = data_dir / "requests.log"
    if not path.exists():
        print(f"No request log in {data_dir} yet (start the server with --data-dir {data_dir}).", file=sys.stderr)
        return 1
    import orjson

    for entry in tail(path, args.tail or None):
        print(orjson.dumps(entry).decode() if args.json else format_entry(entry))
    return 0


# ------------------------------------------------------------------------------------------------ seed
def _seed_once(store: Store, users: int, groups: int, seed_value: int, profile: str) -> dict[str, Any] | None:
    from .seed import seed

    if store.get_meta("seeded"):
        return None
    result = seed(store, users, groups, seed_value, profile)
    store.set_meta("seeded", f"users={users} groups={groups} seed={seed_value} profile={profile}")
    return result


def seed_command(args: argparse.Namespace, data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / "sandbox.db")
    try:
        result = _seed_once(store, args.users, args.groups, args.seed, args.seed_profile)
    finally:
        store.close()
    if result is None:
        print(f"{data_dir} was already seeded; nothing done.", file=sys.stderr)
        return 0
    print(f"seeded {result['users']} users ({result['profile']} profile) and {result['groups']} groups in "
          f"{result['seconds']} s")
    return 0


# ------------------------------------------------------------------------------------------------ serve
def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY: without it every keep-alive response waits ~40 ms (Nagle + delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 - only to print a usable URL
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def serve(args: argparse.Namespace, data_dir: Path) -> int:
    from .server import make_state

    if args.max_page_size < 1:
        raise ValueError("--max-page-size must be at least 1.")
    state = make_state(args, data_dir, os.environ.get(ENV_ADMIN_TOKEN) or None)
    env_key = os.environ.get(ENV_API_KEY)
    if env_key:
        state.register_api_key(env_key, DEFAULT_KEY_NAME, None)
    if args.api_key:  # with both, the flag's key is registered as "api-key" next to the environment's
        state.register_api_key(args.api_key, "api-key" if env_key else DEFAULT_KEY_NAME, None)
    if args.seed_users or args.seed_groups:
        groups = args.seed_groups if args.seed_groups is not None else 20
        result = _seed_once(state.store, args.seed_users, groups, args.seed, args.seed_profile)
        if result is None:
            print(f"note: {data_dir} was seeded before; --seed-users/--seed-groups ignored", file=sys.stderr)
    state.faults.set(latency_ms=args.latency_ms, rate_429=args.fault_429, rate_500=args.fault_500,
                     rate_drop=args.fault_drop, seed=args.fault_seed, paths=args.fault_paths,
                     retry_after=args.retry_after)
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror}); use another --port or 0",
              file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    state.base_url = f"http://{_url_host(args.host)}:{port}"
    try:
        asyncio.run(_run(state, sock))
    finally:
        sock.close()
        state.request_log.close()
        state.store.close()
    return 0


async def _run(state: Any, sock: socket.socket) -> None:
    import uvicorn

    from .server import build_app

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await entra.startup(state)
        try:
            yield
        finally:
            await entra.shutdown(state)

    app = build_app(state, list(entra.routes(state)), lifespan)
    try:  # the C parser (pinned in requirements.txt) costs less CPU per request than h11; h11 if missing
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:  # pragma: no cover
        http = "h11"
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", http=http,
                            timeout_graceful_shutdown=3, server_header=False)
    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Graceful stop on SIGTERM/SIGINT, then a normal exit (status 0) instead of uvicorn re-raising the
            # signal after shutdown; a second Ctrl-C forces the exit.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    server = _Server(config)
    tasks = [asyncio.create_task(_announce(server, state))]
    if state.config.parent_pid:
        tasks.append(asyncio.create_task(_watch_parent(server, state.config.parent_pid)))
    try:
        await server.serve(sockets=[sock])
    finally:
        for t in tasks:
            t.cancel()


async def _announce(server: Any, state: Any) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.01)
    waiter = getattr(entra, "wait_until_ready", None)  # the Entra demo history is written over HTTP first
    if waiter is not None:
        await waiter(state)
    lines = [("API base URL", state.base_url), ("SCIM base URL", f"{state.base_url}/scim"),
             ("data dir", str(state.data_dir))]
    lines.extend(entra.describe(state))
    for name, value in lines:
        print(f"{name}: {value}")
    print("ready", flush=True)
    from .models import warm_up

    await asyncio.to_thread(warm_up)
    await asyncio.to_thread(state.store.warm_positions)


def parent_alive(pid: int, was_parent: bool) -> bool:
    if was_parent and os.getppid() != pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _watch_parent(server: Any, pid: int) -> None:
    was_parent = os.getppid() == pid
    while True:
        if not parent_alive(pid, was_parent):
            print(f"parent process {pid} is gone; stopping", file=sys.stderr, flush=True)
            server.should_exit = True
            return
        await asyncio.sleep(0.5)
