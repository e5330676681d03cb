"""Entra's provisioning error codes and categories in words: what each means for 6clicks and what to do.
A leaf (it imports only ``console.i18n``): the logs, the job's health, a person's timeline and the pages all read
it. From Microsoft's provisioning documentation (../shared/reference/entra-provisioning.md).

The tables are module data, marked with ``N_`` and translated when read: ``explain_error``, ``error_title``,
``error_category_text``, ``quarantine_reason_text``, ``job_status_text`` and ``outcome_word`` answer in the current language
(``console.i18n``), so every caller (pages, alerts, reminders, the command line) gets the operator's language.
"""

from __future__ import annotations

from console.i18n import N_, _, pgettext

# Entra error codes -> (what it means, what to do). From Microsoft's provisioning documentation
# (../shared/reference/entra-provisioning.md). Codes ending in the key also match (e.g. "<App>EntryConflict").
ERROR_CODES: dict[str, tuple[str, str]] = {
    "SystemForCrossDomainIdentityManagementCredentialValidationFailure": (
        N_("Entra could not authenticate to 6clicks: the SCIM token (secret token) is expired, revoked or wrong, "
           "or the tenant URL is wrong. Entra quarantines the job when this persists."),
        N_("Generate a new 6clicks token (Connection & token page, or python -m console token rotate) and push it to "
           "Entra, then restart provisioning with the QuarantineState scope.")),
    "EntryConflict": (
        N_("6clicks already has an object with the same unique value (409 uniqueness), typically a user with the "
           "same userName or e-mail that Entra did not create or cannot match."),
        N_("Find the existing 6clicks user with that userName or e-mail; delete or rename it, or fix the matching "
           "attribute in Entra, then retry (provision on demand).")),
    "DuplicateTargetEntries": (
        N_("More than one object in 6clicks matched the Entra object on the matching attribute."),
        N_("Remove or change the duplicate users/groups in 6clicks so that exactly one matches.")),
    "DuplicateSourceEntries": (
        N_("More than one object in Entra has the same matching-attribute value."),
        N_("Make the matching attribute (usually userPrincipalName or mail) unique in Entra.")),
    "InvalidAnchor": (
        N_("The 6clicks object Entra had matched earlier no longer exists (deleted outside provisioning)."),
        N_("Restart provisioning with the Watermark scope or provision the user on demand so Entra matches again.")),
    "ImportSkipped": (
        N_("Entra skipped the object while reading the source, often because a required attribute is empty."),
        N_("Fill in the attribute named in the details (for example mail or userPrincipalName) in Entra.")),
    "EntrySynchronizationSkipped": (
        N_("Nothing to do for this object: it is out of scope, not assigned, or already up to date."),
        N_("No action needed unless the person should be provisioned: then assign them to the enterprise app.")),
    "TooManyRequests": (
        N_("6clicks answered 429 (too many requests). Entra retries these in the next cycle."),
        N_("Usually clears by itself; if it persists, reduce other API load on 6clicks or contact 6clicks support.")),
    "Timeout": (
        N_("6clicks did not answer in time. Entra retries in the next cycle."),
        N_("Usually transient; if it repeats, check 6clicks status and network reachability of the tenant URL.")),
    "InternalServerError": (
        N_("6clicks answered 500 (server error). Entra retries in the next cycle."),
        N_("Retry later; if it repeats for the same object, report it to 6clicks support with the change id.")),
    "WebExceptionProtocolError": (
        N_("The HTTP exchange with 6clicks failed (connection refused, TLS or protocol error)."),
        N_("Check the tenant URL in the provisioning settings and that 6clicks is reachable.")),
    "InsufficientRights": (
        N_("The 6clicks API key behind the token lacks a permission needed for this change."),
        N_("Give the API key the missing permission in 6clicks (Integrations, Create/Edit/Delete users, "
           "Manage groups, Manage group members), then generate a new token.")),
    "Unauthorized": (
        N_("6clicks rejected the token (401)."),
        N_("Generate a new 6clicks token and push it to Entra (Connection & token page).")),
    "SystemForCrossDomainIdentityManagementBadRequest": (
        N_("6clicks rejected the request as invalid (400), for example a missing or malformed attribute."),
        N_("Check the attribute mappings in Entra for the attribute named in the details; provision on demand "
           "to see the exact request.")),
    "SystemForCrossDomainIdentityManagementBadResponse": (
        N_("6clicks answered with something Entra could not understand."),
        N_("Report it to 6clicks support with the change id; check the attribute values of this object.")),
    "SystemForCrossDomainIdentityManagementMultipleEntriesInResponse": (
        N_("A lookup in 6clicks returned several objects where Entra expected one."),
        N_("Remove the duplicate users or groups in 6clicks (same userName / displayName).")),
    "SystemForCrossDomainIdentityManagementServiceIncompatible": (
        N_("6clicks' SCIM answer is not what Entra expects (e.g. an unsupported filter or PATCH form)."),
        N_("Check the tenant URL (the aadOptscim062020 flag) and report it to 6clicks support.")),
    "StagedDelete": (
        N_("The accidental-deletion threshold was exceeded, so Entra held these deletes/disables."),
        N_("Check the deletions are intended; then allow them in the Entra admin center (Provisioning > "
           "accidental deletions) or raise the threshold.")),
    "TooManyDeletes": (
        N_("The accidental-deletion threshold was exceeded, so Entra held the deletes and quarantined the job."),
        N_("Review the held deletions; if intended, allow them in the Entra admin center and restart the job.")),
}
#: Graph's quarantine reasons (``status.quarantine.reason``) in words; "inferred from logs" is the console's own
#: reason for a period read from the logs alone (``console.entra.health.inferred_quarantine_periods``)
INFERRED_REASON = "inferred from logs"
QUARANTINE_REASONS: dict[str, str] = {
    "EncounteredBaseEscrowThreshold": N_("too many failures in a cycle (escrow threshold)"),
    "EncounteredTotalEscrowThreshold": N_("too many failures in total (escrow threshold)"),
    "EncounteredEscrowProportionThreshold": N_("more than 40 percent of the operations failed"),
    "EncounteredQuarantineException": N_("a quarantine exception, usually invalid credentials"),
    "TooManyDeletes": N_("the accidental-deletion threshold was exceeded"),
    "QuarantinedOnDemand": N_("quarantined on demand"),
    "IngestionInterrupted": N_("ingestion was interrupted"),
    "Unknown": N_("an unknown reason"),
    INFERRED_REASON: N_("inferred from the provisioning logs"),
}


#: a short name for each error code, for chart labels, table cells and sentences (the code itself stays beside it)
ERROR_TITLES: dict[str, str] = {
    "SystemForCrossDomainIdentityManagementCredentialValidationFailure": N_("token rejected"),
    "EntryConflict": N_("conflict with an existing object"),
    "DuplicateTargetEntries": N_("several matches in 6clicks"),
    "DuplicateSourceEntries": N_("several matches in Entra"),
    "InvalidAnchor": N_("matched object gone from 6clicks"),
    "ImportSkipped": N_("skipped while reading Entra"),
    "EntrySynchronizationSkipped": N_("nothing to do"),
    "TooManyRequests": N_("6clicks rate limit"),
    "Timeout": N_("6clicks did not answer in time"),
    "InternalServerError": N_("6clicks server error"),
    "WebExceptionProtocolError": N_("connection to 6clicks failed"),
    "InsufficientRights": N_("API key lacks a permission"),
    "Unauthorized": N_("token rejected"),
    "SystemForCrossDomainIdentityManagementBadRequest": N_("request rejected as invalid"),
    "SystemForCrossDomainIdentityManagementBadResponse": N_("unreadable answer from 6clicks"),
    "SystemForCrossDomainIdentityManagementMultipleEntriesInResponse": N_("several objects where one was expected"),
    "SystemForCrossDomainIdentityManagementServiceIncompatible": N_("6clicks answer not as Entra expects"),
    "StagedDelete": N_("deletion held back"),
    "TooManyDeletes": N_("too many deletions at once"),
}
#: Graph's ``errorCategory`` values in words
ERROR_CATEGORIES: dict[str, str] = {
    "nonservicefailure": N_("caused outside Entra's provisioning service (6clicks, the token, the settings or the "
                            "data)"),
    "failure": N_("a failure of Entra's provisioning service"),
    "success": N_("not a failure"),
}
#: what the logs and pages write for a record without an error code (a value, not shown as it is)
NO_ERROR_CODE = "(no error code)"


def error_title(code: str | None) -> str:
    """A few words naming an Entra error code ("6clicks server error"), in the current language; the code itself
    when unknown."""
    if not code or code == NO_ERROR_CODE:
        return _("no error code")
    if code in ERROR_TITLES:
        return _(ERROR_TITLES[code])
    for key, value in ERROR_TITLES.items():
        if code.lower().endswith(key.lower()):
            return _(value)
    return code


def error_category_text(category: str | None) -> str | None:
    """Graph's ``errorCategory`` in words (unknown values as they are; None when there is none)."""
    if not category:
        return None
    words = ERROR_CATEGORIES.get(str(category).strip().lower())
    return _(words) if words else str(category)


def quarantine_reason_text(reason: str | None) -> str:
    """Graph's quarantine reason in words, in the current language (an unknown reason as Graph says it)."""
    if not reason:
        return _(QUARANTINE_REASONS["Unknown"])
    words = QUARANTINE_REASONS.get(reason)
    return _(words) if words else reason


def outcome_word(status: str | None) -> str:
    """A record's status (success / failure / skipped / warning, as Graph and the log store keep it) in words
    for a reader, in the current language; other values as they are."""
    text = str(status or "")
    words = {"success": pgettext("outcome", "success"), "failure": pgettext("outcome", "failure"),
             "skipped": pgettext("outcome", "skipped"), "warning": pgettext("outcome", "warning"),
             "unknown": pgettext("outcome", "unknown")}
    return words.get(text.lower(), text)


def job_status_text(code: str | None) -> str:
    """The provisioning job's status code from Graph (``status.code``: Active, Paused, Quarantine, NotRun,
    NotConfigured) in words, in the current language; another value as Graph says it."""
    text = str(code or "")
    words = {"active": pgettext("job status", "Active"), "paused": pgettext("job status", "Paused"),
             "quarantine": pgettext("job status", "Quarantine"), "notrun": pgettext("job status", "Not run"),
             "notconfigured": pgettext("job status", "Not configured")}
    return words.get(text.lower(), text)


def cycle_state_text(state: str | None) -> str:
    """The last cycle's state from Graph (``lastExecution.state``: Succeeded, Failed, EntryLevelErrors) in words,
    in the current language; another value as Graph says it."""
    text = str(state or "")
    words = {"succeeded": pgettext("cycle state", "Succeeded"), "failed": pgettext("cycle state", "Failed"),
             "entrylevelerrors": pgettext("cycle state", "Some objects failed (EntryLevelErrors)")}
    return words.get(text.lower(), text)


def explain_error(code: str | None) -> tuple[str, str]:
    """(what it means, suggested fix) for an Entra error code in the current language; generic text for unknown
    codes."""
    if not code or code == NO_ERROR_CODE:
        return (_("The record failed without an error code."), _("Open the record's steps for the reason."))
    found = ERROR_CODES.get(code)
    if found is None:
        found = next((value for key, value in ERROR_CODES.items() if code.lower().endswith(key.lower())), None)
    if found is not None:
        return _(found[0]), _(found[1])
    return (_("Entra reported {code}; this code is not in the console's table.").format(code=code),
            _("Open a failed record's steps and reason; search Microsoft's provisioning error reference for the "
              "code."))
