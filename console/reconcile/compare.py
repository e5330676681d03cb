"""The comparison itself: 6clicks' directory (a snapshot) next to Entra's side, in five categories. Pure (no I/O):
Arrow compute and numpy on integer positions (100,000 people in about half a second).

1. **Not managed by SCIM**: 6clicks users without an ``externalId`` (just-in-time or manual accounts).
2. **Orphans**: managed by SCIM (an ``externalId``) and active in 6clicks, but the Entra object is gone, disabled
   or out of the app's scope (not assigned, or reached only through a nested group): access that should not exist.
3. **Missing**: assigned and enabled in Entra, absent from 6clicks.
4. **Attribute drift**: a mapped attribute that differs; 6clicks never applies updates to them (it updates only
   ``active``), so the fix is named: change it by hand in 6clicks, or delete and let Entra create it again.
5. **Membership drift**: for groups provisioned from Entra, members on one side only.

Nothing is matched silently: duplicate ``externalId``s or e-mails on the 6clicks side are reported under
**Conflicts**. Accounts sharing an ``externalId`` are never paired with the Entra user for drift, and each active
one is an orphan (gone, disabled, out of scope, or "one of several accounts with this externalId"): a second
account claiming someone's id hides neither itself nor a leaver.

The tables' words (reasons, notes, fixes) are English, as the run keeps them and ``--json`` prints them; each is
marked with ``N_`` so ``localize`` shows a table in the operator's language (column names too; attribute names
stay as they are).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from console.entra.catalogue import explain_error
from console.i18n import N_, _, language, pgettext

# the 6clicks users' columns the comparison reads (a reconciliation reads only these from a snapshot)
SNAPSHOT_USER_COLUMNS = ["id", "userName", "email", "givenName", "familyName", "active", "externalId"]
CATEGORIES = ("not_managed", "orphans", "missing", "attribute_drift", "membership_drift", "conflicts")
# each category's title (translate where shown: _(TITLES[category]))
TITLES = {"not_managed": N_("Not managed by SCIM"), "orphans": N_("Orphans"), "missing": N_("Missing"),
          "attribute_drift": N_("Attribute drift"), "membership_drift": N_("Membership drift"),
          "conflicts": N_("Conflicts")}
# (6clicks column, Entra column, words)
MAPPED = (("userName", "upn", N_("userName / userPrincipalName")), ("email", "mail", N_("e-mail / mail")),
          ("givenName", "givenName", N_("given name")), ("familyName", "surname", N_("family name")))
FIX_UPDATE = N_("6clicks does not apply updates to this attribute: change it by hand in 6clicks, or delete the user "
                "there and let Entra create it again at the next cycle")
FIX_REACTIVATE = N_("reactivate the user in the console (Users > Reactivate), or unassign them in Entra")
ACTIVE_IN_ENTRA = N_("True (assigned and enabled)")
REASON_GONE = N_("gone from Entra (no object with this id)")
REASON_DISABLED = N_("disabled in Entra")
REASON_UNASSIGNED = N_("not assigned to the app in Entra")
REASON_NESTED = N_("only in a group nested in an assigned group (Entra provisions direct members only)")
REASON_DUPLICATE = N_("one of several 6clicks accounts with this externalId: at most one of them is this Entra "
                      "user's (see Conflicts)")
NOTE_JIT = N_("a 6clicks account with this e-mail or name exists without externalId (created just in time?)")
NOTE_TAKEN = N_("this e-mail or name is held by another 6clicks account managed by SCIM (another Entra user's: see "
                "Attribute drift and Orphans): resolve that account first (rename it in 6clicks, or deactivate it if "
                "it is an orphan); do not delete it blindly")
KIND_DUPLICATE_ID = N_("duplicate externalId")
KIND_DUPLICATE_MAIL = N_("duplicate e-mail")
EFFECT_DUPLICATE_ID = N_("never paired with an Entra user for drift; each active one is an orphan (access to check)")
EFFECT_DUPLICATE_MAIL = N_("Entra matches by e-mail first: it finds several and fails (DuplicateTargetEntries)")
SIDE_6CLICKS = N_("only in 6clicks (not a member in Entra)")
SIDE_ENTRA = N_("only in Entra (not a member in 6clicks)")
# the words above, which ``localize`` translates wherever they stand in these columns
WORDS = frozenset({*(m[2] for m in MAPPED), FIX_UPDATE, FIX_REACTIVATE, ACTIVE_IN_ENTRA, REASON_GONE,
                   REASON_DISABLED, REASON_UNASSIGNED, REASON_NESTED, REASON_DUPLICATE, NOTE_JIT, NOTE_TAKEN, KIND_DUPLICATE_ID, KIND_DUPLICATE_MAIL,
                   EFFECT_DUPLICATE_ID, EFFECT_DUPLICATE_MAIL, SIDE_6CLICKS, SIDE_ENTRA})
WORD_COLUMNS = ("reason", "note", "attribute", "in_entra", "fix", "kind", "effect", "side")


def column_label(name: str) -> str:
    """A table's column name in the current language; attribute names (userName, externalId, ...) stay."""
    labels = {"category": pgettext("reconcile column", "category"), "kind": pgettext("reconcile column", "kind"),
              "value": pgettext("reconcile column", "value"), "users": pgettext("reconcile column", "users"),
              "userNames": pgettext("reconcile column", "user names"),
              "effect": pgettext("reconcile column", "effect"), "reason": pgettext("reconcile column", "reason"),
              "guest": pgettext("reconcile column", "guest"), "note": pgettext("reconcile column", "note"),
              "at": pgettext("reconcile column", "last failure"),
              "error_code": pgettext("reconcile column", "error code"),
              "explanation": pgettext("reconcile column", "explanation"), "fix": pgettext("reconcile column", "fix"),
              "attribute": pgettext("reconcile column", "attribute"),
              "in_6clicks": pgettext("reconcile column", "in 6clicks"),
              "in_entra": pgettext("reconcile column", "in Entra"), "group": pgettext("reconcile column", "group"),
              "side": pgettext("reconcile column", "side"), "run": pgettext("reconcile column", "run"),
              "run_at": pgettext("reconcile column", "run at"),
              "connection": pgettext("reconcile column", "connection"), "mode": pgettext("reconcile column", "mode")}
    return labels.get(name, name)


def mode_label(mode: str) -> str:
    """How a run read Entra (``Run.mode``: full, delta, snapshot-only) in the current language."""
    return {"full": pgettext("reconcile mode", "full"), "delta": pgettext("reconcile mode", "delta"),
            "snapshot-only": pgettext("reconcile mode", "snapshot-only")}.get(mode, mode)


def localize(frame: pd.DataFrame, category: str | None = None) -> pd.DataFrame:
    """``frame`` (one category's table, or a run's rows with a ``category`` column when ``category`` is None) for
    people to read: the column names as words (``in_entra`` -> "in Entra"; attribute names stay), and in another
    language than English the comparison's words, each missing person's error explained by the catalogue in that
    language and the category titles."""
    if language() == "en":
        out = frame.copy()
        if "category" in out.columns:
            out["category"] = out["category"].map(lambda c: TITLES.get(c, c))
        return out.rename(columns=column_label)
    out = frame.copy()
    words = {w: _(w) for w in WORDS}
    for column in WORD_COLUMNS:
        if column in out.columns:
            out[column] = out[column].map(lambda v: words.get(v, v) if isinstance(v, str) else v)
    if {"error_code", "explanation", "fix"} <= set(out.columns) and category in (None, "missing"):
        codes = out["error_code"]
        mask = codes.notna() & (codes.astype(str).str.strip() != "")
        if category is None and "category" in out.columns:
            mask &= out["category"] == "missing"
        for index in out.index[mask]:
            out.at[index, "explanation"], out.at[index, "fix"] = explain_error(str(codes[index]))
    if "mode" in out.columns:
        out["mode"] = out["mode"].map(lambda m: mode_label(m) if isinstance(m, str) else m)
    if "category" in out.columns:
        titles = {**{t: _(t) for t in TITLES.values()}, **{k: _(t) for k, t in TITLES.items()}}
        out["category"] = out["category"].map(lambda c: titles.get(c, c))
    return out.rename(columns=column_label)


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


def arrow_text(series: pd.Series) -> pa.Array:
    """A text column as one Arrow string array (missing: null), whatever its pandas dtype; without a copy when
    the column is already Arrow-backed."""
    if hasattr(series.array, "__arrow_array__"):
        arr = pa.array(series.array)
    else:
        arr = pa.array(series.astype(object).where(series.notna(), None), from_pandas=True)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr if arr.type == pa.string() else arr.cast(pa.string())


def _norm(arr: pa.Array) -> pa.Array:
    """The matching form of a text column: stripped, lower case; missing or blank: null."""
    out = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def _key(series: pd.Series) -> pd.Series:
    """The matching form of a text column as a pandas column (missing or blank: None)."""
    return pd.Series(_norm(arrow_text(series)).to_numpy(zero_copy_only=False), index=series.index, dtype=object)


def _bools(arr: pa.Array | pa.ChunkedArray, missing: bool = False) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, missing).to_numpy(zero_copy_only=False), dtype=bool)


def _flag(series: pd.Series, missing: bool) -> np.ndarray:
    return series.fillna(missing).astype(bool).to_numpy()


def _sorted(frame: pd.DataFrame, *by: str) -> pd.DataFrame:
    """Rows in the order people read them (by the matching form of ``by``), text cells as plain objects."""
    out = frame.sort_values(list(by), key=lambda s: _key(s).fillna("")).reset_index(drop=True)
    return out.astype({c: object for c in out.columns if isinstance(out[c].dtype, pd.StringDtype | pd.ArrowDtype)})


def not_managed(users: pd.DataFrame) -> pd.DataFrame:
    blank = _bools(pc.is_null(_norm(arrow_text(users["externalId"]))))
    return _sorted(users.loc[blank, [c for c in SNAPSHOT_USER_COLUMNS if c != "externalId"]], "userName")


def conflicts(users: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """Duplicate externalIds (left out of matching) and duplicate e-mails on the 6clicks side."""
    rows: list[dict[str, object]] = []

    def duplicates(column: str, kind: str, effect: str) -> set[str]:
        values = _norm(arrow_text(users[column]))
        counts = pc.value_counts(values.drop_null())
        dup_values = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        if not len(dup_values):
            return set()
        rows_at = np.flatnonzero(_bools(pc.is_in(values, value_set=dup_values)))
        dup = pd.Series(values.take(pa.array(rows_at)).to_pylist(), index=users.index[rows_at])
        for value, idx in dup.groupby(dup).groups.items():
            rows.append({"kind": kind, "value": str(value), "users": len(idx), "effect": effect,
                         "userNames": ", ".join(users.loc[idx, "userName"].astype(str).head(5))})
        return set(dup_values.to_pylist())

    dup_ext = duplicates("externalId", KIND_DUPLICATE_ID, EFFECT_DUPLICATE_ID)
    duplicates("email", KIND_DUPLICATE_MAIL, EFFECT_DUPLICATE_MAIL)
    table = pd.DataFrame(rows, columns=["kind", "value", "users", "userNames", "effect"])
    return table, dup_ext


def compare(users: pd.DataFrame, groups: pd.DataFrame, memberships: pd.DataFrame,
            entra_users: pd.DataFrame | None, entra_groups: pd.DataFrame | None = None, entra_members: pd.DataFrame | None = None,
            failures: pd.DataFrame | None = None) -> Result:
    """``users``/``groups``/``memberships``: a snapshot's frames. ``entra_*`` as ``EntraSide`` holds them (the
    users with their ``in_scope`` and ``nested_only`` columns; None: no Graph settings, so only the snapshot-only categories).
    ``failures``: source_id, at, error_code,
    explanation, fix (the latest failed provisioning record per Entra object).

    The two sides are matched on integer positions: each SCIM-managed 6clicks user's ``externalId`` is looked up
    among Entra's object ids (case-insensitive) once, in Arrow's hash tables, and every category is then read
    through those positions. Joining the two 100,000-row frames by their string keys cost ten times the time and
    memory."""
    tables: dict[str, pd.DataFrame] = {"not_managed": not_managed(users)}
    tables["conflicts"], dup_ext = conflicts(users)
    if entra_users is None:
        return Result(tables, with_entra=False)
    ekey = _norm(arrow_text(entra_users["id"]))
    e_scope = entra_users["in_scope"].fillna(False).astype(bool).to_numpy()
    e_enabled = _flag(entra_users["enabled"], True)
    e_nested = _flag(entra_users["nested_only"], False)

    ukey = _norm(arrow_text(users["externalId"]))
    # every account with an externalId is checked for access, duplicates included: a second account claiming
    # someone's id must not hide a leaver (or itself); only the matching for drift leaves the duplicates out
    keyed_rows = np.flatnonzero(_bools(pc.is_valid(ukey)))
    kkey = ukey.take(pa.array(keyed_rows))
    duplicated = _bools(pc.is_in(kkey, value_set=pa.array(sorted(dup_ext), pa.string())))
    pos = pc.index_in(kkey, value_set=ekey)       # the Entra row of each such user (null: no such object)
    k_found = _bools(pc.is_valid(pos))
    k_at = np.asarray(pc.fill_null(pos, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    k_enabled = np.where(k_found, e_enabled[k_at], True) if len(e_enabled) else np.ones(len(k_at), bool)
    k_scoped = np.where(k_found, e_scope[k_at], False) if len(e_scope) else np.zeros(len(k_at), bool)
    active = _flag(users["active"], False)
    reason = np.full(len(k_at), "", dtype=object)
    reason[~k_found] = REASON_GONE
    reason[k_found & ~k_enabled] = REASON_DISABLED
    reason[k_found & k_enabled & ~k_scoped] = REASON_UNASSIGNED
    nested = np.where(k_found, e_nested[k_at], False) if len(e_nested) else np.zeros(len(k_at), bool)
    reason[k_found & k_enabled & ~k_scoped & nested] = REASON_NESTED
    reason[duplicated & (reason == "")] = REASON_DUPLICATE
    orphan = active[keyed_rows] & (reason != "")
    tables["orphans"] = _sorted(users[["id", "userName", "email", "externalId"]].iloc[keyed_rows[orphan]].assign(
        reason=reason[orphan]), "userName")
    orphans_rows = keyed_rows[orphan]
    # the accounts matched one to one with an Entra user (no duplicate), for drift
    managed_rows, mkey = keyed_rows[~duplicated], kkey.filter(pa.array(~duplicated))
    found, at, enabled, scoped = k_found[~duplicated], k_at[~duplicated], k_enabled[~duplicated], k_scoped[~duplicated]

    # missing: assigned and enabled in Entra, no 6clicks user with that externalId
    want = e_scope & e_enabled & ~_bools(pc.is_in(ekey, value_set=pc.unique(ukey.drop_null())))
    missing = entra_users.loc[want, ["id", "upn", "mail", "givenName", "surname", "guest"]].rename(
        columns={"id": "entraId"})
    missing = missing.astype({c: object for c in ("entraId", "upn", "mail", "givenName", "surname")})
    unmanaged = tables["not_managed"]
    by_mail = set(_key(unmanaged["email"]).dropna()) | set(_key(unmanaged["userName"]).dropna())
    # a name or e-mail still held by someone else's managed account (renamed in Entra, not in 6clicks): Entra's
    # create fails on it, and deleting that account would remove the wrong person
    held = users.iloc[keyed_rows]
    taken = set(_key(held["email"]).dropna()) | set(_key(held["userName"]).dropna())

    def note(mail: object, upn: object) -> str:
        keys = {str(v).strip().lower() for v in (mail, upn) if isinstance(v, str)}
        return NOTE_TAKEN if keys & taken else NOTE_JIT if keys & by_mail else ""

    missing = missing.assign(note=[note(m, u) for m, u in zip(missing["mail"], missing["upn"], strict=True)])
    if failures is not None and len(failures):
        missing = missing.merge(failures.rename(columns={"source_id": "entraId"}), on="entraId", how="left")
    else:
        missing = missing.assign(at=None, error_code=None, explanation=None, fix=None)
    tables["missing"] = _sorted(missing, "upn")

    # attribute drift: matched, in scope, enabled
    live = found & enabled & scoped
    ours_at, theirs_at = managed_rows[live], at[live]
    base = users[["id", "userName", "externalId"]].iloc[ours_at].reset_index(drop=True)
    drift = []
    for ours, theirs, words in MAPPED:
        a = arrow_text(users[ours]).take(pa.array(ours_at))
        b = arrow_text(entra_users[theirs]).take(pa.array(theirs_at))
        differs = _bools(pc.not_equal(pc.fill_null(_norm(a), ""), pc.fill_null(_norm(b), "")))
        if ours == "email":
            differs &= _bools(pc.is_valid(_norm(b)))  # Entra without mail sends no e-mail: nothing to compare
        mask = pa.array(differs)
        drift.append(base[differs].assign(attribute=words,
                                          in_6clicks=pc.fill_null(a.filter(mask), "").to_numpy(zero_copy_only=False),
                                          in_entra=pc.fill_null(b.filter(mask), "").to_numpy(zero_copy_only=False),
                                          fix=FIX_UPDATE))
    inactive = ~active[ours_at]
    drift.append(base[inactive].assign(attribute="active", in_6clicks="False", in_entra=ACTIVE_IN_ENTRA,
                                       fix=FIX_REACTIVATE))
    tables["attribute_drift"] = _sorted(pd.concat(drift, ignore_index=True), "userName", "attribute")

    tables["membership_drift"] = _membership_drift(users, groups, memberships, mkey, managed_rows, entra_groups,
                                                   entra_members, active, orphans_rows)
    return Result(tables)


def _membership_drift(users: pd.DataFrame, groups: pd.DataFrame, memberships: pd.DataFrame,
                      mkey: pa.Array, managed_rows: np.ndarray, entra_groups: pd.DataFrame | None,
                      entra_members: pd.DataFrame | None, active: np.ndarray, orphan_rows: np.ndarray) -> pd.DataFrame:
    """Members on one side only, for the 6clicks groups whose externalId is an assigned Entra group. Inactive
    6clicks users (no access) and orphans (reported as such) are left out. Both sides become pairs of integers
    (the provisioned group's position, the 6clicks user's row) before they are compared."""
    columns = ["group_id", "group", "user_id", "userName", "side"]
    if entra_groups is None or entra_members is None or not len(entra_groups):
        return pd.DataFrame(columns=columns)
    gkey = _norm(arrow_text(groups["externalId"]))
    provisioned = np.flatnonzero(_bools(pc.is_in(gkey, value_set=_norm(arrow_text(entra_groups["id"])))))
    if not len(provisioned):
        return pd.DataFrame(columns=columns)
    width = len(users) + 1
    allowed = active.copy()
    allowed[orphan_rows] = False   # inactive 6clicks users have no access through their groups
    # Entra's side: (assigned group -> provisioned 6clicks group, member's object id -> managed 6clicks user)
    g = pc.index_in(_norm(arrow_text(entra_members["group_id"])), value_set=gkey.take(pa.array(provisioned)))
    u = pc.index_in(_norm(arrow_text(entra_members["user_id"])), value_set=mkey)
    ok = _bools(pc.and_(pc.is_valid(g), pc.is_valid(u)))
    theirs_g = np.asarray(pc.fill_null(g, 0).to_numpy(zero_copy_only=False), dtype=np.int64)[ok]
    theirs_u = managed_rows[np.asarray(pc.fill_null(u, 0).to_numpy(zero_copy_only=False), dtype=np.int64)[ok]]
    keep = allowed[theirs_u]
    theirs = np.unique(theirs_g[keep] * width + theirs_u[keep])
    # 6clicks' side: memberships of the provisioned groups, by position
    g = pc.index_in(arrow_text(memberships["group_id"]), value_set=arrow_text(groups["id"]).take(pa.array(provisioned)))
    u = pc.index_in(arrow_text(memberships["user_id"]), value_set=arrow_text(users["id"]))
    ok = _bools(pc.and_(pc.is_valid(g), pc.is_valid(u)))
    ours_g = np.asarray(pc.fill_null(g, 0).to_numpy(zero_copy_only=False), dtype=np.int64)[ok]
    ours_u = np.asarray(pc.fill_null(u, 0).to_numpy(zero_copy_only=False), dtype=np.int64)[ok]
    keep = allowed[ours_u]
    ours = np.unique(ours_g[keep] * width + ours_u[keep])
    only_ours, only_theirs = np.setdiff1d(ours, theirs, assume_unique=True), np.setdiff1d(theirs, ours,
                                                                                          assume_unique=True)
    codes = np.concatenate([only_ours, only_theirs])
    group_rows, user_rows = provisioned[codes // width], codes % width
    out = pd.DataFrame({
        "group_id": groups["id"].to_numpy(dtype=object)[group_rows],
        "group": groups["displayName"].to_numpy(dtype=object)[group_rows],
        "user_id": users["id"].to_numpy(dtype=object)[user_rows],
        "userName": users["userName"].to_numpy(dtype=object)[user_rows],
        "side": [SIDE_6CLICKS] * len(only_ours) + [SIDE_ENTRA] * len(only_theirs)}, columns=columns)
    return _sorted(out, "group", "userName")
