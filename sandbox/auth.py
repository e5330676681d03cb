"""API keys, the 6clicks token exchange and bearer-token checks of the sandbox.

API keys are stored as the SHA-256 of the lower-cased key (6clicks compares keys case-insensitively), never in
clear. Access tokens are HS256 JWTs signed with the server's own key (``<data-dir>/jwt.key``, mode 0600) and
carry ``sub`` (key name), ``kid`` (the key record's id, so a revoked and re-created key does not revive old
tokens) and ``pv`` (the key's permission version, bumped whenever a permission is taken away).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from .store import KeyRecord, Store

# CLI name -> 6clicks permission name
PERMISSIONS: dict[str, str] = {
    "integrations": "Integrations",
    "create-users": "Create new users",
    "edit-users": "Edit users",
    "delete-users": "Delete users",
    "manage-groups": "Create, edit and delete groups",
    "manage-group-members": "Manage group members",
}
ALL_PERMISSIONS = list(PERMISSIONS)
LONG_LIVED_SECONDS = 365 * 24 * 3600
SHORT_LIVED_SECONDS = 3600
ISSUER = "scim-sandbox"


class AuthError(Exception):
    """Answered as 401 with ``detail`` = str(self)."""


class PermissionError_(Exception):
    """Answered as 403 naming the missing 6clicks permission."""

    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(
            f"The API key's user lacks the 6clicks permission \"{PERMISSIONS[permission]}\" ({permission})."
            " Grant it to the key's user in 6clicks (sandbox: python -m sandbox keys permissions)."
        )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.strip().lower().encode()).hexdigest()


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[-4:]


def new_api_key() -> str:
    return "6ck_" + secrets.token_hex(20)


def normalise_permissions(perms: Sequence[str] | None) -> list[str]:
    """Accept CLI names or 6clicks names, any case. ``None`` (not given) = all six; ``[]`` = none, as a
    6clicks user with no permission ticked. A single string is refused: it would be read letter by letter."""
    if perms is None:
        return list(ALL_PERMISSIONS)
    if isinstance(perms, str | bytes) or not all(isinstance(p, str) for p in perms):
        raise ValueError("Permissions are a list of names (one of: " + ", ".join(PERMISSIONS) + "); "
                         "[] means none.")
    by_label = {v.lower(): k for k, v in PERMISSIONS.items()}
    out: list[str] = []
    for p in perms:
        k = p.strip().lower()
        k = by_label.get(k, k)
        if k not in PERMISSIONS:
            raise ValueError(f"Unknown permission {p!r}; use one of: {', '.join(PERMISSIONS)}.")
        if k not in out:
            out.append(k)
    return out


def load_signing_key(data_dir: Path) -> bytes:
    """The server's own HS256 key, created once per data dir with mode 0600."""
    path = Path(data_dir) / "jwt.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


@dataclass(slots=True)
class Principal:
    key: KeyRecord

    def require(self, permission: str) -> None:
        if permission not in self.key.permissions:
            raise PermissionError_(permission)


class Auth:
    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self._secret = load_signing_key(data_dir)
        # Verified claims by token: signature checks cost more than the rest of a lookup. Expiry, revocation
        # and permission version are still checked on every request.
        self._verified: dict[str, dict[str, Any]] = {}

    def register_key(self, key: str, name: str, permissions: Sequence[str] | None = None) -> KeyRecord:
        """Register ``key`` under ``name`` idempotently (same key + name: kept; otherwise replaced)."""
        perms = normalise_permissions(permissions)
        h = hash_key(key)
        existing = self.store.key_by_hash(h)
        if existing is not None and existing.name == name:
            if set(existing.permissions) != set(perms):
                return self.store.set_key_permissions(name, perms)
            return existing
        self.store.put_key(name, h, perms, replace=True)
        rec = self.store.key_by_name(name)
        assert rec is not None
        return rec

    def create_key(self, name: str, permissions: Sequence[str] | None = None) -> str:
        key = new_api_key()
        self.store.put_key(name, hash_key(key), normalise_permissions(permissions))
        return key

    def issue_for_record(self, rec: KeyRecord, lifetime_seconds: float) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": rec.name,
            "kid": rec.key_id,
            "pv": rec.perm_version,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + int(lifetime_seconds),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256", headers={"kid": "sandbox-1"})

    def exchange(self, api_key: str, long_lived: bool) -> str:
        rec = self.store.key_by_hash(hash_key(api_key))
        if rec is None:
            raise AuthError("Unknown API key. Check the key, or create one: python -m sandbox keys create.")
        return self.issue_for_record(rec, LONG_LIVED_SECONDS if long_lived else SHORT_LIVED_SECONDS)

    def issue_token(self, key_name: str, lifetime_seconds: float) -> str:
        rec = self.store.key_by_name(key_name)
        if rec is None:
            raise AuthError(f"No API key named {key_name!r}.")
        return self.issue_for_record(rec, lifetime_seconds)

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthError("Missing Authorization header; send 'Authorization: Bearer <access token>'.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("Malformed Authorization header; expected 'Bearer <access token>'.")
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = jwt.decode(token, self._secret, algorithms=["HS256"], issuer=ISSUER,
                                    options={"require": ["exp", "sub", "kid"]})
            except jwt.ExpiredSignatureError:
                raise AuthError("The access token has expired; generate a new one from the API key.") from None
            except jwt.PyJWTError:
                raise AuthError("The access token is malformed or was not issued by this server.") from None
            if len(self._verified) >= 4096:
                self._verified.clear()
            self._verified[token] = claims
        elif claims["exp"] <= time.time():
            self._verified.pop(token, None)
            raise AuthError("The access token has expired; generate a new one from the API key.")
        rec = self.store.key_by_name(str(claims["sub"]))
        if rec is None or rec.key_id != claims["kid"]:
            raise AuthError("The access token's API key was deleted or revoked; create a new key and token.")
        if int(claims.get("pv", -1)) < rec.perm_version:
            raise AuthError("A permission was removed from the API key's user after this token was issued;"
                            " the token is no longer valid. Restore the permission and generate a new token.")
        return Principal(rec)
