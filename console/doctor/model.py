"""What a setup check is and how checks add up to a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from console.entra.schema import MappingRow
from console.i18n import N_, _, count, pgettext, use_language

Status = Literal["ok", "warning", "failure", "manual"]
# "manual": cannot be checked from here; the operator confirms it by hand (then "ok", with who and when)
SEVERITY: dict[str, int] = {"ok": 0, "manual": 0, "warning": 1, "failure": 2}
# the words shown for a status (translate where shown: _(STATUS_WORDS[status]))
STATUS_WORDS: dict[str, str] = {"ok": N_("OK"), "warning": N_("Warning"), "failure": N_("Failure"),
                                "manual": N_("Cannot check here")}
# the sections, in the guide's order (keys; translate where shown: _(section))
SECTIONS = ("6clicks", N_("Permissions"), "Entra ID")

# the six permissions in the 6clicks guide's words (scim_client.errors.PERMISSIONS has the same keys, in English)
PERMISSION_NAMES: dict[str, str] = {
    "integrations": N_("Integrations"),
    "create-users": N_("Create new users"),
    "edit-users": N_("Edit users"),
    "delete-users": N_("Delete users"),
    "manage-groups": N_("Create, edit and delete groups"),
    "manage-group-members": N_("Manage group members"),
}

# each check's title by id (the permission checks are "permission-<key>", the manual items are in ``manual``)
TITLES: dict[str, str] = {
    "scim-endpoint": N_("API URL and SCIM endpoint"),
    "api-key": N_("API key"),
    "token": N_("Long-lived token"),
    "reminders": N_("Expiry reminders"),
    "entra-job": N_("Provisioning job runs"),
    "entra-credentials": N_("Credentials Entra holds"),
    "entra-mapping-users": N_("Attribute mappings: users"),
    "entra-mapping-groups": N_("Attribute mappings: groups"),
    "scope": N_("Scope: assigned users and groups only"),
    "notification-email": N_("Notification e-mail on failures"),
    "accidental-deletion": N_("Accidental-deletion prevention"),
    "sso": N_("SSO enabled in 6clicks"),
}


def permission_name(key: str) -> str:
    """A permission's name in the guide's words, in the current language (an unknown key as it is)."""
    return _(PERMISSION_NAMES[key]) if key in PERMISSION_NAMES else key


def title_of(check_id: str) -> str:
    """A check's title in the current language ("" for an id this version does not know)."""
    if check_id.startswith("permission-"):
        key = check_id.removeprefix("permission-")
        return permission_name(key) if key in PERMISSION_NAMES else ""
    return _(TITLES[check_id]) if check_id in TITLES else ""


def summary_text(failures: int, warnings: int, ok: int, manual: int) -> str:
    """"2 failures, 1 warning, 9 ok, 4 to confirm by hand", in the current language."""
    parts = [count(failures, "{n} failure", "{n} failures"), count(warnings, "{n} warning", "{n} warnings"),
             count(ok, "{n} ok", "{n} ok")]
    if manual:
        parts.append(count(manual, "{n} to confirm by hand", "{n} to confirm by hand"))
    return pgettext("list separator", ", ").join(parts)


@dataclass(frozen=True)
class Check:
    """One step of the guide, checked. ``seen`` is what was found, ``why`` why it matters and ``fix`` the
    guide's own words for putting it right (which blade, which field). All plain text."""

    id: str
    section: str
    title: str
    status: Status
    seen: str
    why: str = ""
    fix: str = ""
    guide_step: str = ""
    confirmed_by: str | None = None      # a manual item confirmed by hand
    confirmed_at: datetime | None = None
    rows: tuple[MappingRow, ...] = ()    # the mapping checks' side-by-side table

    @property
    def severity(self) -> int:
        return SEVERITY[self.status]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["confirmed_at"] = self.confirmed_at.isoformat() if self.confirmed_at else None
        out["rows"] = [asdict(r) for r in self.rows]
        return out


@dataclass
class Report:
    connection: str
    at: datetime
    checks: list[Check] = field(default_factory=list)

    @property
    def worst(self) -> Status:
        if any(c.status == "failure" for c in self.checks):
            return "failure"
        if any(c.status == "warning" for c in self.checks):
            return "warning"
        return "ok"

    @property
    def exit_code(self) -> int:
        """0 all good, 1 warnings, 2 failures (like ``token check``). Unconfirmed manual items do not count."""
        return SEVERITY[self.worst]

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)

    def summary(self) -> str:
        """The counts in words, in the current language (``summary_text``)."""
        return summary_text(self.count("failure"), self.count("warning"), self.count("ok"), self.count("manual"))

    def summary_en(self) -> str:
        """The same in English, as it is stored (language-neutral records)."""
        with use_language("en"):
            return self.summary()

    def get(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"connection": self.connection, "at": self.at.isoformat(), "worst": self.worst,
                "exit_code": self.exit_code, "checks": [c.to_dict() for c in self.checks]}
