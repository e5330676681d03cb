"""How the console names a person, whatever the directory holds.

The 6clicks guide's Entra mapping sends only ``userName``, the work e-mail, ``active``, ``name.givenName``,
``name.familyName`` and ``externalId``: ``displayName`` (and title, phone, department, ...) is absent for every
person Entra provisions, and any attribute may be null, empty or of an unexpected type (a number, a list).
Every page, preview, activity entry and command names a person with the label computed here:

    displayName, else "givenName familyName" (either part alone when only one is there), else userName,
    else the e-mail, else the SCIM id, else "(no name)".

``display_label`` does it for one record (keyword arguments, a dict or a pandas row); ``display_labels`` for a
whole users frame, vectorised (100,000 rows in well under a second).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import pandas as pd

from console.text import as_text

NO_NAME = "(no name)"
#: snapshot column -> keyword of ``display_label``, in fallback order
LABEL_COLUMNS = {"displayName": "display_name", "givenName": "given_name", "familyName": "family_name",
                 "userName": "user_name", "email": "email", "id": "user_id"}


def display_label(record: Mapping[str, Any] | None = None, *, display_name: Any = None, given_name: Any = None,
                  family_name: Any = None, user_name: Any = None, email: Any = None, user_id: Any = None) -> str:
    """The name to show for one person (see the module docstring). ``record`` may be a dict or a pandas row
    with the snapshot's column names; keyword arguments fill what it lacks."""
    if record is not None:
        get = record.get
        display_name = display_name if display_name is not None else get("displayName")
        given_name = given_name if given_name is not None else get("givenName")
        family_name = family_name if family_name is not None else get("familyName")
        user_name = user_name if user_name is not None else get("userName")
        email = email if email is not None else get("email")
        user_id = user_id if user_id is not None else get("id")
    label = as_text(display_name)
    if label:
        return label
    parts = [p for p in (as_text(given_name), as_text(family_name)) if p]
    if parts:
        return " ".join(parts)
    for value in (user_name, email, user_id):
        text = as_text(value)
        if text:
            return text
    return NO_NAME


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column as stripped strings with missing/empty values as NA (all NA when the column is absent)."""
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    values = frame[name]
    if values.dtype == object:  # numbers, lists... where strings belong
        values = values.map(lambda v: as_text(v), na_action="ignore")
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def display_labels(frame: pd.DataFrame) -> pd.Series:
    """``display_label`` for every row of a users frame (snapshot column names), as a string Series."""
    if frame.empty:
        return pd.Series([], index=frame.index, dtype="string")
    given, family = _column(frame, "givenName"), _column(frame, "familyName")
    names = given.str.cat(family, sep=" ", na_rep="").str.strip()
    names = names.mask(names == "")
    label = _column(frame, "displayName").fillna(names)
    for column in ("userName", "email", "id"):
        label = label.fillna(_column(frame, column))
    return label.fillna(NO_NAME).astype("string")


_TRUE = frozenset({"true", "1", "yes", "y", "t", "on"})


def is_active(value: Any) -> bool:
    """Whether a stored ``active`` value means active: a bool, or a string boolean as Entra sends ("True",
    "False"), or a number; missing or unreadable is *not* active (never claim a person can sign in)."""
    if isinstance(value, bool):
        return value
    text = as_text(value)
    if text is None:
        return False
    if isinstance(value, numbers.Number):
        return bool(value != 0)
    return text.lower() in _TRUE
