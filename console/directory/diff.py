"""The events that turn one snapshot into the next (``diff_frames``), vectorised.

============================  =========================================================================
kind                          meaning (``subject_type`` is user, group or role)
============================  =========================================================================
user_created                  a user id appeared
user_deactivated              ``active`` went true -> false
user_reactivated              ``active`` went false -> true
user_deleted                  a user id disappeared (hard delete)
user_changed                  one attribute changed (``attribute``, ``old_value`` -> ``new_value``)
group_created / role_created  a group appeared (role when ``conn.is_role(displayName)``)
group_renamed / role_renamed  displayName changed (old -> new)
group_deleted / role_deleted  a group disappeared
member_added / member_removed a user joined / left a group or role (``related_id`` = the user)
============================  =========================================================================

Membership removals implied by a deleted group or a deleted user are not recorded separately (the delete event
says it). The first snapshot of a connection is a baseline and records no events (``console.directory.store``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from console.directory.frames import SnapshotFrames

TRACKED_USER_ATTRIBUTES = ["userName", "email", "givenName", "familyName", "displayName", "externalId"]
EVENT_COLUMNS = ["kind", "subject_type", "subject_id", "subject_name", "attribute", "old_value", "new_value",
                 "related_id", "related_name"]
EVENT_KINDS = ("user_created", "user_deactivated", "user_reactivated", "user_deleted", "user_changed",
               "group_created", "group_renamed", "group_deleted", "role_created", "role_renamed",
               "role_deleted", "member_added", "member_removed")



def _changed(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise "differs" of two aligned columns; missing == missing."""
    a = a.reset_index(drop=True)
    b = b.reset_index(drop=True)
    a_na, b_na = a.isna().to_numpy(), b.isna().to_numpy()
    differs = (a.fillna("") != b.fillna("")).to_numpy(dtype=bool, na_value=True)
    return (differs & ~a_na & ~b_na) | (a_na != b_na)


def _column_changed(old: pd.Series, old_pos: np.ndarray, new: pd.Series, new_pos: np.ndarray) -> np.ndarray:
    """``_changed(old.iloc[old_pos], new.iloc[new_pos])`` in Arrow: no Python strings, no filled copies, and no
    copy at all when the positions are simply 0..n-1 (the server listed the users in the same order)."""
    try:
        a, b = pa.array(old), pa.array(new)  # zero-copy for the snapshot's Arrow-backed string columns
    except (pa.ArrowException, TypeError):
        return _changed(old.iloc[old_pos], new.iloc[new_pos])
    if not _identity(old_pos, len(a)):
        a = a.take(pa.array(old_pos))
    if not _identity(new_pos, len(b)):
        b = b.take(pa.array(new_pos))
    differs = pc.fill_null(pc.not_equal(a, b), False)  # both present and different
    nulls = pc.not_equal(pc.is_null(a), pc.is_null(b))  # present on one side only
    return pc.or_(differs, nulls).to_numpy(zero_copy_only=False)


def _identity(positions: np.ndarray, length: int) -> bool:
    return len(positions) == length and (length == 0 or (positions[0] == 0 and positions[-1] == length - 1
                                                          and bool((np.diff(positions) == 1).all())))


def _in_sorted(values: np.ndarray, universe_sorted: np.ndarray) -> np.ndarray:
    """``np.isin`` for int64 keys by binary search (numpy's hash-based isin is slow for large key ranges)."""
    if len(universe_sorted) == 0:
        return np.zeros(len(values), dtype=bool)
    idx = np.searchsorted(universe_sorted, values)
    idx[idx >= len(universe_sorted)] = len(universe_sorted) - 1
    return universe_sorted[idx] == values


def _isin(values: pd.Series, universe: pd.Series) -> np.ndarray:
    """``values.isin(universe)`` through factorised codes (fast for Arrow strings)."""
    codes, uniques = pd.factorize(pd.concat([values, universe], ignore_index=True))
    present = np.zeros(len(uniques) + 1, dtype=bool)
    present[codes[len(values):]] = True
    return present[codes[:len(values)]]


def _align(old_ids: pd.Series, new_ids: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions of ids only in old, only in new, and the matching (old, new) positions of ids in both
    (ordered by the new position)."""
    try:  # Arrow's hash lookup: no concatenated copy of both id columns, no Python strings
        old_arr, new_arr = pa.array(old_ids), pa.array(new_ids)
        unique = (pc.count_distinct(old_arr, mode="all").as_py() == len(old_arr)
                  and pc.count_distinct(new_arr, mode="all").as_py() == len(new_arr))
    except (pa.ArrowException, TypeError):
        unique = False
    if unique:
        where = pc.index_in(new_arr, value_set=old_arr)  # each new id's position in old, null if new
        found = pc.is_valid(where).to_numpy(zero_copy_only=False)
        both_new = np.flatnonzero(found)
        only_new = np.flatnonzero(~found)
        both_old = pc.fill_null(where, -1).to_numpy(zero_copy_only=False).astype(np.int64)[both_new]
        in_new = np.zeros(len(old_arr), dtype=bool)
        in_new[both_old] = True
        return np.flatnonzero(~in_new), only_new, both_old, both_new
    codes, _uniques = pd.factorize(pd.concat([old_ids, new_ids], ignore_index=True))
    n_old = len(old_ids)
    oc, nc = codes[:n_old], codes[n_old:]
    size = int(codes.max()) + 1 if len(codes) else 0
    pos_old = np.full(size, -1, dtype=np.int64)
    pos_new = np.full(size, -1, dtype=np.int64)
    pos_old[oc] = np.arange(n_old)
    pos_new[nc] = np.arange(len(new_ids))
    only_old = np.flatnonzero(pos_new[oc] < 0)
    only_new = np.flatnonzero(pos_old[nc] < 0)
    both_new = np.flatnonzero(pos_old[nc] >= 0)
    both_old = pos_old[nc[both_new]]
    return only_old, only_new, both_old, both_new


def _events(kind: Any, subject_type: Any, subject_id: Any, subject_name: Any = None, attribute: Any = None,
            old_value: Any = None, new_value: Any = None, related_id: Any = None,
            related_name: Any = None) -> pd.DataFrame:
    data = {"kind": kind, "subject_type": subject_type, "subject_id": subject_id, "subject_name": subject_name,
            "attribute": attribute, "old_value": old_value, "new_value": new_value, "related_id": related_id,
            "related_name": related_name}
    n = len(subject_id)
    for key, value in data.items():
        if not isinstance(value, (pd.Series, list)):
            data[key] = [value] * n
        elif isinstance(value, pd.Series):
            data[key] = value.astype(object).where(value.notna(), None).to_numpy()
    return pd.DataFrame(data, columns=EVENT_COLUMNS)


def diff_frames(prev: SnapshotFrames, cur: SnapshotFrames) -> pd.DataFrame:
    """The events that turn ``prev`` into ``cur`` (columns ``EVENT_COLUMNS``). Vectorised (factorised ids,
    numpy set operations, column-wise comparisons); Python only touches the changed rows."""
    pu = prev.users.reset_index(drop=True)
    parts = user_events(pu, cur.users.reset_index(drop=True))
    parts += group_events(prev.groups, prev.memberships, pu[["id", "userName"]], cur)
    return event_frame(parts)


#: the users' columns the diff reads
DIFF_USER_COLUMNS = ["id", "userName", "active", *[c for c in TRACKED_USER_ATTRIBUTES if c != "userName"]]


def user_events(pu: pd.DataFrame, cu: pd.DataFrame) -> list[pd.DataFrame]:
    parts: list[pd.DataFrame] = []
    only_old, only_new, both_old, both_new = _align(pu["id"], cu["id"])
    if len(only_new):
        created = cu.iloc[only_new]
        parts.append(_events("user_created", "user", created["id"], created["userName"],
                             new_value=created["active"].map(lambda a: "active" if a else "inactive")))
    if len(only_old):
        deleted = pu.iloc[only_old]
        parts.append(_events("user_deleted", "user", deleted["id"], deleted["userName"]))
    if len(both_new):
        # column by column: never a copy of the whole matched frames (100,000 users each)
        old_active = pu["active"].to_numpy(dtype=bool)[both_old]
        new_active = cu["active"].to_numpy(dtype=bool)[both_new]
        for kind, mask, before, after in (("user_deactivated", old_active & ~new_active, "true", "false"),
                                          ("user_reactivated", ~old_active & new_active, "false", "true")):
            if mask.any():
                rows = cu.iloc[both_new[mask]]
                parts.append(_events(kind, "user", rows["id"], rows["userName"], attribute="active",
                                     old_value=before, new_value=after))
        for attr in TRACKED_USER_ATTRIBUTES:
            mask = _column_changed(pu[attr], both_old, cu[attr], both_new)
            if mask.any():
                rows = cu.iloc[both_new[mask]]
                parts.append(_events("user_changed", "user", rows["id"], rows["userName"], attribute=attr,
                                     old_value=pu[attr].iloc[both_old[mask]], new_value=rows[attr]))
    return parts


def group_events(prev_groups: pd.DataFrame, prev_memberships: pd.DataFrame, prev_user_names: pd.DataFrame,
                  cur: SnapshotFrames) -> list[pd.DataFrame]:
    """Group, role and membership events; ``prev_user_names`` (id, userName) names users who left."""
    parts: list[pd.DataFrame] = []
    pg, cg = prev_groups.reset_index(drop=True), cur.groups.reset_index(drop=True)
    cu = cur.users
    g_only_old, g_only_new, g_both_old, g_both_new = _align(pg["id"], cg["id"])
    if len(g_only_new):
        rows = cg.iloc[g_only_new]
        parts.append(_events(rows["kind"] + "_created", rows["kind"], rows["id"], rows["displayName"]))
    if len(g_only_old):
        rows = pg.iloc[g_only_old]
        parts.append(_events(rows["kind"] + "_deleted", rows["kind"], rows["id"], rows["displayName"]))
    if len(g_both_new):
        old, new = pg.iloc[g_both_old].reset_index(drop=True), cg.iloc[g_both_new].reset_index(drop=True)
        mask = _changed(old["displayName"], new["displayName"])
        if mask.any():
            rows = new[mask]
            parts.append(_events(rows["kind"] + "_renamed", rows["kind"], rows["id"], rows["displayName"],
                                 attribute="displayName", old_value=old.loc[mask, "displayName"],
                                 new_value=rows["displayName"]))

    pm, cm = prev_memberships.reset_index(drop=True), cur.memberships.reset_index(drop=True)
    g_codes, _ = pd.factorize(pd.concat([pm["group_id"], cm["group_id"]], ignore_index=True))
    u_codes, u_uniques = pd.factorize(pd.concat([pm["user_id"], cm["user_id"]], ignore_index=True))
    keys = g_codes.astype(np.int64) * (len(u_uniques) + 1) + u_codes.astype(np.int64)
    del g_codes, u_codes, u_uniques
    pk, ck = keys[:len(pm)], keys[len(pm):]
    added = cm[~_in_sorted(ck, np.sort(pk))]
    removed = pm[~_in_sorted(pk, np.sort(ck))]
    if len(removed):  # removals implied by a deleted group or user are said by that delete event
        removed = removed[_isin(removed["group_id"], cg["id"]) & _isin(removed["user_id"], cu["id"])]
    if len(added) or len(removed):
        g_names = pd.concat([pg[["id", "displayName", "kind"]], cg[["id", "displayName", "kind"]]]
                            ).drop_duplicates("id", keep="last").set_index("id")
        u_names = pd.concat([prev_user_names[["id", "userName"]], cu[["id", "userName"]]]).drop_duplicates(
            "id", keep="last").set_index("id")["userName"]
        for kind, rows in (("member_added", added), ("member_removed", removed)):
            if len(rows):
                gi = g_names.reindex(rows["group_id"].to_numpy())
                parts.append(_events(kind, pd.Series(gi["kind"].to_numpy()).fillna("group"), rows["group_id"],
                                     pd.Series(gi["displayName"].to_numpy()), related_id=rows["user_id"],
                                     related_name=pd.Series(u_names.reindex(rows["user_id"].to_numpy()).to_numpy())))
    return parts


def event_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    events = pd.concat(parts, ignore_index=True)
    return events.astype(object).where(events.notna(), None)

