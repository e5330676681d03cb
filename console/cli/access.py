"""``python -m console app`` starts the app and prints its access link; ``python -m console access-url`` prints
the link again (``--new``: renew the secret, which signs every browser out).

The link (``http://127.0.0.1:PORT/?token=SECRET``) is the only way into the app unless sign-in (``st.login``)
is configured. The secret lives in ``<SCIM_CONSOLE_HOME>/access-secret`` (permissions 600). ``app`` prints it
only to a terminal, never into a redirected log; ``access-url`` prints it on standard output when asked.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from console import access
from console.cli._common import data_dir_parent
from console.errors import InvalidInput
from console.i18n import _

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
READY_TIMEOUT = 180.0


def register(sub: argparse._SubParsersAction) -> None:
    description = _("python -m console app starts the app and prints its access link; python -m console "
                    "access-url prints the link again (--new: renew the secret, which signs every browser out). "
                    "The link (http://127.0.0.1:PORT/?token=SECRET) is the only way into the app unless sign-in "
                    "(st.login) is configured. The secret lives in <SCIM_CONSOLE_HOME>/access-secret (permissions "
                    "600). app prints it only to a terminal, never into a redirected log; access-url prints it on "
                    "standard output when asked.")
    p = sub.add_parser("app", parents=[data_dir_parent()], help=_("start the app and print its access link"),
                       description=description)
    p.add_argument("--port", type=int, default=None,
                   help=_("port on 127.0.0.1 (default: 8501, or the next free one)"))
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER, metavar="-- STREAMLIT_OPTION ...",
                   help=_("further options for `streamlit run` (after --), e.g. -- --server.headless true"))
    p.set_defaults(handler=cmd_app)
    p = sub.add_parser("access-url", parents=[data_dir_parent()], help=_("print the app's access link"),
                       description=description)
    p.add_argument("--port", type=int, default=None,
                   help=_("the app's port (default: the one `python -m console app` runs on, else 8501)"))
    p.add_argument("--new", action="store_true",
                   help=_("renew the secret first: the old link and every remembered browser stop working"))
    p.set_defaults(handler=cmd_access_url)


def _home(args: argparse.Namespace) -> Path:
    from console.paths import data_dir

    if getattr(args, "data_dir", None) is not None:
        path = Path(args.data_dir).expanduser()
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path
    return data_dir()


def _check_port(port: int | None) -> None:
    if port is not None and not 0 < port < 65536:
        raise InvalidInput(_("{port} is not a port number.").format(port=port),
                           _("Give a number between 1 and 65535."))


def cmd_access_url(args: argparse.Namespace) -> int:
    _check_port(args.port)
    home = _home(args)
    if args.new:
        secret = access.rotate_secret(home)
        print(_("note: the access secret was renewed; earlier links and remembered browsers no longer work."),
              file=sys.stderr)
    else:
        secret = access.ensure_secret(home)
    port = args.port or access.recorded_port(home) or access.DEFAULT_PORT
    print(access.access_url(secret, port))
    return 0


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _choose_port() -> int:
    for port in range(access.DEFAULT_PORT, access.DEFAULT_PORT + 100):
        if _port_free(port):
            return port
    raise InvalidInput(_("No free port between 8501 and 8600 on 127.0.0.1."), _("Give one with --port."))


def _wait_ready(proc: subprocess.Popen[Any], port: int) -> bool:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text.strip() == "ok":
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


def _announce(secret: str, port: int) -> bool:
    out = sys.stdout
    if out.isatty():
        out.write("\n  " + _("SCIM operator console is running. Open this link in your browser (it contains the "
                            "access secret;\n  do not share it):") + "\n\n"
                  f"    {access.access_url(secret, port)}\n\n  "
                  + _("Print it again: {command} --port {port}   ·   stop: Ctrl+C").format(
                      command=access.ACCESS_URL_COMMAND, port=port) + "\n\n")
        out.flush()
        return True
    out.write(_("SCIM operator console is running on http://127.0.0.1:{port}/ . Its access link is not printed "
                "because this output is not a terminal: run `{command} --port {port}` in a terminal to see it.")
              .format(port=port, command=access.ACCESS_URL_COMMAND) + "\n")
    out.flush()
    return False


def cmd_app(args: argparse.Namespace) -> int:
    _check_port(args.port)
    home = _home(args)
    secret = access.ensure_secret(home)
    port = args.port if args.port is not None else _choose_port()
    extra = [a for a in (args.streamlit_args or []) if a != "--"] if args.streamlit_args else []
    env = dict(os.environ, SCIM_CONSOLE_HOME=str(home))
    interactive = sys.stdout.isatty()
    if interactive:
        env[access.ENV_URL_PRINTED] = "1"  # the app then does not print the link a second time
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
               "--logger.hideWelcomeMessage", "true", *extra]
    proc = subprocess.Popen(command, cwd=REPO, env=env)  # noqa: S603 - our own interpreter and script
    previous = {sig: signal.signal(sig, lambda *_: _forward(proc)) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if _wait_ready(proc, port):
            access.record_server(home, port, os.getpid())
            _announce(secret, port)
        elif proc.poll() is None:
            print(_("warning: the app does not answer on port {port} yet; it keeps starting. Get its link with "
                    "`{command} --port {port}`.").format(port=port, command=access.ACCESS_URL_COMMAND),
                  file=sys.stderr)
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # Ctrl+C reaches Streamlit too (same process group): wait for it
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()



def _forward(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
