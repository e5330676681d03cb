"""The local access secret (console/access.py) and its commands (``python -m console access-url`` / ``app``).

Secrets are never put into an assertion's expression: pytest would print them on failure. Checks compute a
boolean first (``found = secret in text``) and assert that.
"""

from __future__ import annotations

import logging
import os
import pty
import select
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from console import access

REPO = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the file --------------------------------------------------------------------------------------------


def test_secret_is_created_once_private_and_stable(tmp_path: Path) -> None:
    first = access.ensure_secret(tmp_path)
    path = tmp_path / access.SECRET_FILE
    assert _mode(path) == 0o600
    assert path.stat().st_uid == os.geteuid()
    shaped = len(first) >= 43 and bool(access._SECRET_SHAPE.match(first))
    assert shaped, "256 random bits, URL-safe"
    same = access.ensure_secret(tmp_path) == first
    assert same, "a second call must return the stored secret"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".access-secret-")], "no temporary file left"


def test_concurrent_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        results.append(access.ensure_secret(tmp_path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    agreed = len(set(results)) == 1
    assert agreed, "every starter must get the same secret"
    stored = (tmp_path / access.SECRET_FILE).read_text().strip() == results[0]
    assert stored


def test_two_processes_starting_at_once_agree(tmp_path: Path) -> None:
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from pathlib import Path; from console import access; "
            f"v = access.ensure_secret(Path({str(tmp_path)!r})); import hashlib; "
            "print(hashlib.sha256(v.encode()).hexdigest())")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    digests = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(digests) == 1


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_file_others_could_read_is_replaced_by_a_new_secret(tmp_path: Path, mode: int,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    old = access.ensure_secret(tmp_path)
    path = tmp_path / access.SECRET_FILE
    path.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="console.access"):
        new = access.ensure_secret(tmp_path)
    renewed = new != old
    assert renewed, "a secret others could read must not stay valid"
    assert _mode(path) == 0o600
    assert "replaced by a new secret" in caplog.text and oct(mode)[2:] in caplog.text
    leaked = old in caplog.text or new in caplog.text
    assert not leaked, "the warning must not contain a secret"


def test_garbage_in_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / access.SECRET_FILE
    path.write_bytes(b"\xff\xfe not a secret")
    path.chmod(0o600)
    value = access.ensure_secret(tmp_path)
    shaped = bool(access._SECRET_SHAPE.match(value))
    assert shaped
    assert _mode(path) == 0o600


def test_a_symlink_is_refused_with_the_remedy(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("x" * 43)
    (tmp_path / access.SECRET_FILE).symlink_to(target)
    with pytest.raises(access.AccessSecretError) as err:
        access.ensure_secret(tmp_path)
    assert "symbolic link" in err.value.message and "rm " in err.value.remedy
    with pytest.raises(access.AccessSecretError):
        access.rotate_secret(tmp_path)
    assert target.read_text() == "x" * 43, "the link's target is untouched"


def test_a_directory_in_its_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / access.SECRET_FILE).mkdir()
    with pytest.raises(access.AccessSecretError):
        access.ensure_secret(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file to another user")
def test_a_file_of_another_user_is_refused(tmp_path: Path) -> None:
    access.ensure_secret(tmp_path)
    path = tmp_path / access.SECRET_FILE
    os.chown(path, 65534, 65534)
    with pytest.raises(access.AccessSecretError) as err:
        access.ensure_secret(tmp_path)
    assert "another user" in err.value.message


def test_rotation_replaces_the_secret_and_signs_browsers_out(tmp_path: Path) -> None:
    old = access.ensure_secret(tmp_path)
    cookie = access.make_cookie(old)
    new = access.rotate_secret(tmp_path)
    renewed, stored = new != old, access.ensure_secret(tmp_path) == new
    assert renewed and stored
    assert _mode(tmp_path / access.SECRET_FILE) == 0o600
    assert access.cookie_valid(old, cookie)
    assert not access.cookie_valid(new, cookie)
    assert not access.decide(new, presented=None, cookie=cookie, session=access.session_mark(old), origin=None,
                             host="127.0.0.1:8501").granted


# --- presenting it ---------------------------------------------------------------------------------------


def test_matches_only_the_exact_secret() -> None:
    secret = "A" * 43
    assert access.matches(secret, "A" * 43)
    for wrong in ("", None, "A" * 42, "A" * 44, "a" * 43, "A" * 42 + "\ud800", "Ä" * 43, "A" * 5000):
        assert not access.matches(secret, wrong)


def test_cookie_holds_no_secret_and_expires() -> None:
    secret = access._new_secret()
    now = 1_800_000_000.0
    value = access.make_cookie(secret, now)
    inside = secret in value
    assert not inside
    assert access.cookie_valid(secret, value, now + 1)
    assert access.cookie_valid(secret, value, now + access.REMEMBER_SECONDS - 1)
    assert not access.cookie_valid(secret, value, now + access.REMEMBER_SECONDS)
    assert not access.cookie_valid(access._new_secret(), value, now + 1)
    expiry, mac = value.split(".")
    assert not access.cookie_valid(secret, f"{int(expiry) + 3600}.{mac}", now + 1), "the expiry is signed"
    far = access.make_cookie(secret, now, ttl=10 * access.REMEMBER_SECONDS)
    assert not access.cookie_valid(secret, far, now + 1), "no cookie lives longer than the limit"
    for bad in ("", "x", f"{expiry}.{mac}.x", f"{expiry}.{mac.upper()}", f"-1.{mac}", "9" * 200):
        assert not access.cookie_valid(secret, bad, now)


def test_cookie_names_are_per_port_and_safe() -> None:
    assert access.cookie_name("127.0.0.1:8501") == "scim_console_access_8501"
    assert access.cookie_name("[::1]:9000") == "scim_console_access_9000"
    assert access.cookie_name("localhost") == "scim_console_access"
    assert access.cookie_name(None) == "scim_console_access"
    assert access.cookie_name("127.0.0.1:99999") == "scim_console_access"
    assert access.cookie_name("x:1;y=2") == "scim_console_access"
    assert access.cookie_valid_shape("scim_console_access_8501", access.make_cookie("A" * 43))
    assert not access.cookie_valid_shape("scim_console_access_8501;x", access.make_cookie("A" * 43))
    assert not access.cookie_valid_shape("scim_console_access_8501", "1.2\";alert(1)//")


@pytest.mark.parametrize(("origin", "host", "same"), [
    (None, "127.0.0.1:8501", True),
    ("http://127.0.0.1:8501", "127.0.0.1:8501", True),
    ("HTTP://LOCALHOST:8501", "localhost:8501", True),
    ("http://127.0.0.1:9999", "127.0.0.1:8501", False),
    ("http://localhost:8501", "127.0.0.1:8501", False),
    ("http://rebind.example:8501", "127.0.0.1:8501", False),
    ("null", "127.0.0.1:8501", False),
    ("file://", "127.0.0.1:8501", False),
    ("http://127.0.0.1:8501", None, False),
    ("http://[::1:8501", "127.0.0.1:8501", False),
])
def test_same_origin(origin: str | None, host: str | None, same: bool) -> None:
    assert access.same_origin(origin, host) is same


def test_decide_covers_every_way_in_and_out() -> None:
    secret = access._new_secret()
    host = "127.0.0.1:8501"
    cookie = access.make_cookie(secret)
    mark = access.session_mark(secret)

    def d(**kw: object) -> access.Decision:
        args = {"presented": None, "cookie": None, "session": None, "origin": "http://127.0.0.1:8501", "host": host}
        args.update(kw)
        return access.decide(secret, **args)  # type: ignore[arg-type]

    assert d() == access.Decision(False, "missing")
    entered = d(presented=secret)
    remembered = access.cookie_valid(secret, entered.set_cookie)
    assert entered.granted and entered.via == "token" and remembered
    assert d(presented="nope") == access.Decision(False, "wrong-token")
    assert d(cookie=cookie) == access.Decision(True, "cookie")
    assert d(session=mark) == access.Decision(True, "session")
    assert d(session="forged") == access.Decision(False, "missing")
    assert d(presented="old-link", session=mark).granted, "an old link in a signed-in tab does not sign it out"
    for kw in ({"presented": secret}, {"cookie": cookie}, {"session": mark}):
        refused = d(origin="http://127.0.0.1:9999", **kw)
        assert refused == access.Decision(False, "foreign-origin"), kw


def test_access_url_shape() -> None:
    assert access.access_url("S" * 43, 8502) == "http://127.0.0.1:8502/?token=" + "S" * 43
    assert access.access_url("S" * 43, 8502, "::1").startswith("http://[::1]:8502/?token=")


# --- the commands ----------------------------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_CONSOLE_")}
    env.update(SCIM_CONSOLE_HOME=str(home), SCIM_CONSOLE_NO_DEMO="1", SCIM_CONSOLE_KEYRING="memory",
               PYTHONUNBUFFERED="1")
    return env


def _console(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=_env(home), capture_output=True,
                          text=True, timeout=60, check=False)


def test_access_url_prints_the_link_and_new_renews_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = _console(home, "access-url", "--port", "8600")
    assert out.returncode == 0, out.stderr[-500:]
    secret = access.ensure_secret(home)
    printed = out.stdout.strip() == f"http://127.0.0.1:8600/?token={secret}"
    assert printed, "access-url prints exactly the link"
    assert _mode(home / access.SECRET_FILE) == 0o600
    renewed = _console(home, "access-url", "--new")
    assert renewed.returncode == 0
    new = access.ensure_secret(home)
    changed, printed_new = new != secret, renewed.stdout.strip().endswith(new)
    assert changed and printed_new and "renewed" in renewed.stderr
    leaked = secret in renewed.stderr or new in renewed.stderr
    assert not leaked
    bad = _console(home, "access-url", "--port", "70000")
    assert bad.returncode == 2 and "not a port number" in bad.stderr


def test_access_url_reports_an_unusable_secret_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / access.SECRET_FILE).symlink_to(tmp_path / "nowhere")
    out = _console(home, "access-url")
    assert out.returncode == 2
    assert "symbolic link" in out.stderr and "Traceback" not in out.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and needle not in buf:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


@pytest.mark.slow
def test_app_prints_the_link_to_a_terminal_when_ready(tmp_path: Path) -> None:
    """``python -m console app`` in a terminal: the link with the secret appears once the app answers, and
    ``access-url`` then knows the port."""
    home = tmp_path / "home"
    port = _free_port()
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "console", "app", "--port", str(port)], cwd=REPO,
                            env=_env(home), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    try:
        out = _read_until(master, b"?token=", 120).decode(errors="replace")
        out += _read_until(master, b"Ctrl+C", 5).decode(errors="replace")
        secret = access.ensure_secret(home)
        shown = f"http://127.0.0.1:{port}/?token={secret}" in out
        assert shown, "the link is printed to the terminal"
        assert httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=5).text == "ok"
        assert _mode(home / access.SECRET_FILE) == 0o600
        again = _console(home, "access-url")
        right_port = again.stdout.strip().startswith(f"http://127.0.0.1:{port}/?token=")
        assert right_port, "access-url prints the running app's port"
        assert "You can now view your Streamlit app" not in out, "one link only: Streamlit's own is hidden"
    finally:
        proc.terminate()
        proc.wait(30)
        os.close(master)
    assert proc.returncode == 0, "Ctrl+C/SIGTERM stops the app and the launcher cleanly"


@pytest.mark.slow
def test_app_never_prints_the_secret_into_a_redirected_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = _free_port()
    log = tmp_path / "app.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "console", "app", "--port", str(port)], cwd=REPO,
                                env=_env(home), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while b"is running on" not in log.read_bytes():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-1000:]
                time.sleep(0.3)
        finally:
            proc.terminate()
            proc.wait(30)
    text = log.read_text()
    secret = access.ensure_secret(home)
    leaked = secret in text
    assert not leaked, "the access secret went into a redirected log"
    assert f"python -m console access-url --port {port}" in text, "the log says how to get the link"
