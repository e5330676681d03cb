"""The local access secret: only the operator who can read the console's home gets into the app. UI-free.

The app (``app.py``) listens on 127.0.0.1, and every local user, every local process and every web page the
operator's browser opens can reach that port. So, unless sign-in (``st.login``) is configured, a browser
gets in only by presenting a secret that only the operator can read, as Jupyter does:

- The secret lives in ``<SCIM_CONSOLE_HOME>/access-secret``: 256 random bits, created on first use with
  permissions 0600, atomically (two processes starting at once agree on one secret). A file that others
  could read (group/other permission bits) is treated as leaked and replaced by a new secret; a file owned by
  someone else, a symlink or anything but a regular file is refused with the remedy.
- The operator opens ``http://127.0.0.1:PORT/?token=SECRET`` (printed by ``python -m console app`` in its
  terminal, and by ``python -m console access-url`` on demand). Presented secrets are compared in constant
  time.
- The browser then remembers the entry in a cookie for :data:`REMEMBER_SECONDS` (reloads and new tabs keep
  working). The cookie never holds the secret: it holds an expiry and an HMAC of it keyed by the secret, so
  renewing the secret (``access-url --new``) signs every browser out.
- A browser session whose WebSocket comes from another origin (a page on another port of 127.0.0.1) is
  refused whatever it presents: browsers attach 127.0.0.1 cookies to such requests (cookies ignore ports).

Nothing here logs, prints or raises with the secret in it. ``decide`` is the whole policy as a pure function;
``pages/_access.py`` applies it to a Streamlit run.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from console.errors import ConsoleError
from console.i18n import _
from console.paths import data_dir

log = logging.getLogger("console.access")

SECRET_FILE = "access-secret"  # noqa: S105 - a file name
TOKEN_PARAM = "token"  # noqa: S105 - a query parameter name
COOKIE_PREFIX = "scim_console_access"
REMEMBER_SECONDS = 12 * 3600
DEFAULT_PORT = 8501
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ACCESS_URL_COMMAND = "python -m console access-url"
ENV_URL_PRINTED = "SCIM_CONSOLE_ACCESS_URL_PRINTED"  # set by `python -m console app` for the app: it printed the link

_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
_MAX_PRESENTED = 256  # longer "secrets" are refused without comparing
_COOKIE_SHAPE = re.compile(r"^(\d{1,12})\.([0-9a-f]{64})$")


class AccessSecretError(ConsoleError):
    """The access secret file cannot be used safely."""


# --- the secret file ---------------------------------------------------------------------------------------


def secret_path(home: Path | None = None) -> Path:
    return Path(home if home is not None else data_dir()) / SECRET_FILE


def ensure_secret(home: Path | None = None) -> str:
    """The access secret of ``home`` (default: the console's home), created on first use."""
    path = secret_path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for _attempt in range(3):
        value = _read_secret(path)
        if value is not None:
            return value
        created = _new_secret()
        if _publish(path, created, replace=False):
            log.info("created a new access secret in %s", path)
            return created
    raise AccessSecretError(_("The access secret in {path} could not be created.").format(path=path),
                            _("Check that {folder} is writable by you, then start the console again.").format(
                                folder=path.parent))


def rotate_secret(home: Path | None = None) -> str:
    """Replace the access secret: old links and remembered browsers stop working."""
    path = secret_path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _check_not_foreign(path)
    value = _new_secret()
    _publish(path, value, replace=True)
    log.warning("the access secret in %s was renewed; earlier links and remembered browsers no longer work", path)
    return value


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _publish(path: Path, value: str, *, replace: bool) -> bool:
    """Write ``value`` to a private temporary file, then link it in (or replace). False if someone else was
    first (when not replacing)."""
    fd, tmp = tempfile.mkstemp(prefix=".access-secret-", dir=path.parent)  # mode 0600
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (value + "\n").encode("ascii"))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if replace:
            os.replace(tmp, path)
            tmp = ""
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _check_not_foreign(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise AccessSecretError(_("{path} is not a regular file (a symlink or something else).").format(path=path),
                                _("Remove it (rm {path}) and start the console again; a new secret is "
                                  "created.").format(path=path))
    if st.st_uid != os.geteuid():
        raise AccessSecretError(_("{path} belongs to another user (uid {uid}).").format(path=path, uid=st.st_uid),
                                _("Remove it (rm {path}) or use your own SCIM_CONSOLE_HOME; a new secret is "
                                  "created at the next start.").format(path=path))


def _read_secret(path: Path) -> str | None:
    """The secret in ``path``; None when there is none yet (or it had to be discarded)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AccessSecretError(
                _("{path} is a symbolic link, which is not accepted for the access secret.").format(path=path),
                _("Remove it (rm {path}) and start the console again; a new secret is created.").format(
                    path=path)) from None
        raise AccessSecretError(
            _("The access secret in {path} cannot be read ({error}).").format(path=path, error=exc.strerror),
            _("Check the permissions of {folder}, or remove {path} to get a new secret.").format(
                folder=path.parent, path=path)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AccessSecretError(_("{path} is not a regular file.").format(path=path),
                                    _("Remove it (rm {path}) and start the console again.").format(path=path))
        if st.st_uid != os.geteuid():
            raise AccessSecretError(
                _("{path} belongs to another user (uid {uid}).").format(path=path, uid=st.st_uid),
                _("Remove it (rm {path}) or use your own SCIM_CONSOLE_HOME; a new secret is created at the next "
                  "start.").format(path=path))
        raw = os.read(fd, 1024)
    finally:
        os.close(fd)
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        log.warning("the access secret file %s had permissions %o, so others may have read it: it was replaced "
                    "by a new secret with permissions 600", path, mode)
        _discard(path)
        return None
    try:
        value = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        value = ""
    if not _SECRET_SHAPE.match(value):
        log.warning("the access secret file %s did not hold a usable secret: it was replaced", path)
        _discard(path)
        return None
    return value


def _discard(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --- presenting it -----------------------------------------------------------------------------------------


def matches(secret: str, presented: str | None) -> bool:
    """Constant-time comparison of a presented secret with the real one."""
    if not presented or len(presented) > _MAX_PRESENTED:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), secret.encode("ascii"))


def access_url(secret: str, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{int(port)}/?{TOKEN_PARAM}={secret}"


def _mac(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode("ascii"), f"scim-console|{purpose}".encode(), hashlib.sha256).hexdigest()


def session_mark(secret: str) -> str:
    """What a granted session keeps: a fingerprint that stops matching when the secret is renewed."""
    return _mac(secret, "session")


def session_valid(secret: str, mark: str | None) -> bool:
    return mark is not None and hmac.compare_digest(mark, session_mark(secret))


def cookie_name(host_header: str | None) -> str:
    """One cookie per port: two consoles on one machine (two homes) do not overwrite each other's."""
    port = _port_of(host_header)
    return f"{COOKIE_PREFIX}_{port}" if port else COOKIE_PREFIX


def make_cookie(secret: str, now: float | None = None, ttl: int = REMEMBER_SECONDS) -> str:
    expiry = int(now if now is not None else time.time()) + int(ttl)
    return f"{expiry}.{_mac(secret, f'cookie|{expiry}')}"


def cookie_valid(secret: str, value: str | None, now: float | None = None) -> bool:
    if not value or len(value) > 100:
        return False
    m = _COOKIE_SHAPE.match(value)
    if m is None:
        return False
    expiry = int(m.group(1))
    current = now if now is not None else time.time()
    if not current < expiry <= current + REMEMBER_SECONDS + 60:
        return False
    return hmac.compare_digest(m.group(2), _mac(secret, f"cookie|{expiry}"))


def _port_of(host_header: str | None) -> str:
    if not host_header:
        return ""
    try:
        port = urlsplit(f"//{host_header}").port
    except ValueError:
        return ""
    return str(port) if port else ""


def port_of(host_header: str | None) -> int | None:
    value = _port_of(host_header)
    return int(value) if value else None


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a browser's ``Origin`` is the app itself. No Origin (non-browser clients, tests) passes: the
    secret still has to be presented; a browser always sends one on a WebSocket."""
    if origin is None:
        return True
    if not host:
        return False
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return parts.netloc.lower() == host.strip().lower()


# --- the policy --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """``granted``; ``via`` is how (token, cookie, session) or why not (missing, wrong-token, foreign-origin);
    ``set_cookie`` is the cookie value to hand the browser after a fresh entry."""

    granted: bool
    via: str
    set_cookie: str | None = None


def decide(secret: str, *, presented: str | None, cookie: str | None, session: str | None,
           origin: str | None, host: str | None, now: float | None = None) -> Decision:
    """Who gets in. ``presented``: the ``token`` query parameter, if any; ``cookie``: the remembered-browser
    cookie; ``session``: the mark a granted session holds; ``origin``/``host``: the WebSocket's headers."""
    if not same_origin(origin, host):
        return Decision(False, "foreign-origin")
    if presented is not None and matches(secret, presented):
        return Decision(True, "token", make_cookie(secret, now))
    if session_valid(secret, session):
        return Decision(True, "session")
    if cookie_valid(secret, cookie, now):
        return Decision(True, "cookie")
    return Decision(False, "missing" if presented is None else "wrong-token")


_COOKIE_NAME_SHAPE = re.compile(rf"^{COOKIE_PREFIX}(_\d{{1,5}})?$")


def cookie_valid_shape(name: str, value: str) -> bool:
    """Whether a cookie name and value have exactly the shapes this module makes (safe to put in a script)."""
    return bool(_COOKIE_NAME_SHAPE.match(name)) and bool(_COOKIE_SHAPE.match(value))


# --- where the app runs (for access-url) -------------------------------------------------------------------

SERVER_FILE = "app-server.json"


def record_server(home: Path, port: int, pid: int) -> None:
    """Note the port ``python -m console app`` serves on, so ``access-url`` prints the right link."""
    path = Path(home) / SERVER_FILE
    tmp = path.with_name(f".{SERVER_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps({"port": int(port), "pid": int(pid)}), encoding="utf-8")
    os.replace(tmp, path)


def recorded_port(home: Path) -> int | None:
    """The port of a running ``python -m console app`` for ``home``, if its process is still alive."""
    try:
        data = json.loads((Path(home) / SERVER_FILE).read_text(encoding="utf-8"))
        port, pid = int(data["port"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not 0 < port < 65536 or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return port
