"""The setup check ("doctor"): every step of the 6clicks guide verified on a live connection.

``manual`` (the steps only a person can confirm; a leaf) and ``model`` (checks, verdicts, exit codes) <-
``confirmations`` (what an operator confirmed by hand, who and when; each run's verdict) <- ``checks`` (runs the
checks against 6clicks and Graph; the mapping comparison is ``console.entra.schema``; ``probes`` words the permission
probes in the operator's language). Nothing here writes to 6clicks or Entra,
except ``scim_client.permissions.full_probe``, which the operator starts explicitly.
"""
