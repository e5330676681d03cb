"""The operation panel's CSV upload on the Users page reads a file as Excel on Japanese Windows saves it
(Shift_JIS, CRLF) and refuses a workbook with the real reason, through the shared decoder."""

from __future__ import annotations

from typing import Any

from tests.pages.conftest import app, assert_clean, make_connection, texts, unescape


def test_shift_jis_list_previews_and_a_workbook_is_refused(console_home: Any, sandbox_factory: Any) -> None:
    from console.directory.store import latest_snapshot

    sb = sandbox_factory(seed_users=12, seed_groups=2, seed=9)
    live = make_connection(console_home, sb, "Tenant", entra=False)
    users = latest_snapshot(live.ctx, live.conn).users
    active = users[users["active"].astype(bool)]["userName"].astype(str).tolist()[:3]
    body = "userName,氏名\r\n" + "".join(f"{u},山田 {i}号\r\n" for i, u in enumerate(active))
    at = app("pages/users.py")
    at.segmented_control(key="ops.users.source").set_value("People in a CSV file").run()
    at.file_uploader(key="ops.users.csv").upload("一覧.csv", body.encode("cp932"), "text/csv").run()
    assert_clean(at)
    shown = texts(at)
    assert f"{len(active)} people in the file." in shown and "Read as Shift_JIS (cp932)." in shown
    at.selectbox(key="ops.users.kind").set_value("Deactivate").run()
    at.button(key="ops.users.preview").click().run()
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Will change"] == str(len(active))

    at = app("pages/users.py")
    at.segmented_control(key="ops.users.source").set_value("People in a CSV file").run()
    at.file_uploader(key="ops.users.csv").upload("list.csv", b"PK\x03\x04" + bytes(300), "text/csv").run()
    assert_clean(at)
    errors = unescape(" ".join(e.value for e in at.error))
    assert "is a ZIP archive (an Excel .xlsx workbook is one), not a text file" in errors and "CSV UTF-8" in errors


def test_a_replaced_or_refused_file_drops_the_preview(console_home: Any, sandbox_factory: Any) -> None:
    """Preview from one file, then another file (or one that is refused): the old preview, and its Continue,
    go; the preview is made again from the new file."""
    from console.directory.store import latest_snapshot

    sb = sandbox_factory(seed_users=12, seed_groups=2, seed=9)
    live = make_connection(console_home, sb, "Tenant", entra=False)
    users = latest_snapshot(live.ctx, live.conn).users
    active = users[users["active"].astype(bool)]["userName"].astype(str).tolist()
    at = app("pages/users.py")
    at.segmented_control(key="ops.users.source").set_value("People in a CSV file").run()
    at.file_uploader(key="ops.users.csv").upload("first.csv", "\n".join(active[:2]).encode(), "text/csv").run()
    at.selectbox(key="ops.users.kind").set_value("Deactivate").run()
    at.button(key="ops.users.preview").click().run()
    assert {m.label: m.value for m in at.metric}["Will change"] == "2"
    assert any("Continue" in b.label for b in at.button)
    at.file_uploader(key="ops.users.csv").upload("second.csv", "\n".join(active[2:5]).encode(), "text/csv").run()
    assert_clean(at)
    assert "Will change" not in {m.label for m in at.metric}
    assert not any("Continue" in b.label for b in at.button)
    assert "press Preview again" in texts(at)
    at.button(key="ops.users.preview").click().run()
    assert {m.label: m.value for m in at.metric}["Will change"] == "3"
    at.file_uploader(key="ops.users.csv").upload("book.xlsx", b"PK\x03\x04" + bytes(300),
                                                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                                                 ).run()
    assert "Will change" not in {m.label for m in at.metric}
    assert not any("Continue" in b.label for b in at.button)
    errors = unescape(" ".join(e.value for e in at.error))
    assert "is a ZIP archive" in errors                  # the decoder's reason, not "files are not allowed"
