"""The guide's steps the console cannot check (Graph does not expose them, or 6clicks has no API for them): the
operator confirms each by hand. A leaf (but for the translation functions).

The texts are marked with ``N_`` and translated where they are shown (``_(text)``); ``{app}`` in a fix is the
provisioning blade's path in the current language (``app_path()``)."""

from __future__ import annotations

from console.i18n import N_, _

SIX = "6clicks"
ENTRA = "Entra ID"
APP = N_("Entra admin center > Enterprise applications > the 6clicks app > Provisioning")


def app_path() -> str:
    """The 6clicks app's provisioning blade in the admin center, as the admin center names it."""
    return _(APP)


# Items Graph does not expose for reading: the operator confirms them by hand (who and when is kept)
# (id, section, title, why, fix)
MANUAL: tuple[tuple[str, str, str, str, str], ...] = (
    ("scope", ENTRA, N_("Scope: assigned users and groups only"),
     N_("Entra provisions everyone in the tenant when the scope is \"Sync all users and groups\"."),
     N_("{app} > Settings > Scope: choose \"Sync only assigned users and groups\"; assign the people and groups "
        "under Users and groups.")),
    ("notification-email", ENTRA, N_("Notification e-mail on failures"),
     N_("Without it, a quarantined or failing job is noticed only when someone opens the admin center."),
     N_("{app} > Settings: enter a Notification Email and tick \"Send an email notification when a failure "
        "occurs\".")),
    ("accidental-deletion", ENTRA, N_("Accidental-deletion prevention"),
     N_("A mistaken unassignment would otherwise deactivate many 6clicks users in one cycle."),
     N_("{app} > Settings: tick \"Prevent accidental deletion\" and set a threshold that fits the tenant.")),
    ("sso", SIX, N_("SSO enabled in 6clicks"),
     N_("6clicks accepts SCIM only on accounts with single sign-on enabled."),
     N_("6clicks > Settings > Single sign-on: enable SSO with the Entra enterprise app (the guide's first step).")),
)
