"""The guide's steps the console cannot check (Graph does not expose them, or 6clicks has no API for them): the
operator confirms each by hand. A leaf."""

from __future__ import annotations

SIX = "6clicks"
ENTRA = "Entra ID"
APP = "Entra admin center > Enterprise applications > the 6clicks app > Provisioning"

# Items Graph does not expose for reading: the operator confirms them by hand (who and when is kept)
MANUAL: tuple[tuple[str, str, str, str, str], ...] = (
    ("scope", ENTRA, "Scope: assigned users and groups only",
     "Entra provisions everyone in the tenant when the scope is \"Sync all users and groups\".",
     f"{APP} > Settings > Scope: choose \"Sync only assigned users and groups\"; assign the people and groups "
     "under Users and groups."),
    ("notification-email", ENTRA, "Notification e-mail on failures",
     "Without it, a quarantined or failing job is noticed only when someone opens the admin center.",
     f"{APP} > Settings: enter a Notification Email and tick \"Send an email notification when a failure "
     "occurs\"."),
    ("accidental-deletion", ENTRA, "Accidental-deletion prevention",
     "A mistaken unassignment would otherwise deactivate many 6clicks users in one cycle.",
     f"{APP} > Settings: tick \"Prevent accidental deletion\" and set a threshold that fits the tenant."),
    ("sso", SIX, "SSO enabled in 6clicks",
     "6clicks accepts SCIM only on accounts with single sign-on enabled.",
     "6clicks > Settings > Single sign-on: enable SSO with the Entra enterprise app (the guide's first step)."),
)
