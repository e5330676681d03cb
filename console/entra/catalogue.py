"""Entra's provisioning error codes and categories in words: what each means for 6clicks and what to do.
A leaf (imports nothing of ours): the logs, the job's health, a person's timeline and the pages all read it.
From Microsoft's provisioning documentation (../shared/reference/entra-provisioning.md)."""

from __future__ import annotations

# Entra error codes -> (what it means, what to do). From Microsoft's provisioning documentation
# (../shared/reference/entra-provisioning.md). Codes ending in the key also match (e.g. "<App>EntryConflict").
ERROR_CODES: dict[str, tuple[str, str]] = {
    "SystemForCrossDomainIdentityManagementCredentialValidationFailure": (
        "Entra could not authenticate to 6clicks: the SCIM token (secret token) is expired, revoked or wrong, "
        "or the tenant URL is wrong. Entra quarantines the job when this persists.",
        "Generate a new 6clicks token (Connection & token page, or python -m console token rotate) and push it to "
        "Entra, then restart provisioning with the QuarantineState scope."),
    "EntryConflict": (
        "6clicks already has an object with the same unique value (409 uniqueness), typically a user with the "
        "same userName or e-mail that Entra did not create or cannot match.",
        "Find the existing 6clicks user with that userName or e-mail; delete or rename it, or fix the matching "
        "attribute in Entra, then retry (provision on demand)."),
    "DuplicateTargetEntries": (
        "More than one object in 6clicks matched the Entra object on the matching attribute.",
        "Remove or change the duplicate users/groups in 6clicks so that exactly one matches."),
    "DuplicateSourceEntries": (
        "More than one object in Entra has the same matching-attribute value.",
        "Make the matching attribute (usually userPrincipalName or mail) unique in Entra."),
    "InvalidAnchor": (
        "The 6clicks object Entra had matched earlier no longer exists (deleted outside provisioning).",
        "Restart provisioning with the Watermark scope or provision the user on demand so Entra matches again."),
    "ImportSkipped": (
        "Entra skipped the object while reading the source, often because a required attribute is empty.",
        "Fill in the attribute named in the details (for example mail or userPrincipalName) in Entra."),
    "EntrySynchronizationSkipped": (
        "Nothing to do for this object: it is out of scope, not assigned, or already up to date.",
        "No action needed unless the person should be provisioned: then assign them to the enterprise app."),
    "TooManyRequests": (
        "6clicks answered 429 (too many requests). Entra retries these in the next cycle.",
        "Usually clears by itself; if it persists, reduce other API load on 6clicks or contact 6clicks support."),
    "Timeout": (
        "6clicks did not answer in time. Entra retries in the next cycle.",
        "Usually transient; if it repeats, check 6clicks status and network reachability of the tenant URL."),
    "InternalServerError": (
        "6clicks answered 500 (server error). Entra retries in the next cycle.",
        "Retry later; if it repeats for the same object, report it to 6clicks support with the change id."),
    "WebExceptionProtocolError": (
        "The HTTP exchange with 6clicks failed (connection refused, TLS or protocol error).",
        "Check the tenant URL in the provisioning settings and that 6clicks is reachable."),
    "InsufficientRights": (
        "The 6clicks API key behind the token lacks a permission needed for this change.",
        "Give the API key the missing permission in 6clicks (Integrations, Create/Edit/Delete users, "
        "Manage groups, Manage group members), then generate a new token."),
    "Unauthorized": (
        "6clicks rejected the token (401).",
        "Generate a new 6clicks token and push it to Entra (Connection & token page)."),
    "SystemForCrossDomainIdentityManagementBadRequest": (
        "6clicks rejected the request as invalid (400), for example a missing or malformed attribute.",
        "Check the attribute mappings in Entra for the attribute named in the details; provision on demand "
        "to see the exact request."),
    "SystemForCrossDomainIdentityManagementBadResponse": (
        "6clicks answered with something Entra could not understand.",
        "Report it to 6clicks support with the change id; check the attribute values of this object."),
    "SystemForCrossDomainIdentityManagementMultipleEntriesInResponse": (
        "A lookup in 6clicks returned several objects where Entra expected one.",
        "Remove the duplicate users or groups in 6clicks (same userName / displayName)."),
    "SystemForCrossDomainIdentityManagementServiceIncompatible": (
        "6clicks' SCIM answer is not what Entra expects (e.g. an unsupported filter or PATCH form).",
        "Check the tenant URL (the aadOptscim062020 flag) and report it to 6clicks support."),
    "StagedDelete": (
        "The accidental-deletion threshold was exceeded, so Entra held these deletes/disables.",
        "Check the deletions are intended; then allow them in the Entra admin center (Provisioning > "
        "accidental deletions) or raise the threshold."),
    "TooManyDeletes": (
        "The accidental-deletion threshold was exceeded, so Entra held the deletes and quarantined the job.",
        "Review the held deletions; if intended, allow them in the Entra admin center and restart the job."),
}
QUARANTINE_REASONS: dict[str, str] = {
    "EncounteredBaseEscrowThreshold": "too many failures in a cycle (escrow threshold)",
    "EncounteredTotalEscrowThreshold": "too many failures in total (escrow threshold)",
    "EncounteredEscrowProportionThreshold": "more than 40 % of operations failed",
    "EncounteredQuarantineException": "a quarantine exception, usually invalid credentials",
    "TooManyDeletes": "the accidental-deletion threshold was exceeded",
    "QuarantinedOnDemand": "quarantined on demand",
    "IngestionInterrupted": "ingestion was interrupted",
    "Unknown": "an unknown reason",
}


#: a short name for each error code, for chart labels, table cells and sentences (the code itself stays beside it)
ERROR_TITLES: dict[str, str] = {
    "SystemForCrossDomainIdentityManagementCredentialValidationFailure": "token rejected",
    "EntryConflict": "conflict with an existing object",
    "DuplicateTargetEntries": "several matches in 6clicks",
    "DuplicateSourceEntries": "several matches in Entra",
    "InvalidAnchor": "matched object gone from 6clicks",
    "ImportSkipped": "skipped while reading Entra",
    "EntrySynchronizationSkipped": "nothing to do",
    "TooManyRequests": "6clicks rate limit",
    "Timeout": "6clicks did not answer in time",
    "InternalServerError": "6clicks server error",
    "WebExceptionProtocolError": "connection to 6clicks failed",
    "InsufficientRights": "API key lacks a permission",
    "Unauthorized": "token rejected",
    "SystemForCrossDomainIdentityManagementBadRequest": "request rejected as invalid",
    "SystemForCrossDomainIdentityManagementBadResponse": "unreadable answer from 6clicks",
    "SystemForCrossDomainIdentityManagementMultipleEntriesInResponse": "several objects where one was expected",
    "SystemForCrossDomainIdentityManagementServiceIncompatible": "6clicks answer not as Entra expects",
    "StagedDelete": "deletion held back",
    "TooManyDeletes": "too many deletions at once",
}
#: Graph's ``errorCategory`` values in words
ERROR_CATEGORIES: dict[str, str] = {
    "nonservicefailure": "caused outside Entra's provisioning service (6clicks, the token, the settings or the data)",
    "failure": "a failure of Entra's provisioning service",
    "success": "not a failure",
}


def error_title(code: str | None) -> str:
    """A few words naming an Entra error code ("6clicks server error"); the code itself when unknown."""
    if not code or code == "(no error code)":
        return "no error code"
    if code in ERROR_TITLES:
        return ERROR_TITLES[code]
    for key, value in ERROR_TITLES.items():
        if code.lower().endswith(key.lower()):
            return value
    return code


def error_category_text(category: str | None) -> str | None:
    """Graph's ``errorCategory`` in words (unknown values as they are; None when there is none)."""
    if not category:
        return None
    return ERROR_CATEGORIES.get(str(category).strip().lower(), str(category))


def explain_error(code: str | None) -> tuple[str, str]:
    """(plain-English explanation, suggested fix) for an Entra error code; generic text for unknown codes."""
    if not code or code == "(no error code)":
        return ("The record failed without an error code.", "Open the record's steps for the reason.")
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    for key, value in ERROR_CODES.items():
        if code.lower().endswith(key.lower()):
            return value
    return (f"Entra reported {code}; this code is not in the console's table.",
            "Open a failed record's steps and reason; search Microsoft's provisioning error reference for the code.")
