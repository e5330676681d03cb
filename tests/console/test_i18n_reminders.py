"""Reminders, alerts, test messages and the .ics file speak the CONNECTION's reminder language (migration 0011),
whoever sends them: a Japanese connection's token reminder arrives in Japanese through a real apprise json://
channel and a real e-mail (mailto:// to a purpose-built SMTP sink on 127.0.0.1), its alerts and test message
too, and its calendar file parses back (icalendar) with Japanese summaries, descriptions and alarms; an English
connection stays English even when the caller (an operator's page, the CLI) runs in Japanese."""

from __future__ import annotations

import email
import json
import re
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any

import jwt
import pytest
from icalendar import Calendar

from console.connections import Connection, ConnectionRepo
from console.errors import InvalidInput
from console.i18n import fmt_datetime, fmt_days_left, language, use_language
from console.notify.alerts import notify_alerts
from console.notify.calendar import token_ics
from console.notify.channels import send_test, set_notify_urls
from console.notify.language import reminder_language, set_reminder_language
from console.notify.reminders import remind_all, remind_connection
from console.tokens.service import TokenService
from tests.console.test_core_helpers import Clock, local_http, make_ctx
from tests.i18n_check import english_sentences

ISSUED = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
KANA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def make_jwt(issued: datetime, days: int = 365) -> str:
    claims = {"sub": "i18n-reminder-test", "iat": int(issued.timestamp()),
              "exp": int((issued + timedelta(days=days)).timestamp())}
    return jwt.encode(claims, "test-signing-key-not-a-secret-0123456789", algorithm="HS256")


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (EHLO, MAIL, RCPT, DATA, QUIT) for apprise's e-mail plugin; messages are kept raw."""

    def handle(self) -> None:
        def say(line: str) -> None:
            self.wfile.write((line + "\r\n").encode())

        say("220 127.0.0.1 test sink")
        in_data, lines = False, []
        while True:
            raw = self.rfile.readline(100_000)
            if not raw:
                return
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if in_data:
                if text == ".":
                    self.server.messages.append("\r\n".join(lines))  # type: ignore[attr-defined]
                    in_data, lines = False, []
                    say("250 OK")
                else:
                    lines.append(text[1:] if text.startswith("..") else text)
                continue
            verb = text[:4].upper()
            if verb == "EHLO":
                say("250-127.0.0.1")
                say("250 8BITMIME")
            elif verb == "HELO":
                say("250 127.0.0.1")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                say("250 OK")
            elif verb == "DATA":
                in_data = True
                say("354 end with .")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("502 not implemented")


@pytest.fixture
def smtp() -> Iterator[Any]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Any]:
    with local_http(lambda _h: (200, "application/json", b"{}")) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(ISSUED)


@pytest.fixture
def ctx(tmp_path: Any, clock: Clock) -> Iterator[Any]:
    c = make_ctx(tmp_path, clock)
    yield c
    c.close()


def _connection(ctx: Any, name: str, urls: list[str], lang: str | None) -> Connection:
    conn = ConnectionRepo(ctx.store).add(Connection(name=name, api_url="https://api-au.6clicks.io"))
    set_notify_urls(ctx, conn, urls)
    TokenService(ctx).import_token(name, make_jwt(ISSUED), verify=False)
    if lang:
        set_reminder_language(ctx, conn, lang)
    return conn


def _posts(receiver: Any) -> list[dict[str, str]]:
    return [json.loads(r["body"]) for r in receiver.received if r["method"] == "POST"]


def _mails(smtp: Any) -> list[Any]:
    return [email.message_from_string(m, policy=policy.default) for m in smtp.messages]


def _english(texts: list[str], *allowed: str) -> list[str]:
    return english_sentences(texts, allowed=("python -m console", "token rotate", "--connection", *allowed))


def test_a_japanese_connection_gets_its_reminder_in_japanese_on_chat_and_e_mail(ctx, receiver, smtp, clock):
    hook = f"json://127.0.0.1:{receiver.server_port}/hooks/reminders"
    mail = f"mailto://127.0.0.1:{smtp.server_address[1]}?from=console@example.org&to=ops@example.org"
    conn = _connection(ctx, "Prod", [hook, mail], "ja")
    assert reminder_language(ctx, conn) == "ja"
    expires = TokenService(ctx).status("Prod").expires_at
    clock.now = expires - timedelta(days=10, hours=1)
    with use_language("en"):  # the caller (cron in an English locale, an English page) does not matter
        out = remind_connection(ctx, conn)
        assert language() == "en"
    assert out.notification is not None and len(out.notification.sent) == 2
    assert out.message.startswith("Sent "), "the outcome is for whoever ran it, in their language"
    [post] = _posts(receiver)
    with use_language("ja"):
        days, when = fmt_days_left(10), fmt_datetime(expires, zone="UTC")
    assert post["title"] == f"Prod の 6clicks SCIM トークンは{days}で有効期限が切れます"
    assert days == "あと 10 日"
    body = post["message"]
    assert f"有効期限: {when}" in body and "2027年1月10日" in when
    assert "対処方法:" in body and "6clicks からは警告が送られません" in body
    assert not _english([post["title"], body], "Prod"), _english([post["title"], body], "Prod")
    [message] = _mails(smtp)
    assert message["subject"] == post["title"], "the e-mail's subject is the same Japanese title"
    text = message.get_content()
    assert "対処方法:" in text and not _english([text], "Prod")


def test_an_english_connection_stays_english_when_the_caller_speaks_japanese(ctx, receiver, clock):
    conn = _connection(ctx, "Prod", [f"json://127.0.0.1:{receiver.server_port}/hooks/en"], None)
    assert reminder_language(ctx, conn) == "en"  # English until set
    expires = TokenService(ctx).status("Prod").expires_at
    clock.now = expires - timedelta(days=10, hours=1)
    with use_language("ja"):
        out = remind_connection(ctx, conn)
        assert out.message.endswith("に送信しました。"), "the caller's outcome is in the caller's language"
    [post] = _posts(receiver)
    assert post["title"] == "6clicks SCIM token for Prod expires in 10 days"
    assert "What to do:" in post["message"] and "Expiry: 10 Jan 2027, 09:00 UTC" in post["message"]
    assert not KANA.search(post["title"] + post["message"])


def test_alerts_and_the_test_message_follow_the_connection(ctx, receiver, clock):
    ja = _connection(ctx, "Tokyo", [f"json://127.0.0.1:{receiver.server_port}/hooks/ja"], "ja")
    en = _connection(ctx, "Sydney", [f"json://127.0.0.1:{receiver.server_port}/hooks/en"], "en")
    clock.now = TokenService(ctx).status("Tokyo").expires_at - timedelta(days=20)
    with use_language("en"):
        sent = dict(notify_alerts(ctx, ja, include_token=True))
    with use_language("ja"):
        notify_alerts(ctx, en, include_token=True)
    posts = {p["title"]: p["message"] for p in _posts(receiver)}
    assert "[警告] Tokyo: 6clicks トークンの有効期限が近づいています" in posts, list(posts)
    assert "[warning] Sydney: The 6clicks token expires soon" in posts, list(posts)
    alert = next(iter(sent))
    assert alert.key.startswith("token_expiry:warning:"), "the dedup key stays language-neutral"
    japanese = posts["[警告] Tokyo: 6clicks トークンの有効期限が近づいています"]
    assert "対処方法:" in japanese and not _english([japanese], "Tokyo")
    receiver.received.clear()
    with use_language("en"):
        send_test(ctx, ja)
    with use_language("ja"):
        send_test(ctx, en)
    titles = sorted(p["title"] for p in _posts(receiver))
    assert titles == ["SCIM コンソールからのテスト (Tokyo)", "Test from the SCIM console (Sydney)"]


def test_remind_all_sends_each_connection_in_its_own_language(ctx, receiver, clock):
    _connection(ctx, "Tokyo", [f"json://127.0.0.1:{receiver.server_port}/hooks/ja"], "ja")
    _connection(ctx, "Sydney", [f"json://127.0.0.1:{receiver.server_port}/hooks/en"], None)
    clock.now = TokenService(ctx).status("Tokyo").expires_at + timedelta(hours=2)
    run = remind_all(ctx, source="app")  # the app's reminder thread: no language of its own
    assert not run.problems and len(run.outcomes) == 2
    titles = {p["title"] for p in _posts(receiver)}
    assert "Tokyo の 6clicks SCIM トークンの有効期限が切れました" in titles, titles
    assert "6clicks SCIM token for Sydney has EXPIRED" in titles, titles


def _texts(cal: Calendar) -> list[str]:
    out = []
    for event in cal.walk("VEVENT"):
        out += [str(event["summary"]), str(event["description"])]
        out += [str(a["description"]) for a in event.subcomponents if a.name == "VALARM"]
    return out


def test_the_ics_file_is_in_the_connection_language(ctx, receiver, clock):
    ja = _connection(ctx, "Tokyo", [f"json://127.0.0.1:{receiver.server_port}/h"], "ja")
    en = _connection(ctx, "Sydney", [f"json://127.0.0.1:{receiver.server_port}/h"], "en")
    with use_language("en"):
        cal = Calendar.from_ical(token_ics(ctx, ja))
    texts = _texts(cal)
    assert str(cal["x-wr-calname"]) == "6clicks SCIM トークン: Tokyo"
    renew = next(e for e in cal.walk("VEVENT") if str(e["uid"]).startswith("renew-"))
    assert str(renew["summary"]) == "Tokyo の 6clicks SCIM トークンを更新"
    assert renew["summary"].params["LANGUAGE"] == "ja"
    assert "2027年1月10日 09:00 UTC" in str(renew["description"])
    alarms = [str(a["description"]) for e in cal.walk("VEVENT") for a in e.subcomponents if a.name == "VALARM"]
    assert "Tokyo の 6clicks SCIM トークンはあと 14 日で有効期限が切れます" in alarms, alarms
    assert "Tokyo の 6clicks SCIM トークンはあと 1 日で有効期限が切れます" in alarms
    assert not _english(texts, "Tokyo", "token import", "Secret Token"), _english(texts, "Tokyo")
    with use_language("ja"):
        english = Calendar.from_ical(token_ics(ctx, en))
    texts = _texts(english)
    assert "Renew the 6clicks SCIM token for Sydney" in texts
    assert "6clicks SCIM token for Sydney expires in 14 days" in texts
    assert not any(KANA.search(t) for t in texts)


def test_the_reminder_language_is_validated_and_goes_with_its_connection(ctx):
    conn = ConnectionRepo(ctx.store).add(Connection(name="Prod", api_url="https://api-au.6clicks.io"))
    with pytest.raises(InvalidInput, match="Unknown reminder language"):
        set_reminder_language(ctx, conn, "klingon")
    assert reminder_language(ctx, conn) == "en"
    assert set_reminder_language(ctx, conn, "ja-JP") == "ja"
    ConnectionRepo(ctx.store).remove("Prod")
    assert ctx.store.query_one("SELECT COUNT(*) AS n FROM reminder_settings")["n"] == 0
    again = ConnectionRepo(ctx.store).add(Connection(name="Prod", api_url="https://api-au.6clicks.io"))
    assert reminder_language(ctx, again) == "en", "a new connection with the same name starts in English"
