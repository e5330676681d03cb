"""The keyring wrapper: backend choice, refusal of insecure backends, encrypted file keyring, demo in memory."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail, null

from console.connections import Connection, ConnectionRepo
from console.context import open_context
from console.credentials import (
    BackendInfo,
    CredentialsError,
    CredentialStore,
    MemoryKeyring,
    default_credentials,
    memory_credentials,
)
from console.errors import InvalidInput

SECRET = "sk-live-5b1f0c2e9d8a7766"


def test_memory_store_round_trip_and_kinds():
    creds = memory_credentials()
    assert creds.backend_info().secure and not creds.backend_info().persistent
    assert creds.get("Prod", "api_key") is None
    creds.set("Prod", "api_key", SECRET)
    assert creds.get("prod", "api_key") == SECRET  # names are case-insensitive, like connections
    assert creds.get("Prod", "access_token") is None
    assert creds.delete("Prod", "api_key") and not creds.delete("Prod", "api_key")
    with pytest.raises(InvalidInput):
        creds.get("Prod", "password")
    with pytest.raises(InvalidInput):
        creds.set("Prod", "api_key", "")
    assert SECRET not in repr(creds._backend)


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_insecure_system_backends_are_refused_with_the_ways_out(monkeypatch, backend):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "system")
    monkeypatch.setattr(keyring, "get_keyring", lambda: backend)
    creds = default_credentials()
    info = creds.backend_info()
    assert not info.secure
    with pytest.raises(CredentialsError) as err:
        creds.set("Prod", "api_key", SECRET)
    text = str(err.value)
    for way in ("desktop keyring", "SCIM_CONSOLE_KEYRING=cryptfile", "SCIM_CONSOLE_KEYRING_PASSPHRASE",
                "SCIM_CONSOLE_KEYRING=session"):
        assert way in text
    assert SECRET not in text


def test_plaintext_file_keyring_is_refused(monkeypatch, tmp_path):
    from keyrings.cryptfile.file import PlaintextKeyring

    kr = PlaintextKeyring()
    kr.file_path = str(tmp_path / "plain.cfg")
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "system")
    monkeypatch.setattr(keyring, "get_keyring", lambda: kr)
    creds = default_credentials()
    assert not creds.backend_info().secure
    with pytest.raises(CredentialsError):
        creds.set("Prod", "api_key", SECRET)
    assert not (tmp_path / "plain.cfg").exists()


def test_configured_memory_backend_is_used_in_auto_mode(monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "auto")
    kr = MemoryKeyring()
    monkeypatch.setattr(keyring, "get_keyring", lambda: kr)
    creds = default_credentials()
    creds.set("Prod", "access_token", SECRET)
    assert kr.get_password("scim-console", "prod/access_token") == SECRET


def test_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "plaintext")
    creds = default_credentials()
    with pytest.raises(CredentialsError, match="SCIM_CONSOLE_KEYRING"):
        creds.get("Prod", "api_key")


def test_session_mode_says_so(monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "session")
    info = default_credentials().backend_info()
    assert info.secure and not info.persistent and "forgotten" in info.label


def test_cryptfile_round_trip_wrong_passphrase_and_locked(monkeypatch, tmp_path):
    path = tmp_path / "keyring.cfg"
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "cryptfile")
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_FILE", str(path))
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", "correct horse battery")
    creds = default_credentials()
    assert creds.backend_info().locked
    creds.set("Prod", "api_key", SECRET)
    assert not creds.backend_info().locked
    assert SECRET not in path.read_text()
    other = default_credentials()  # like another process
    assert other.get("Prod", "api_key") == SECRET
    other.set("Prod", "api_key", SECRET + "-rotated")
    assert creds.get("Prod", "api_key") == SECRET  # cached for a few seconds (each decrypt costs ~1 s of Argon2)
    assert creds.get("Prod", "api_key", fresh=True) == SECRET + "-rotated"
    creds.set("Prod", "api_key", SECRET)

    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", "wrong passphrase")
    before = path.read_bytes()
    wrong = default_credentials()
    with pytest.raises(CredentialsError) as err:
        wrong.get("Prod", "api_key")
    assert "wrong passphrase" in str(err.value).lower() and "MAC" not in str(err.value)
    with pytest.raises(CredentialsError):
        wrong.set("Prod", "api_key", "another-key-value")
    assert path.read_bytes() == before  # nothing lost or overwritten

    monkeypatch.delenv("SCIM_CONSOLE_KEYRING_PASSPHRASE")
    locked = CredentialStore(default_credentials()._backend, BackendInfo("x", True, "Encrypted file keyring",
                                                                          mode="cryptfile"),
                             passphrase_provider=lambda: None)
    with pytest.raises(CredentialsError, match="locked"):
        locked.get("Prod", "api_key")
    locked.unlock("correct horse battery")
    assert locked.get("Prod", "api_key") == SECRET


def test_demo_connection_secrets_stay_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "system")
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    ctx = open_context(tmp_path / "d", credentials=default_credentials())
    repo = ConnectionRepo(ctx.store)
    repo.add(Connection(name="Demo", api_url="http://127.0.0.1:9", is_demo=True))
    repo.add(Connection(name="Prod", api_url="https://api-au.6clicks.io"))
    ctx.credentials.set("Demo", "api_key", SECRET)  # works although the system keyring is unusable
    assert ctx.credentials.get("Demo", "api_key") == SECRET
    with pytest.raises(CredentialsError):
        ctx.credentials.set("Prod", "api_key", SECRET)
    ctx.credentials.delete("Demo", "api_key")


def test_connection_can_be_removed_when_the_keyring_is_unusable(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "system")
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    ctx = open_context(tmp_path / "d", credentials=default_credentials())
    repo = ConnectionRepo(ctx)
    repo.add(Connection(name="Prod", api_url="https://api-au.6clicks.io"))
    repo.remove("Prod")  # nothing can have been stored there, so nothing blocks the removal
    assert repo.list() == []

