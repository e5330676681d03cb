"""Secrets in the keyring, one entry per connection and kind; never in files the console writes, logs or errors.

Backends, chosen by ``SCIM_CONSOLE_KEYRING`` (default ``auto``):

- ``system``: whatever ``keyring`` picks (a desktop keyring: Secret Service/GNOME Keyring, KWallet, macOS
  Keychain, Windows Credential Manager). Insecure backends (fail, null, plaintext/base64 files, a chainer of only
  those) are refused with one message naming the ways out.
- ``cryptfile``: ``keyrings.cryptfile``'s ``CryptFileKeyring`` (Argon2 + AES), unlocked with a passphrase from
  ``SCIM_CONSOLE_KEYRING_PASSPHRASE`` or a hidden prompt; file ``SCIM_CONSOLE_KEYRING_FILE`` or keyring's default.
- ``session``: in memory for the life of this process; nothing is written anywhere, and it says so.
- ``memory``: the same in-memory backend, for tests and the demo.
- ``auto``: a secure system keyring if there is one, else the encrypted file keyring (when ``keyrings.cryptfile``
  is installed), which asks for its passphrase when first used.

The demo connection's secrets always live in a process-wide in-memory keyring, whatever the backend.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import keyring
from keyring import backend as keyring_backend
from keyring.errors import KeyringError, PasswordDeleteError

# pinned in requirements.txt (always ships); importing it adds ~20 ms to keyring's own import
from keyrings.cryptfile.cryptfile import CryptFileKeyring
from keyrings.cryptfile.file import EncryptedKeyring

from console.errors import ConsoleError, InvalidInput
from console.i18n import N_, _
from console.keyring_info import MIN_PASSPHRASE_LENGTH as MIN_PASSPHRASE_LENGTH
from console.keyring_info import MIN_PASSPHRASE_WORDS as MIN_PASSPHRASE_WORDS
from console.keyring_info import PASSPHRASE_RULE as PASSPHRASE_RULE
from console.keyring_info import WAYS_OUT, BackendInfo, passphrase_problem, passphrase_remedy
from console.keyring_info import kind_words as _kind
from console.keyring_info import passphrase_rule as passphrase_rule

log = logging.getLogger(__name__)

SERVICE = "scim-console"
KINDS = ("api_key", "access_token", "graph_client_secret", "notify_urls")
ENV_MODE = "SCIM_CONSOLE_KEYRING"
ENV_PASSPHRASE = "SCIM_CONSOLE_KEYRING_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
ENV_FILE = "SCIM_CONSOLE_KEYRING_FILE"
MODES = ("auto", "system", "cryptfile", "session", "memory")
CACHE_SECONDS = 30.0


class CredentialsError(ConsoleError):
    """The keyring cannot be used (insecure, locked, wrong passphrase, refused an operation)."""


class MemoryKeyring(keyring_backend.KeyringBackend):
    """A keyring backend that keeps passwords in this process only. For tests, the demo and session mode.

    Usable as ``PYTHON_KEYRING_BACKEND=console.credentials.MemoryKeyring`` or ``keyring.set_keyring(...)``."""

    priority = 0.1  # never chosen automatically (not registered as an entry point)

    def __init__(self) -> None:
        super().__init__()
        self._data: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get_password(self, service: str, username: str) -> str | None:
        with self._lock:
            return self._data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._lock:
            self._data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        with self._lock:
            if self._data.pop((service, username), None) is None:
                raise PasswordDeleteError("not found")

    def __repr__(self) -> str:  # never show contents
        return f"<MemoryKeyring with {len(self._data)} entries>"


_DEMO_KEYRING = MemoryKeyring()  # process-wide, shared by every context (the demo re-creates its secrets)

_DESKTOP = {
    "keyring.backends.SecretService": "Secret Service (GNOME Keyring / KeePassXC)",
    "keyring.backends.libsecret": "libsecret (GNOME Keyring)",
    "keyring.backends.kwallet": "KWallet",
    "keyring.backends.macOS": "macOS Keychain",
    "keyring.backends.Windows": "Windows Credential Manager",
}


def _qualname(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _is_insecure(backend: object) -> bool:
    module, name = type(backend).__module__, type(backend).__name__
    if module in ("keyring.backends.fail", "keyring.backends.null"):
        return True
    lowered = name.lower()
    return "plaintext" in lowered or "base64" in lowered or "uncrypted" in lowered


def _is_cryptfile(backend: object) -> bool:
    return isinstance(backend, CryptFileKeyring)


def _desktop_label(backend: object) -> str | None:
    for prefix, label in _DESKTOP.items():
        if type(backend).__module__.startswith(prefix):
            return label
    return None


def _members(backend: keyring_backend.KeyringBackend) -> list[keyring_backend.KeyringBackend]:
    if type(backend).__module__ == "keyring.backends.chainer":
        # keyring offers every loaded backend class to the chainer; ours is only used when configured explicitly
        return [b for b in getattr(backend, "backends", []) if not isinstance(b, MemoryKeyring)]
    return [backend]


def _scrub(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4 and secret in text:
        text = text.replace(secret, "[secret]")
    return text


def _default_passphrase_provider(creating: bool = False) -> str | None:
    """The passphrase from ``SCIM_CONSOLE_KEYRING_PASSPHRASE`` or a hidden prompt (asked twice, and checked
    against the strength rule, when it creates the keyring)."""
    value = os.environ.get(ENV_PASSPHRASE)
    if value:
        return value
    if sys.stdin is None or not sys.stdin.isatty() or not sys.stderr.isatty():
        return None
    if not creating:
        return getpass.getpass(_("Passphrase for the console's encrypted keyring: "))
    print(_("Creating the console's encrypted keyring. Choose a passphrase of {rule}.").format(rule=passphrase_rule()),
          file=sys.stderr)
    first = getpass.getpass(_("New keyring passphrase: "))
    problem = passphrase_problem(first)
    if problem:
        raise CredentialsError(problem, passphrase_remedy())
    if getpass.getpass(_("Repeat the passphrase: ")) != first:
        raise CredentialsError(_("The two passphrases differ."), _("Run the command again; nothing was created."))
    return first


def env_passphrase() -> str | None:
    """The passphrase from ``SCIM_CONSOLE_KEYRING_PASSPHRASE`` only, never a prompt (for the app)."""
    return os.environ.get(ENV_PASSPHRASE) or None


class CredentialStore:
    """``get/set/delete(conn_name, kind)`` over one keyring backend, refusing insecure ones."""

    def __init__(
        self,
        backend: keyring_backend.KeyringBackend | None,
        info: BackendInfo,
        *,
        passphrase_provider: Callable[[], str | None] | None = None,
    ) -> None:
        self._backend = backend
        self._info = info
        self._passphrase_provider = passphrase_provider
        self._unlock_lock = threading.Lock()
        self._memory_names: set[str] = set()
        # The encrypted file keyring derives an Argon2 key for every read (about a second): values read or written
        # are kept for CACHE_SECONDS in this process. get(..., fresh=True) bypasses it (a 401 may mean another
        # process rotated the token).
        self._cache: dict[str, tuple[float, str | None]] = {}
        self.demo_lookup: Callable[[str], bool] | None = None  # set by open_context: is this a demo connection?

    # -- introspection ----------------------------------------------------------------------------------
    def backend_info(self) -> BackendInfo:
        return self._info

    def is_memory_only(self, conn_name: str) -> bool:
        """True when this connection's secrets live in the process-wide in-memory keyring (demo)."""
        key = conn_name.strip().casefold()
        if key in self._memory_names:
            return True
        if self.demo_lookup is not None:
            try:
                return bool(self.demo_lookup(conn_name))
            except Exception:  # a store problem must not leak into secret handling
                return False
        return False

    def keep_in_memory(self, conn_name: str) -> None:
        """Keep this connection's secrets in the process-wide in-memory keyring (used for the demo)."""
        self._memory_names.add(conn_name.strip().casefold())

    # -- unlocking (encrypted file keyring) -------------------------------------------------------------
    @property
    def file_path(self) -> str | None:
        """The encrypted keyring's file (None for other backends)."""
        return str(getattr(self._backend, "file_path", "")) if _is_cryptfile(self._backend) else None

    def keyring_created(self) -> bool:
        """For the encrypted file keyring: whether its file exists (a first passphrase creates it). True for
        every other backend (nothing to create)."""
        if not _is_cryptfile(self._backend):
            return True
        try:
            return bool(self._backend._check_file())  # type: ignore[union-attr]
        except Exception:  # a damaged file: it exists, and unlocking will say what is wrong
            return Path(str(getattr(self._backend, "file_path", ""))).exists()

    def create(self, passphrase: str, confirmation: str) -> str:
        """Create the encrypted file keyring with ``passphrase`` (typed twice). Refuses a mismatch, a weak
        passphrase (``passphrase_problem``) and a keyring that already exists. Returns the file's path."""
        if not _is_cryptfile(self._backend):
            raise CredentialsError(_("This keyring needs no passphrase."), _("Nothing to create."))
        if self.keyring_created():
            raise CredentialsError(_("The encrypted keyring {path} already exists.").format(path=self.file_path),
                                   _("Unlock it with the passphrase it was created with."))
        if passphrase != confirmation:
            raise CredentialsError(_("The two passphrases differ."),
                                   _("Type the same passphrase in both fields; nothing was created."))
        problem = passphrase_problem(passphrase)
        if problem:
            raise CredentialsError(problem, passphrase_remedy())
        self.unlock(passphrase)
        return str(self.file_path)

    def unlock(self, passphrase: str) -> str:
        """Unlock the encrypted file keyring with ``passphrase``; a keyring that does not exist yet is created
        with it (the passphrase must then pass ``passphrase_problem``). Returns "unlocked" or "created" (or
        "unlocked" for backends without a passphrase). Raises ``CredentialsError`` on a wrong passphrase."""
        if not _is_cryptfile(self._backend):
            return "unlocked"
        if not passphrase or not passphrase.strip():
            raise CredentialsError(_("The keyring passphrase is empty."),
                                   _("Type the passphrase the keyring was created with."))
        path = getattr(self._backend, "file_path", "?")
        with self._unlock_lock:
            creating = not self.keyring_created()
            if creating:
                problem = passphrase_problem(passphrase)
                if problem:
                    raise CredentialsError(
                        _("A new encrypted keyring ({path}) needs a stronger passphrase. {problem}").format(
                            path=path, problem=problem), passphrase_remedy())
            try:
                self._backend.keyring_key = passphrase  # type: ignore[union-attr]  # verifies against the file
            except (ValueError, AssertionError):
                try:
                    del self._backend.keyring_key  # type: ignore[union-attr]
                except Exception:  # noqa: S110 - best effort re-lock
                    pass
                raise CredentialsError(
                    _("Wrong passphrase: the encrypted keyring {path} did not open with it. Nothing was "
                      "changed.").format(path=path),
                    _("Type the passphrase it was created with (in the app's unlock box, in {variable} or at the "
                      "prompt). If it is lost, move the file aside to start a new keyring: the secrets in it are "
                      "then lost and must be entered again.").format(variable=ENV_PASSPHRASE),
                ) from None
            except OSError as exc:
                raise CredentialsError(
                    _("The encrypted keyring {path} cannot be opened ({error}).").format(path=path,
                                                                                           error=exc.strerror),
                    _("Check the file's permissions, or point {variable} at a writable path.").format(
                        variable=ENV_FILE)) from None
        self._info = BackendInfo(self._info.name, True, N_("Encrypted file keyring ({path})"), "", self._info.mode,
                                 True, False, (("path", str(path)),))
        log.info("encrypted keyring %s %s", path, "created" if creating else "unlocked")
        return "created" if creating else "unlocked"

    def _ensure_unlocked(self) -> None:
        if not _is_cryptfile(self._backend) or getattr(self._backend, "_keyring_key", None) is not None:
            return
        if self._passphrase_provider is not None:
            passphrase = self._passphrase_provider()
        else:
            passphrase = _default_passphrase_provider(creating=not self.keyring_created())
        if not passphrase:
            raise CredentialsError(
                _("The encrypted keyring {path} is locked and no passphrase was given.").format(
                    path=getattr(self._backend, "file_path", "")),
                _("Set {variable} (for cron and services) or run the command in a terminal to be asked; other ways "
                  "out: {ways_out}").format(variable=ENV_PASSPHRASE, ways_out=_(WAYS_OUT)),
            )
        self.unlock(passphrase)

    def ensure_usable(self, conn_name: str) -> None:
        """Raise ``CredentialsError`` (with the way out) unless secrets of ``conn_name`` can be stored now:
        a secure backend, unlocked (the passphrase provider is asked when there is one)."""
        self._target(conn_name)

    # -- the secrets ------------------------------------------------------------------------------------
    def _target(self, conn_name: str) -> keyring_backend.KeyringBackend:
        if self.is_memory_only(conn_name):
            return _DEMO_KEYRING
        if not self._info.secure or self._backend is None:
            raise CredentialsError(_("Secrets cannot be stored safely here: {keyring}.").format(keyring=self._info.label),
                                   self._info.remedy or _(WAYS_OUT))
        self._ensure_unlocked()
        return self._backend

    @staticmethod
    def _check(conn_name: str, kind: str) -> str:
        if kind not in KINDS:
            raise InvalidInput(_("Unknown secret kind {kind!r}.").format(kind=kind),
                               _("Use one of: {kinds}.").format(kinds=", ".join(KINDS)))
        name = (conn_name or "").strip()
        if not name:
            raise InvalidInput(_("A connection name is needed to store a secret."), _("Give the connection's name."))
        return f"{name.casefold()}/{kind}"

    @contextmanager
    def _file_lock(self, target: object) -> Iterator[None]:
        """Serialise writers of the encrypted keyring file across processes (it is rewritten on every change)."""
        if target is not self._backend or not _is_cryptfile(self._backend):
            yield
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, keep going
            yield
            return
        path = Path(str(getattr(self._backend, "file_path", ""))).with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _cached(self, target: object) -> bool:
        return target is self._backend and _is_cryptfile(self._backend)

    def get(self, conn_name: str, kind: str, *, fresh: bool = False) -> str | None:
        username = self._check(conn_name, kind)
        target = self._target(conn_name)
        if self._cached(target) and not fresh:
            hit = self._cache.get(username)
            if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
                return hit[1]
        try:
            value = target.get_password(SERVICE, username)
            if self._cached(target):
                self._cache[username] = (time.monotonic(), value)
            return value
        except (KeyringError, ValueError, OSError) as exc:
            reason = (_("it was written with another passphrase or the file is damaged") if isinstance(exc, ValueError)
                      else f"{type(exc).__name__}: {exc}")
            raise CredentialsError(
                _("The keyring ({keyring}) could not read the {kind} of {name!r} ({reason}).").format(
                    keyring=self._info.label, kind=_kind(kind), name=conn_name, reason=reason),
                _("Unlock the keyring (or check the passphrase) and try again; nothing was changed."),
            ) from None

    def set(self, conn_name: str, kind: str, value: str) -> None:
        username = self._check(conn_name, kind)
        if not isinstance(value, str) or not value:
            raise InvalidInput(_("The {kind} to store is empty.").format(kind=_kind(kind)),
                               _("Provide the value on standard input or at the prompt."))
        target = self._target(conn_name)
        self._cache.pop(username, None)
        try:
            with self._file_lock(target):
                target.set_password(SERVICE, username, value)
            if self._cached(target):
                self._cache[username] = (time.monotonic(), value)
        except (KeyringError, ValueError, OSError, TypeError) as exc:
            raise CredentialsError(
                _("The keyring ({keyring}) refused to store the {kind} of {name!r} ({reason}).").format(
                    keyring=self._info.label, kind=_kind(kind), name=conn_name,
                    reason=f"{type(exc).__name__}: {_scrub(str(exc), value)}"),
                _("Unlock the keyring and try again; the previous value, if any, is unchanged."),
            ) from None
        log.info("stored %s for connection %r in %s", kind, conn_name,
                 "memory" if target is _DEMO_KEYRING else self._info.mode)

    def delete(self, conn_name: str, kind: str) -> bool:
        """Delete one secret; True if it existed."""
        username = self._check(conn_name, kind)
        target = self._target(conn_name)
        self._cache.pop(username, None)
        try:
            with self._file_lock(target):
                if target.get_password(SERVICE, username) is None:
                    return False
                target.delete_password(SERVICE, username)
            return True
        except PasswordDeleteError:
            return False
        except (KeyringError, ValueError, OSError) as exc:
            raise CredentialsError(
                _("The keyring ({keyring}) could not delete the {kind} of {name!r} ({reason}).").format(
                    keyring=self._info.label, kind=_kind(kind), name=conn_name, reason=type(exc).__name__),
                _("Unlock the keyring and try again."),
            ) from None

    def delete_all(self, conn_name: str) -> None:
        """Delete every secret of a connection (used when it is removed). Silently skips an unusable keyring
        for connections that never had secrets there."""
        for kind in KINDS:
            try:
                self.delete(conn_name, kind)
            except CredentialsError:
                if self.is_memory_only(conn_name):
                    continue
                raise


def _memory_store(mode: str) -> CredentialStore:
    label = (N_("Session only: secrets are kept in memory and forgotten when the console stops; nothing is written "
                "to disk") if mode == "session" else
             N_("In-memory keyring (this process only; for tests and the demo)"))
    return CredentialStore(MemoryKeyring(), BackendInfo(f"{__name__}.MemoryKeyring", True, label, "", mode, False))


def memory_credentials() -> CredentialStore:
    """A credential store that keeps everything in this process (tests, the demo)."""
    return _memory_store("memory")


def _cryptfile_store(passphrase_provider: Callable[[], str | None] | None) -> CredentialStore:
    kr = CryptFileKeyring()
    configured = os.environ.get(ENV_FILE, "").strip()
    if configured:
        kr.file_path = str(Path(configured).expanduser())
    path = kr.file_path
    label = (N_("Encrypted file keyring ({path}) (locked)") if Path(path).exists() else
             N_("Encrypted file keyring ({path}) (not created yet: the first passphrase given creates it)"))
    info = BackendInfo(_qualname(kr), True, label, "", "cryptfile", True, True, (("path", str(path)),))
    return CredentialStore(kr, info, passphrase_provider=passphrase_provider)


def default_credentials(passphrase_provider: Callable[[], str | None] | None = None) -> CredentialStore:
    """The credential store configured by ``SCIM_CONSOLE_KEYRING`` (see the module docstring).

    ``passphrase_provider`` returns the encrypted keyring's passphrase when it is first needed; the default
    reads ``SCIM_CONSOLE_KEYRING_PASSPHRASE`` or asks on the terminal (hidden)."""
    mode = os.environ.get(ENV_MODE, "auto").strip().lower() or "auto"
    if mode not in MODES:
        return CredentialStore(None, BackendInfo(
            "unconfigured", False, N_("{variable}={mode} is not a known keyring mode"),
            N_("Set {variable} to one of: {modes}."), mode,
            values=(("variable", ENV_MODE), ("mode", repr(mode)), ("modes", ", ".join(MODES)))))
    if mode in ("session", "memory"):
        return _memory_store(mode)
    if mode == "cryptfile":
        return _cryptfile_store(passphrase_provider)
    try:
        chosen = keyring.get_keyring()
    except Exception as exc:  # a broken keyring configuration
        return CredentialStore(None, BackendInfo("unknown", False, N_("The keyring cannot be loaded ({error})"),
                                                 WAYS_OUT, mode, values=(("error", str(exc)),)))
    members = _members(chosen)
    secure = [b for b in members if not _is_insecure(b) and not isinstance(b, EncryptedKeyring)]
    if secure:
        first = secure[0]
        label = _desktop_label(first) or (
            N_("In-memory keyring (this process only)") if isinstance(first, MemoryKeyring) else "{backend}")
        persistent = not isinstance(first, MemoryKeyring)
        return CredentialStore(first, BackendInfo(_qualname(first), True, label, "", mode, persistent,
                                                  values=(("backend", _qualname(first)),)))
    if mode == "auto":
        return _cryptfile_store(passphrase_provider)
    names = ", ".join(_qualname(b) for b in members) or _qualname(chosen)
    return CredentialStore(None, BackendInfo(names, False, N_("no secure keyring is available (found: {names})"),
                                             WAYS_OUT, mode, values=(("names", names),)))
