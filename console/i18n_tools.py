"""Keep the translation catalogs in step with the code: ``python -m console.i18n_tools [--check]``.

Extracts every marked message (``_``, ``N_``, ``ngettext``, ``pgettext``, ``count``) from app.py, pages/ and
console/ with Babel (the template is built in memory: it is derived, so it is not kept), and updates each area's
catalog
(``console/locale/ja/LC_MESSAGES/<area>.po``): a message belongs to the area of the first file it is used in,
keeps its translation wherever it was translated before, and new messages arrive untranslated for review.
Messages no longer in the code are dropped. ``--check`` changes nothing and exits 1 when a catalog is out of
step or a message has no translation (what ``tests/test_i18n.py`` asserts).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from console.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "count": (2, 3)}
SOURCES = ("app.py", "pages", "console")

#: the area catalog of each source path (the first prefix that matches wins; "core" for the rest)
AREAS: list[tuple[str, str]] = [
    ("console/cli/", "cli"),
    ("console/entra/", "entra"),
    ("pages/sync_history.py", "entra"),
    ("pages/_sync_history/", "entra"),
    ("console/tokens/", "tokens"),
    ("console/notify/", "tokens"),
    ("pages/connection.py", "tokens"),
    ("pages/_connection/", "tokens"),
    ("pages/setup.py", "tokens"),
    ("pages/_setup_ui.py", "tokens"),
    ("console/doctor/", "doctor"),
    ("console/reconcile/", "doctor"),
    ("pages/doctor.py", "doctor"),
    ("pages/reconcile.py", "doctor"),
    ("pages/_ondemand.py", "doctor"),
    ("console/operations/", "operations"),
    ("console/directory/", "operations"),
    ("pages/users.py", "operations"),
    ("pages/groups.py", "operations"),
    ("pages/_ui/ops_", "operations"),
    ("pages/", "pages"),
    ("app.py", "pages"),
]


def area_of(path: str) -> str:
    for prefix, area in AREAS:
        if path.startswith(prefix):
            return area
    return "core"


def source_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = ROOT / name
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return [f for f in files if "locale" not in f.parts and f.name != "i18n_tools.py"]


def extract() -> Catalog:
    """Every marked message of the code, with where it is used."""
    template = Catalog(domain=DOMAIN, project="scim-console", charset="utf-8")
    for path in source_files():
        rel = path.relative_to(ROOT).as_posix()
        for lineno, message, comments, context in extract_from_file("python", str(path), keywords=KEYWORDS,
                                                                    comment_tags=("Translators:",)):
            template.add(message, None, [(rel, lineno)], auto_comments=comments, context=context,
                         flags=("python-brace-format",) if _has_braces(message) else ())
    return template


def _has_braces(message: str | tuple[str, ...]) -> bool:
    parts = message if isinstance(message, tuple) else (message,)
    return any("{" in p for p in parts)


def _catalog(code: str, area: str) -> Catalog:
    return Catalog(locale=code, domain=DOMAIN, project="SCIM console for 6clicks", version="1",
                   header_comment=f"# {LANGUAGES[code]} messages of the console: area \"{area}\" "
                                  f"(python -m console.i18n_tools; glossary in docs/glossary-ja.md).\n#",
                   msgid_bugs_address="the project's issues", last_translator="console maintainers", language_team=LANGUAGES[code], charset="utf-8",
                   fuzzy=False)


def _known(code: str) -> dict[tuple[object, str | None], Message]:
    known: dict[tuple[object, str | None], Message] = {}
    for path in sorted((LOCALE_DIR / code / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            for message in read_po(fh, locale=code):
                if message.id and message.string:
                    known.setdefault((message.id, message.context), message)
    return known


def _po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=120, omit_header=False, sort_output=False, include_previous=False,
             include_lineno=False)  # file names only: moving code does not churn the catalogs
    return out.getvalue()


def build(code: str, template: Catalog) -> dict[str, bytes]:
    """The area catalogs of ``code`` for ``template`` (file name -> content)."""
    known = _known(code)
    areas: dict[str, Catalog] = {}
    for message in template:
        if not message.id:
            continue
        area = area_of(message.locations[0][0]) if message.locations else "core"
        catalog = areas.setdefault(area, _catalog(code, area))
        before = known.get((message.id, message.context))
        string = before.string if before is not None else ("", "") if isinstance(message.id, tuple) else ""
        catalog.add(message.id, string, locations=message.locations, flags=message.flags,
                    auto_comments=message.auto_comments, user_comments=before.user_comments if before else (),
                    context=message.context)
    return {f"{area}.po": _po_bytes(catalog) for area, catalog in sorted(areas.items())}


def untranslated(code: str) -> list[str]:
    missing = []
    for name, content in build(code, extract()).items():
        for message in read_po(io.BytesIO(content), locale=code):
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not all(strings):
                ident = message.id[0] if isinstance(message.id, tuple) else message.id
                missing.append(f"{name}: {ident}")
    return missing


def _without_dates(content: bytes) -> bytes:
    return b"\n".join(line for line in content.splitlines()
                      if not line.startswith((b'"POT-Creation-Date', b'"PO-Revision-Date')))


def update(check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) the template and the catalogs; returns the files out of step."""
    template = extract()
    stale: list[str] = []
    files: dict[Path, bytes] = {}
    for code in LANGUAGES:
        if code == "en":
            continue
        folder = LOCALE_DIR / code / "LC_MESSAGES"
        built = build(code, template)
        files.update({folder / name: content for name, content in built.items()})
        files.update({path: b"" for path in folder.glob("*.po") if path.name not in built})
    for path, content in files.items():
        old = path.read_bytes() if path.exists() else None
        if old is not None and _without_dates(old) == _without_dates(content):
            continue
        stale.append(str(path.relative_to(ROOT)))
        if check:
            continue
        if content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        elif path.exists():
            path.unlink()
    return stale


def main(argv: Iterable[str]) -> int:
    check = "--check" in list(argv)
    stale = update(check=check)
    for name in stale:
        print(("out of step: " if check else "updated: ") + name)
    missing = [m for code in LANGUAGES if code != "en" for m in untranslated(code)]
    for line in missing[:50]:
        print("untranslated: " + line)
    if len(missing) > 50:
        print(f"... and {len(missing) - 50} more untranslated")
    return 1 if (check and stale) or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
