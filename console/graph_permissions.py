"""The Microsoft Graph application permissions the console needs, feature by feature, least privilege first: the
one list README, the Connection & token page, the set-up checklist and Sync history show, and what
``console.graph.GraphClient`` names on a 403. Each feature's words are marked for translation; the permissions
have a stable text (``text``, what ``GraphError.permission`` holds) and a shown one (``shown``)."""

from __future__ import annotations

from dataclasses import dataclass

from console.i18n import N_, _

PERM_LOGS = "AuditLog.Read.All"
PERM_DIRECTORY = "Directory.Read.All"
PERM_READ = "Synchronization.Read.All"
PERM_WRITE = "Synchronization.ReadWrite.All"


@dataclass(frozen=True)
class FeaturePermissions:
    """One console feature that uses Microsoft Graph and the least application permissions it needs."""

    key: str
    feature: str  # marked with N_: shown with _(feature)
    permissions: tuple[str, ...]
    note: str = ""  # marked with N_: shown with _(note)

    @property
    def text(self) -> str:
        """The permissions as one stable text ("AuditLog.Read.All and Directory.Read.All"): what
        ``GraphError.permission`` holds. ``shown`` words it in the current language."""
        return " and ".join(self.permissions)

    @property
    def shown(self) -> str:
        """The permissions in words, in the current language ("AuditLog.Read.All と Directory.Read.All")."""
        if len(self.permissions) < 2:
            return "".join(self.permissions)
        return _("{first} and {last}").format(first=", ".join(self.permissions[:-1]), last=self.permissions[-1])


#: The one list of Graph application permissions, per feature, least privilege first. README, the Connection &
#: token page, the set-up checklist and Sync history all show this list; GraphClient names it on a 403.
#: Provisioning logs: Microsoft's "List provisioningObjectSummary" needs AuditLog.Read.All *and*
#: Directory.Read.All for application access (see docs/console-core.md).
GRAPH_PERMISSIONS: tuple[FeaturePermissions, ...] = (
    FeaturePermissions("logs", N_("Provisioning logs (Sync history, failure alerts)"), (PERM_LOGS, PERM_DIRECTORY),
                       N_("needs an Entra ID P1 or P2 tenant")),
    FeaturePermissions("job", N_("Job status and finding the job id"), (PERM_READ,)),
    FeaturePermissions("directory", N_("Reconciliation (who is assigned to the app in Entra, and their attributes)"),
                       (PERM_DIRECTORY,), N_("or User.Read.All, GroupMember.Read.All and Application.Read.All")),
    FeaturePermissions("write", N_("Pushing a new token to Entra, restart, provision on demand"), (PERM_WRITE,),
                       N_("includes the job-status permission")),
)


def permissions_for(key: str) -> str:
    """The permissions of one feature of ``GRAPH_PERMISSIONS`` as text, e.g. "AuditLog.Read.All and
    Directory.Read.All"."""
    return next(p.text for p in GRAPH_PERMISSIONS if p.key == key)


def permissions_lines() -> list[str]:
    """``GRAPH_PERMISSIONS`` as lines for people: "Provisioning logs (…): AuditLog.Read.All and …"."""
    return [f"{_(p.feature)}: {p.shown}" + (f" ({_(p.note)})" if p.note else "") for p in GRAPH_PERMISSIONS]


def shown_permissions(text: str) -> str:
    """A ``permissions_for`` text (``GraphError.permission``) in the current language."""
    return next((p.shown for p in GRAPH_PERMISSIONS if p.text == text), text)
