"""The console core in Japanese, and unchanged in English: errors and remedies that reach pages and the command line.

SCIM client errors are real ones, from a sandbox over HTTP on 127.0.0.1 (a 401, a 403 naming a 6clicks
permission, a refused connection, a TLS handshake against a plain-HTTP port, a refused API key), worded through
the one adapter ``console.errors.console_error``: in Japanese with status, permission and remedy intact, and in
English exactly as the client wrote them. Then the core's own texts: uploads, Microsoft Graph errors (from the
sandbox's Graph emulator), the set-up checklist, the timeline, the demo's progress and the keyring's label. And
the mapping is exact: every code and remedy ``scim_client`` writes has a Japanese wording."""

from __future__ import annotations

import ast
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.connections import Connection, validate_url
from console.context import open_context
from console.credentials import BackendInfo, memory_credentials
from console.demo import DemoError, SnapshotProgress, demo_users
from console.errors import (
    MESSAGES,
    REMEDIES,
    ServiceError,
    console_error,
    permission_check_text,
    permission_label,
    probe_text,
    scim_message,
    scim_remedy,
)
from console.graph import GraphClient, GraphError, permissions_for
from console.i18n import N_, _, use_language
from console.setup import STEP_TITLES, checklist, split_fix
from console.timeline import action_label, record_sentence, source_label
from console.tokens.status import fix
from console.uploads import UploadError, decode_text, read_table
from scim_client import (
    AuthenticationError,
    ConnectionFailed,
    PermissionDenied,
    ScimClient,
    ScimError,
    TokenExchangeError,
    exchange_api_key,
)
from scim_client.errors import PERMISSIONS
from scim_client.permissions import probe_permissions
from tests.i18n_check import english_sentences
from tests.sandbox_fixture import RunningSandbox, start_sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def box() -> Iterator[RunningSandbox]:
    """A small sandbox of this module's own: its API keys and Graph permissions are changed here."""
    running = start_sandbox(seed_users=5, seed_groups=2, seed=17)
    try:
        yield running
    finally:
        running.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raised(call) -> ScimError:  # type: ignore[no-untyped-def]
    with pytest.raises(ScimError) as info:
        call()
    return info.value


def _both(exc: ScimError) -> tuple[ServiceError, ServiceError]:
    """(English, Japanese) adaptations of one error."""
    with use_language("en"):
        en = console_error(exc)
    with use_language("ja"):
        ja = console_error(exc)
    assert isinstance(en, ServiceError) and isinstance(ja, ServiceError)
    return en, ja


def _no_english(*texts: str, allowed: tuple[str, ...] = ()) -> None:
    left = english_sentences(texts, allowed=allowed)
    assert not left, left


# --- SCIM client errors through console_error -----------------------------------------------------------------

def test_a_401_in_japanese_keeps_the_servers_words_status_and_remedy(box: RunningSandbox) -> None:
    with ScimClient(box.scim_url, "not-a-token-the-sandbox-issued", max_retries=0) as client:
        exc = _raised(lambda: client.get_user("00000000-0000-4000-8000-000000000000"))
    assert isinstance(exc, AuthenticationError) and exc.code == "http-401" and exc.detail
    en, ja = _both(exc)
    assert (en.message, en.remedy, en.status) == (exc.message, exc.remedy, 401)  # English: the client's own words
    assert ja.status == 401 and ja.__cause__ is exc
    assert ja.message.startswith("HTTP 401: トークンが受け付けられませんでした (ユーザー 00000000-")
    assert ja.message.endswith(f": {exc.detail}")  # what the server said stays as it said it
    assert ja.remedy.startswith("トークンが拒否されました。") and "新しいトークンを生成して保存してください" in ja.remedy
    _no_english(ja.message, ja.remedy, allowed=(exc.detail or "",))
    assert str(ja) == f"{ja.message} {ja.remedy}"


def test_a_403_names_the_permission_by_the_guides_name(box: RunningSandbox) -> None:
    created = box.admin("POST", "/sandbox-admin/keys", json={"name": "i18n-read-only", "permissions": ["integrations"]})
    token = exchange_api_key(box.api_url, created["apiKey"]).access_token
    with ScimClient(box.scim_url, token, max_retries=0) as client:
        someone = next(iter(client.list_users()))
        exc = _raised(lambda: client.set_active(someone.id, False))
        with use_language("ja"):
            checks = [permission_check_text(c) for c in probe_permissions(client)]
        with use_language("en"):
            english_checks = [permission_check_text(c) for c in probe_permissions(client)]
    assert isinstance(exc, PermissionDenied) and exc.permission == "Edit users" and exc.named
    en, ja = _both(exc)
    assert (en.message, en.remedy, en.status, en.permission) == (exc.message, exc.remedy, 403, "Edit users")
    assert ja.status == 403 and ja.permission == "Edit users"  # the field keeps 6clicks' name: an identifier
    assert ja.message.startswith("HTTP 403: 権限がありません")
    assert ja.remedy.startswith("API キーの 6clicks ユーザーに「ユーザーの編集」の権限がありません。")
    assert "(統合、新規ユーザーの作成、ユーザーの編集、ユーザーの削除、グループの作成・編集・削除、グループ メンバーの管理)" \
        in ja.remedy
    _no_english(ja.remedy)
    # the permission checks of the doctor: the request in words and the verdict's message
    assert checks[0] == ("GET Users (ユーザー 1 人)", "ユーザーを読み取れます")
    assert checks[2][0] == "存在しないユーザー ID への PATCH" and checks[2][1].startswith("HTTP 403: 権限がありません (権限の確認中)")
    assert english_checks[0] == ("GET Users (one user)", "reading users works")


def test_a_refused_connection_and_its_probe(box: RunningSandbox) -> None:
    port = _free_port()
    with ScimClient(f"http://127.0.0.1:{port}/scim", "a-token-nobody-checks", max_retries=0) as client:
        exc = _raised(lambda: client.get_user("x"))
        probe = client.probe()
    assert isinstance(exc, ConnectionFailed) and exc.kind == "refused"
    en, ja = _both(exc)
    assert (en.message, en.remedy) == ("connection to 127.0.0.1 was refused", exc.remedy)
    assert ja.message == "127.0.0.1 への接続が拒否されました" and ja.status is None
    assert ja.remedy == "そのアドレスで待ち受けているサービスがありません。URL のホストとポート、サービスが実行中であることを確認してください。"
    with use_language("ja"):
        assert probe_text(probe) == (ja.message, ja.remedy)
    with use_language("en"):
        assert probe_text(probe) == (probe.message, probe.remedy)


def test_a_tls_failure(box: RunningSandbox) -> None:
    with ScimClient(box.scim_url.replace("http://", "https://"), "a-token-nobody-checks", max_retries=0) as client:
        exc = _raised(lambda: client.get_user("x"))
    assert isinstance(exc, ConnectionFailed) and exc.kind == "tls"
    en, ja = _both(exc)
    assert (en.message, en.remedy) == (exc.message, exc.remedy) and en.message.startswith("TLS handshake with ")
    assert ja.message == "127.0.0.1 との TLS ハンドシェイクに失敗しました"
    assert ja.remedy.startswith("URL のスキームとポートを確認してください。")
    _no_english(ja.message, ja.remedy)


def test_a_token_exchange_failure_nests_the_transport_error(box: RunningSandbox) -> None:
    refused = _raised(lambda: exchange_api_key(f"http://127.0.0.1:{_free_port()}", "an-api-key-0123456789"))
    rejected = _raised(lambda: exchange_api_key(box.api_url, "an-api-key-0123456789"))
    assert isinstance(refused, TokenExchangeError) and refused.kind == "unreachable"
    assert isinstance(rejected, TokenExchangeError) and rejected.kind == "rejected"
    _en, ja = _both(refused)
    assert ja.message == "トークン エンドポイントに到達できませんでした: 127.0.0.1 への接続が拒否されました"
    en, ja = _both(rejected)
    assert en.message == "the API key was rejected (HTTP 401)" and en.remedy == rejected.remedy
    assert ja.message == "API キーが拒否されました (HTTP 401)" and ja.status == 401
    assert "「統合」の権限" in ja.remedy


def test_an_error_without_a_code_keeps_its_english_message_with_a_translated_remedy() -> None:
    exc = ScimError("Odd answer from a server nobody knows.", status=502)
    en, ja = _both(exc)
    assert (en.message, en.remedy) == (exc.message, exc.remedy)
    assert ja.message == exc.message and ja.status == 502
    assert ja.remedy == "接続の設定を確認して、もう一度お試しください。"
    unknown = ScimError("x", remedy="A remedy the console never heard of.")
    with use_language("ja"):
        assert scim_remedy(unknown) == "A remedy the console never heard of."


def test_values_that_do_not_fit_the_wording_fall_back_to_english() -> None:
    exc = ScimError("timed out connecting to h", code="transport-connect-timeout", params={})  # no host
    with use_language("ja"):
        assert scim_message(exc) == "timed out connecting to h"


# --- the mapping is exact -------------------------------------------------------------------------------------

def _client_sources() -> list[ast.Module]:
    return [ast.parse(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "scim_client").glob("*.py"))]


def _client_remedies() -> list[str]:
    found: list[str] = []
    for tree in _client_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "remedy" and isinstance(node.value, ast.Constant):
                found.append(node.value.value)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and any(
                    isinstance(t, ast.Name) and t.id in ("default_remedy", "NOT_SCIM_REMEDY") for t in node.targets):
                found.append(node.value.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                    and node.target.id == "_TRANSPORT_TEXT" and isinstance(node.value, ast.Dict):
                found.extend(v.elts[1].value for v in node.value.values if isinstance(v, ast.Tuple)
                             and isinstance(v.elts[1], ast.Constant))
    return list(dict.fromkeys(found))


def _client_codes() -> set[str]:
    codes: set[str] = set()
    for tree in _client_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(node.value, ast.Constant) \
                    and node.value.value:
                codes.add(node.value.value)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "PermissionCheck":
                literal = [a.value for a in node.args[5:6] if isinstance(a, ast.Constant)]
                codes.update(c for c in literal if c)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 4 and isinstance(node.elts[2], ast.Constant) \
                    and isinstance(node.elts[2].value, str) and node.elts[2].value.startswith("perm-"):
                codes.add(node.elts[2].value)
    from scim_client._http import _TRANSPORT_TEXT

    codes.update(f"transport-{kind}" for kind in _TRANSPORT_TEXT)
    return codes


def test_every_remedy_the_client_writes_has_a_japanese_wording() -> None:
    remedies = _client_remedies()
    assert len(remedies) >= 30 and set(remedies) == set(REMEDIES), "update console.errors.REMEDIES"
    with use_language("ja"):
        untranslated = [r for r in remedies if _(r) == r]
    assert not untranslated


def test_every_code_the_client_writes_has_a_japanese_wording() -> None:
    codes = _client_codes()
    assert {"http-401", "http-403", "transport-refused", "tls-handshake", "token-html", "paging-repeats",
            "probe-ok", "perm-accepted", "perm-done"} <= codes
    missing = sorted(c for c in codes if c not in MESSAGES and c != "perm-done")
    assert not missing, missing


#: plausible values for each code (data a server could send is English here, and allowed in the check)
SAMPLES: dict[str, dict[str, object]] = {
    "http-401": {"status": 401, "what": "testing the token", "body": "expired"},
    "http-403": {"status": 403, "what": "creating user ana@example.com", "body": ""},
    "http-404": {"status": 404, "what": "group 123", "body": ""},
    "http-409": {"status": 409, "what": "creating group Finance", "body": "uniqueness"},
    "http-413": {"status": 413, "what": "", "body": ""},
    "http-429": {"status": 429, "what": "listing Users", "body": "", "retry_after": 30.0},
    "http-5xx": {"status": 503, "what": "search Groups", "body": "busy"},
    "http-4xx": {"status": 400, "what": "ServiceProviderConfig", "body": "invalidValue"},
    "tls-certificate": {"host": "api.example.com"}, "tls-handshake": {"host": "api.example.com"},
    "transport-other": {"host": "api.example.com", "name": "ProxyError"},
    "not-scim-html": {"status": 200, "body": "<html>"},
    "not-scim-truncated": {"status": 200, "body": "[1, 2"},
    "not-scim-non-json": {"status": 200, "body": "ok", "content_type": ""},
    "not-scim-redirect": {"status": 302, "location": "(no Location)"},
    "not-scim-resource": {"status": 200}, "create-lost": {"status": 201},
    "bad-scim-url": {"url": "ftp://x"}, "token-bad-url": {"url": "ftp://x"},
    "list-empty": {"status": 200}, "list-not-object": {"status": 200, "type": "list"},
    "list-resources-not-list": {"status": 200, "type": "dict"}, "list-unusable": {"status": 200, "fields": "none"},
    "paging-implausible-total": {"what": "users", "total": 5_000_000, "most": 1_000_000},
    "paging-total-grows": {"what": "groups", "first": 10, "total": 5000},
    "paging-too-many": {"what": "users", "most": 1_000_000},
    "paging-repeats": {"what": "users", "stale": 30, "fresh": 2},
    "paging-requests": {"what": "users", "most": 200_000, "total": None},
    "paging-requests-all": {"what": "users", "most": 200_000},
    "paging-page-too-small": {"what": "users", "total": 9_000_000, "step": 1, "needed": 8_999_999, "most": 200_000},
    "paging-first-empty": {"what": "users", "total": 5000},
    "paging-contradicts": {"what": "users", "end_at": 101, "beyond": 201, "total": None},
    "paging-ended-early": {"what": "groups", "total": 9000, "count": 100, "end_at": 101},
    "token-html": {"status": 200, "body": "<html>"}, "token-missing": {"status": 200, "fields": "none"},
    "token-not-json": {"status": 200, "body": "hello"}, "key-rejected": {"status": 401},
    "token-unreachable": {"error": ConnectionFailed("could not connect to h", code="transport-connect",
                                                    params={"host": "h"})},
    "token-wrong-url": {"status": 404, "body": "(empty body)"}, "token-server": {"status": 500, "body": "boom"},
    "probe-ok": {"url": "https://api.example.com/scim"},
    "probe-no-endpoint": {"url": "https://x/scim", "error": ScimError("HTTP 404 Not Found", code="http-404",
                                                                      params={"status": 404})},
    "probe-not-scim": {"url": "https://x/scim", "error": ScimError("e", code="list-empty", params={"status": 200})},
    "perm-refused-as-expected": {"status": 400},
    "perm-accepted": {"status": 201, "created": "user", "created_id": "u-1",
                      "cleanup_error": ScimError("e", code="http-5xx", params={"status": 500})},
}


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_wording_takes_its_values(code: str) -> None:
    exc = ScimError("the English message", code=code, params=SAMPLES.get(code, {"host": "h", "status": 500}))
    with use_language("ja"):
        worded = scim_message(exc)
    with use_language("en"):
        assert scim_message(exc) == "the English message"
    assert worded != "the English message" and "{" not in worded and "}" not in worded
    _no_english(worded, allowed=("ana@example.com", "uniqueness", "invalidValue", "busy", "Finance", "boom",
                                 "hello", "ListResponse", "ServiceProviderConfig", "Content-Type", "Location"))


def test_the_six_permissions_have_the_guides_names() -> None:
    with use_language("ja"):
        assert [permission_label(p) for p in PERMISSIONS.values()] == [
            "統合", "新規ユーザーの作成", "ユーザーの編集", "ユーザーの削除", "グループの作成・編集・削除", "グループ メンバーの管理"]
        assert permission_label("Something else") == "Something else"
    with use_language("en"):
        assert permission_label("Edit users") == "Edit users"


# --- the core's own texts -------------------------------------------------------------------------------------

def test_a_bad_upload_in_japanese_and_english() -> None:
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    with use_language("ja"), pytest.raises(UploadError) as ja:
        decode_text(pdf, name="people.pdf")
    with use_language("en"), pytest.raises(UploadError) as en:
        decode_text(pdf, name="people.pdf")
    assert ja.value.message == "people.pdf: PDF ドキュメントであり、テキスト ファイルではありません。"
    assert ja.value.remedy.startswith("CSV UTF-8 形式で保存して")
    assert en.value.message == "people.pdf is a PDF document, not a text file."
    assert en.value.remedy.startswith("Save it as CSV UTF-8")
    broken = b'userName,email\n"ana@example.com,ana@example.com\nbo@example.com,bo@example.com\n'
    with use_language("ja"):
        table = read_table(broken, name="people.csv")
        with pytest.raises(UploadError) as nul:
            decode_text(bytes(range(256)) * 4, name="x.csv")
    assert table.problems and table.problems[0][1].startswith("2 行目で始まる引用符付きのセルが閉じられていません。")
    assert nul.value.message.startswith("x.csv: テキスト ファイルではありません (NUL バイトを含み")
    with use_language("en"):
        assert read_table(broken, name="people.csv").problems[0][1].startswith(
            "a quoted cell opens on line 2 and never closes")


def test_graph_errors_from_the_emulator(box: RunningSandbox) -> None:
    def client(secret: str) -> GraphClient:
        return GraphClient(tenant_id=box.tenant_id or "", client_id=box.client_id or "", client_secret=secret,
                           graph_base_url=box.graph_url or "", login_base_url=box.login_url or "",
                           service_principal_id=box.service_principal_id or "", job_id=box.job_id or "",
                           max_retries=0)

    with use_language("ja"), client("a-wrong-client-secret") as graph, pytest.raises(GraphError) as signin:
        graph.get_job()
    assert signin.value.message.startswith("Entra がアプリのサインインを拒否しました (HTTP ")
    assert signin.value.remedy.startswith("クライアント シークレットが誤っているか期限切れ")
    box.admin("PUT", "/sandbox-admin/entra/graph-permissions", {"roles": ["Synchronization.Read.All"]})
    try:
        with client(box.client_secret) as graph:
            with use_language("ja"), pytest.raises(GraphError) as ja:
                list(graph.iter_provisioning_logs())
            with use_language("en"), pytest.raises(GraphError) as en:
                list(graph.iter_provisioning_logs())
    finally:
        box.admin("PUT", "/sandbox-admin/entra/graph-permissions",
                  {"roles": ["AuditLog.Read.All", "Directory.Read.All", "Synchronization.Read.All",
                             "Synchronization.ReadWrite.All"]})
    for error in (ja.value, en.value):  # status and permission intact, the permission named as it is
        assert error.status == 403 and error.permission == permissions_for("logs") == \
            "AuditLog.Read.All and Directory.Read.All"
    assert ja.value.message.startswith("アプリの登録にプロビジョニング ログの読み取りのアクセス許可がありません (HTTP 403)")
    assert "アプリケーションのアクセス許可 AuditLog.Read.All と Directory.Read.All を付与し" in ja.value.remedy
    assert en.value.message.startswith("The app registration lacks permission to read the provisioning logs (HTTP 403)")
    assert en.value.remedy.startswith("Grant the application permission AuditLog.Read.All and Directory.Read.All")


def test_the_set_up_checklist(tmp_path: Path) -> None:
    ctx = open_context(tmp_path, credentials=memory_credentials())
    try:
        with use_language("ja"):
            steps = checklist(ctx, None)
        with use_language("en"):
            english = checklist(ctx, None)
    finally:
        ctx.close()
    assert [s.title for s in steps] == ["シークレットの安全な保存先", "テナントとその API キー", "長期有効トークン",
                                        "Entra のトークン", "Microsoft Graph (省略可能)", "プロビジョニング ジョブ",
                                        "通知チャネル", "毎日のリマインダー ジョブ"]
    assert [s.title for s in english] == list(STEP_TITLES.values())
    assert steps[0].detail.startswith("メモリ内キーリング (このプロセスのみ。テストとデモ用): 実際のテナントの API キーは")
    assert steps[1].where == "[接続とトークン] > [接続の追加]" and steps[2].detail == "テナントを追加した後に行います。"
    _no_english(*(text for s in steps for text in (s.title, s.detail, s.where)))
    assert english[1].detail.startswith("No tenant yet.") and [s.state for s in steps] == [s.state for s in english]


def test_a_remedy_made_by_fix_splits_in_either_language() -> None:
    for code in ("en", "ja"):
        with use_language(code):
            assert split_fix(fix("In the app", "python -m console x")) == ("In the app", "python -m console x")
            assert split_fix("no command here") == ("no command here", "no command here")


def test_the_timeline_in_words() -> None:
    with use_language("ja"):
        assert record_sentence("create", "success", "User", "Camila Müller") == "Entra が Camila Müller を作成しました"
        assert record_sentence("update", "failure", "Group", "Finance", cycle_id="7f22bad9c0ffee") == \
            "Entra は グループ Finance の更新に失敗しました (プロビジョニング サイクル 7f22bad9)"
        assert record_sentence("disable", "warning", "User", None, person=True) == "Entra が このアカウント を無効化しました (警告あり)"
        assert action_label("stagedDelete") == "削除保留" and source_label("Directory snapshot") == "ディレクトリのスナップショット"
    with use_language("en"):
        assert record_sentence("update", "failure", "Group", "Finance", cycle_id="7f22bad9c0ffee") == \
            "Entra failed to update group Finance (provisioning cycle 7f22bad9)"
        assert action_label("stagedDelete") == "held delete" and source_label("Directory snapshot") == "Directory snapshot"


def test_the_demo_speaks_the_language_it_was_started_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_CONSOLE_DEMO_USERS", "many")
    with use_language("ja"), pytest.raises(DemoError) as ja:
        demo_users()
    assert ja.value.message == "SCIM_CONSOLE_DEMO_USERS='many' は整数ではありません。"
    with use_language("ja"):
        tracker = SnapshotProgress()
    tracker.update("users", 1500, 2000)  # as take_snapshot's worker threads do, in no language of their own
    tracker.update("groups", 20, None)
    assert tracker.text() == "グループ: 20、ユーザー: 1,500 / 2,000"
    with use_language("en"):
        assert SnapshotProgress().text() == ""
        english = SnapshotProgress()
    english.update("users", 1500, 2000)
    assert english.text() == "users: 1,500 of 2,000"


def test_the_keyring_label_is_read_in_the_current_language() -> None:
    info = BackendInfo("x", True, N_("Encrypted file keyring ({path})"), values=(("path", "/home/a/k.cfg"),))
    with use_language("ja"):
        assert info.label == "暗号化ファイル キーリング (/home/a/k.cfg)"
    with use_language("en"):
        assert info.label == "Encrypted file keyring (/home/a/k.cfg)"
    store = memory_credentials()
    with use_language("ja"):
        assert store.backend_info().label == "メモリ内キーリング (このプロセスのみ。テストとデモ用)"


def test_connection_input_errors() -> None:
    with use_language("ja"), pytest.raises(Exception) as ja:
        validate_url("http://api.example.com", N_("API base URL"))
    assert ja.value.message == ("API ベース URL は api.example.com に暗号化されていない http:// を使用しているため、"
                                "トークンが暗号化されずに送信されます。")
    with use_language("en"), pytest.raises(Exception) as en:
        Connection(name="bad/name", api_url="https://api.example.com")
    assert en.value.message == "The connection name 'bad/name' is not usable."
