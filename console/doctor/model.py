"""What a setup check is and how checks add up to a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from console.entra.schema import MappingRow

Status = Literal["ok", "warning", "failure", "manual"]
# "manual": cannot be checked from here; the operator confirms it by hand (then "ok", with who and when)
SEVERITY: dict[str, int] = {"ok": 0, "manual": 0, "warning": 1, "failure": 2}
STATUS_WORDS: dict[str, str] = {"ok": "OK", "warning": "Warning", "failure": "Failure",
                                "manual": "Cannot check here"}
SECTIONS = ("6clicks", "Permissions", "Entra ID")


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
        parts = [f"{self.count('failure')} failure(s)", f"{self.count('warning')} warning(s)",
                 f"{self.count('ok')} ok"]
        manual = self.count("manual")
        if manual:
            parts.append(f"{manual} to confirm by hand")
        return ", ".join(parts)

    def get(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"connection": self.connection, "at": self.at.isoformat(), "worst": self.worst,
                "exit_code": self.exit_code, "checks": [c.to_dict() for c in self.checks]}
