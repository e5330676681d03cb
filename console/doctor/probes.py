"""The permission probes' words in the current language: what each check sent and what its answer means come
from ``console.errors.permission_check_text`` (worded from the check's ``code`` and ``params``, the one place
that words ``scim_client``'s results); the verdict is the setup check's own word."""

from __future__ import annotations

from console.errors import permission_check_text
from console.i18n import pgettext
from scim_client.permissions import FullProbe, PermissionCheck


def request_words(check: PermissionCheck, probe: FullProbe | None = None) -> str:
    """What was sent, in words (``probe`` is accepted for the callers that have it; the check names its own
    probe objects)."""
    return permission_check_text(check)[0]


def verdict_words(check: PermissionCheck) -> str:
    return {"granted": pgettext("permission", "granted"), "missing": pgettext("permission", "missing"),
            "unclear": pgettext("permission", "unclear")}.get(check.verdict, check.verdict)


def result_words(check: PermissionCheck) -> str:
    """What the answer means, in words."""
    return permission_check_text(check)[1]
