"""The comparison itself: 6clicks' directory (a snapshot) next to Entra's side, in five categories. Pure pandas,
vectorised (100,000 people in well under a second), no I/O.

1. **Not managed by SCIM**: 6clicks users without an ``externalId`` (just-in-time or manual accounts).
2. **Orphans**: managed by SCIM (an ``externalId``) and active in 6clicks, but the Entra object is gone, disabled
   or not assigned to the app: access that should not exist.
3. **Missing**: assigned and enabled in Entra, absent from 6clicks.
4. **Attribute drift**: a mapped attribute that differs; 6clicks never applies updates to them (it updates only
   ``active``), so the fix is named: change it by hand in 6clicks, or delete and let Entra create it again.
5. **Membership drift**: for groups provisioned from Entra, members on one side only.

Nothing is matched silently: duplicate ``externalId``s or e-mails on the 6clicks side are reported under
**Conflicts** and the duplicated ``externalId``s are left out of the matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

CATEGORIES = ("not_managed", "orphans", "missing", "attribute_drift", "membership_drift", "conflicts")
TITLES = {"not_managed": "Not managed by SCIM", "orphans": "Orphans", "missing": "Missing",
          "attribute_drift": "Attribute drift", "membership_drift": "Membership drift", "conflicts": "Conflicts"}
# (6clicks column, Entra column, words)
MAPPED = (("userName", "upn", "userName / userPrincipalName"), ("email", "mail", "e-mail / mail"),
          ("givenName", "givenName", "given name"), ("familyName", "surname", "family name"))
FIX_UPDATE = ("6clicks does not apply updates to this attribute: change it by hand in 6clicks, or delete the user "
              "there and let Entra create it again at the next cycle")


@dataclass
class Result:
    """One table per category (plain text cells) and what was noticed on the way."""

    tables: dict[str, pd.DataFrame]
    warnings: list[str] = field(default_factory=list)
    with_entra: bool = True

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.tables.items()}

    @property
    def exit_code(self) -> int:
        """0 clean, 1 drift only, 2 access that should not exist (orphans)."""
        counts = self.counts()
        if counts.get("orphans"):
            return 2
        return 1 if any(counts.get(k) for k in CATEGORIES if k != "orphans") else 0


def _isin(series: pd.Series, values: pd.Series | pd.Index | set[str]) -> pd.Series:
    """``series.isin(values)`` through a hash table: pandas' isin on Arrow strings builds one Arrow scalar per
    value in Python (7 s for eight lookups at 100,000 people)."""
    wanted = values.astype(object) if isinstance(values, pd.Series | pd.Index) else list(values)
    return series.astype(object).isin(wanted)


def _key(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip().str.lower()


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.strip() == "")


def _user_cols(users: pd.DataFrame) -> pd.DataFrame:
    return users[["id", "userName", "email", "givenName", "familyName", "active", "externalId"]]


def not_managed(users: pd.DataFrame) -> pd.DataFrame:
    out = _user_cols(users)[_blank(users["externalId"])].drop(columns=["externalId"])
    return out.sort_values("userName", key=_key).reset_index(drop=True)


def conflicts(users: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """Duplicate externalIds (left out of matching) and duplicate e-mails on the 6clicks side."""
    rows: list[dict[str, object]] = []

    def duplicates(column: str, kind: str, effect: str) -> pd.Series:
        values = _key(users[column])
        dup = values[~_blank(users[column]) & values.duplicated(keep=False)]
        for value, idx in dup.groupby(dup).groups.items():
            rows.append({"kind": kind, "value": str(value), "users": len(idx), "effect": effect,
                         "userNames": ", ".join(users.loc[idx, "userName"].astype(str).head(5))})
        return dup

    dup_ext = duplicates("externalId", "duplicate externalId",
                         "not matched: each is reported on its own, never paired with an Entra user")
    duplicates("email", "duplicate e-mail",
               "Entra matches by e-mail first: it finds several and fails (DuplicateTargetEntries)")
    table = pd.DataFrame(rows, columns=["kind", "value", "users", "userNames", "effect"])
    return table, set(dup_ext.unique())


def compare(users: pd.DataFrame, groups: pd.DataFrame, memberships: pd.DataFrame,
            entra_users: pd.DataFrame | None, in_scope: set[str] | None = None,
            entra_groups: pd.DataFrame | None = None, entra_members: pd.DataFrame | None = None,
            failures: pd.DataFrame | None = None) -> Result:
    """``users``/``groups``/``memberships``: a snapshot's frames. ``entra_*`` as ``EntraSide`` holds them (None:
    no Graph settings, so only the snapshot-only categories). ``failures``: source_id, at, error_code,
    explanation, fix (the latest failed provisioning record per Entra object)."""
    tables: dict[str, pd.DataFrame] = {"not_managed": not_managed(users)}
    tables["conflicts"], dup_ext = conflicts(users)
    if entra_users is None:
        return Result(tables, with_entra=False)
    scope = pd.Index(sorted(in_scope or set()))
    entra = entra_users.assign(key=entra_users["id"].astype("string").str.lower(),
                               in_scope=_isin(entra_users["id"], scope))
    managed = _user_cols(users)[~_blank(users["externalId"])].copy()
    managed["key"] = _key(managed["externalId"])
    managed = managed[~_isin(managed["key"], dup_ext)]
    joined = managed.merge(entra, on="key", how="left", suffixes=("", "_entra"), indicator=True)
    found = joined["_merge"] == "both"
    active = joined["active"].fillna(False).astype(bool)
    enabled = joined["enabled"].fillna(True).astype(bool)
    reason = pd.Series("", index=joined.index, dtype=object)
    reason[~found] = "gone from Entra (no object with this id)"
    reason[found & ~enabled] = "disabled in Entra"
    reason[found & enabled & ~joined["in_scope"].fillna(False).astype(bool)] = "not assigned to the app in Entra"
    orphan = active & (reason != "")
    tables["orphans"] = joined.loc[orphan, ["id", "userName", "email", "externalId"]].assign(
        reason=reason[orphan]).sort_values("userName", key=_key).reset_index(drop=True)

    # missing: assigned and enabled in Entra, no 6clicks user with that externalId
    known = set(managed["key"]) | dup_ext
    want = entra[entra["in_scope"] & entra["enabled"].fillna(True).astype(bool) & ~_isin(entra["key"], known)]
    missing = want[["id", "upn", "mail", "givenName", "surname", "guest"]].rename(columns={"id": "entraId"})
    unmanaged = tables["not_managed"]
    by_mail = set(_key(unmanaged["email"]).dropna()) | set(_key(unmanaged["userName"]).dropna())
    missing = missing.assign(note=[
        "a 6clicks account with this e-mail or name exists without externalId (created just in time?)"
        if (str(m).lower() in by_mail or str(u).lower() in by_mail) else ""
        for m, u in zip(missing["mail"], missing["upn"], strict=True)])
    if failures is not None and len(failures):
        missing = missing.merge(failures.rename(columns={"source_id": "entraId"}), on="entraId", how="left")
    else:
        missing = missing.assign(at=None, error_code=None, explanation=None, fix=None)
    tables["missing"] = missing.sort_values("upn", key=_key).reset_index(drop=True)

    # attribute drift: matched, in scope, enabled
    live = joined[found & enabled & joined["in_scope"].fillna(False).astype(bool)]
    drift = []
    for ours, theirs, words in MAPPED:
        a, b = live[ours].astype("string"), live[theirs].astype("string")
        differs = (_key(a).fillna("") != _key(b).fillna("")) & ~(_blank(a) & _blank(b))
        if ours == "email":
            differs &= ~_blank(b)  # Entra without mail sends no e-mail: nothing to compare
        part = live.loc[differs, ["id", "userName", "externalId"]].assign(
            attribute=words, in_6clicks=a[differs].fillna(""), in_entra=b[differs].fillna(""), fix=FIX_UPDATE)
        drift.append(part)
    inactive = live[~live["active"].fillna(False).astype(bool)]
    drift.append(inactive[["id", "userName", "externalId"]].assign(
        attribute="active", in_6clicks="False", in_entra="True (assigned and enabled)",
        fix="reactivate the user in the console (Users > Reactivate), or unassign them in Entra"))
    tables["attribute_drift"] = (pd.concat(drift, ignore_index=True) if drift else pd.DataFrame()).sort_values(
        ["userName", "attribute"], key=_key).reset_index(drop=True)

    tables["membership_drift"] = _membership_drift(users, groups, memberships, managed, entra_groups, entra_members,
                                                   set(tables["orphans"]["id"]))
    return Result(tables)


def _membership_drift(users: pd.DataFrame, groups: pd.DataFrame, memberships: pd.DataFrame,
                      managed: pd.DataFrame, entra_groups: pd.DataFrame | None,
                      entra_members: pd.DataFrame | None, orphans: set[str]) -> pd.DataFrame:
    """Members on one side only, for the 6clicks groups whose externalId is an assigned Entra group. Inactive
    6clicks users (no access) and orphans (reported as such) are left out."""
    columns = ["group_id", "group", "user_id", "userName", "side"]
    if entra_groups is None or entra_members is None or not len(entra_groups):
        return pd.DataFrame(columns=columns)
    provisioned = groups[~_blank(groups["externalId"])].assign(key=_key(groups["externalId"]))
    provisioned = provisioned.merge(entra_groups.assign(key=entra_groups["id"].astype("string").str.lower())
                                    [["key", "id"]].rename(columns={"id": "entra_group"}), on="key")
    if not len(provisioned):
        return pd.DataFrame(columns=columns)
    user_by_ext = managed[["key", "id"]].rename(columns={"id": "user_id"})
    theirs = entra_members.assign(key=entra_members["user_id"].astype("string").str.lower()).drop(
        columns=["user_id"]).merge(user_by_ext, on="key").rename(columns={"group_id": "entra_group"})
    theirs = theirs.merge(provisioned[["entra_group", "id"]].rename(columns={"id": "group_id"}), on="entra_group")
    # inactive 6clicks users have no access through their groups (Entra leaves a disabled user's memberships)
    active = users.loc[users["active"].fillna(False).astype(bool) & ~_isin(users["id"], orphans), "id"]
    ours = memberships[_isin(memberships["group_id"], provisioned["id"]) & _isin(memberships["user_id"], active)]
    theirs = theirs[_isin(theirs["user_id"], active) | ~_isin(theirs["user_id"], users["id"])]
    both = ours.merge(theirs[["group_id", "user_id"]], on=["group_id", "user_id"], how="outer", indicator=True)
    only = both[both["_merge"] != "both"].copy()
    only["side"] = only["_merge"].map({"left_only": "only in 6clicks (not a member in Entra)",
                                       "right_only": "only in Entra (not a member in 6clicks)"}).astype(object)
    names = groups.set_index("id")["displayName"]
    people = users.set_index("id")["userName"]
    only["group"] = only["group_id"].map(names)
    only["userName"] = only["user_id"].map(people)
    return only[columns].sort_values(["group", "userName"], key=_key).reset_index(drop=True)
