"""Reconciliation of Entra and 6clicks: who should be there, who is, and who slipped through.

``entra_side`` (Graph reads, delta-cached users) and ``compare`` (the five categories; pure pandas) <- ``runs``
(run, store, history, CSV). Nothing here changes 6clicks or Entra: acting on a result goes through
``console.operations`` (preview, reason, journal, undo) or provision on demand."""
