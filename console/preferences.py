"""What the console remembers per operator: the language they chose (table ``operator_languages``)."""

from __future__ import annotations

from console.context import Context
from console.errors import InvalidInput
from console.i18n import LANGUAGES, _, normalise


def operator_language(ctx: Context, operator: str) -> str | None:
    """The language ``operator`` chose last, or None before they chose one."""
    row = ctx.store.query_one("SELECT language FROM operator_languages WHERE operator = ?", (operator,))
    return normalise(row["language"]) if row is not None else None


def remember_language(ctx: Context, operator: str, code: str) -> str:
    chosen = normalise(code)
    if chosen is None:
        raise InvalidInput(_("Unknown language {code!r}.").format(code=code[:20]),
                           _("Choose one of: {choices}.").format(choices=", ".join(LANGUAGES)))
    ctx.store.execute(
        "INSERT INTO operator_languages (operator, language, at) VALUES (?, ?, ?) ON CONFLICT (operator) "
        "DO UPDATE SET language = excluded.language, at = excluded.at",
        (operator[:320], chosen, ctx.now().isoformat()))
    return chosen
