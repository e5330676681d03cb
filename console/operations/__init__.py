"""Manual operations on 6clicks: deactivate, reactivate, add to / remove from / move between groups and roles.

``plan`` previews (nothing is sent), ``execute`` journals the plan and then runs it with bounded concurrency,
re-checking every person live (idempotent). Interrupted batches are listed by ``unfinished_batches`` and
finished by ``resume`` or given up by ``abandon``; ``retry_failed`` re-runs failed items alone; ``undo_plan``
previews the exact inverse of an action. Every change is read back (``verify``): a server that loses members
it was not asked to remove stops the batch, the members are restored and the defect is reported
(``BatchResult.defects``). The audit side is ``console.operations.audit``. UI-free.

The journal stores English (notes, errors, remedies, labels, event details, reports); ``shown`` (and ``shown_lines``
for a report) says such a stored text in the current language where it is read (``console.operations.wording``).
"""

from console.operations.batches import Unfinished, abandon, batch_result, unfinished_batches, validate_reason
from console.operations.executor import execute, resume, retry_failed
from console.operations.model import (
    DEFAULT_CONCURRENCY,
    KINDS,
    BatchResult,
    DefectReport,
    ItemResult,
    Plan,
    PlanItem,
    kind_label,
)
from console.operations.planning import entra_warnings, load_directory, next_cycle_text, plan, undo_plan
from console.operations.targets import CsvTargets, Directory, read_csv_targets
from console.operations.wording import shown, shown_lines

__all__ = [
    "DEFAULT_CONCURRENCY", "KINDS", "BatchResult", "CsvTargets", "DefectReport", "Directory", "ItemResult", "Plan", "PlanItem",
    "Unfinished", "abandon", "batch_result", "entra_warnings", "execute", "kind_label", "load_directory",
    "next_cycle_text", "plan", "read_csv_targets", "resume", "retry_failed", "shown", "shown_lines", "undo_plan",
    "unfinished_batches", "validate_reason",
]
