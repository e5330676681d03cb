"""``python -m sandbox export-logs``: the provisioning logs as the Entra admin center's download writes them.

JSON: one minified array of ``provisioningObjectSummary`` objects (oldest first). CSV: three UTF-8 files joined
on the change id - the logs, their steps, their modified properties (Microsoft does not publish the download's
columns; ours are documented in docs/entra-simulator.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .db import EntraDB
from .logs import iter_all

LOG_COLUMNS = [
    "Date (UTC)", "Id", "Change ID", "Cycle ID", "Job ID", "Action", "Status", "Error Code", "Reason",
    "Error Category", "Recommended Action", "Duration (ms)", "Identity Type", "Source ID", "Source Name",
    "Target ID", "Target Name", "Source System", "Target System", "Service Principal ID",
    "Service Principal Name", "Initiated By", "Initiator Type", "Tenant ID",
]
STEP_COLUMNS = ["Change ID", "Step", "Name", "Type", "Status", "Description", "Details"]
PROPERTY_COLUMNS = ["Change ID", "Property", "Old Value", "New Value"]


def add_subcommand(sub: Any, data_dir_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("export-logs", help="write the simulated Entra provisioning logs as JSON or CSV")
    data_dir_arg(p)
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out", type=Path, required=True,
                   help="JSON: the file; CSV: the logs file (NAME-steps.csv and NAME-modifiedProperties.csv are "
                        "written beside it); an existing directory gets provisioning-logs*.{json,csv}")
    p.set_defaults(handler=run)


def csv_paths(out: Path) -> tuple[Path, Path, Path]:
    if out.is_dir():
        out = out / "provisioning-logs.csv"
    stem = out.with_suffix("") if out.suffix.lower() == ".csv" else out
    return (stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + "-steps.csv"),
            stem.with_name(stem.name + "-modifiedProperties.csv"))


def log_row(r: dict[str, Any]) -> list[Any]:
    info = r.get("provisioningStatusInfo") or {}
    err = info.get("errorInformation") or {}
    src = r.get("sourceIdentity") or {}
    tgt = r.get("targetIdentity") or {}
    by = r.get("initiatedBy") or {}
    sp = r.get("servicePrincipal") or {}
    return [r.get("activityDateTime"), r.get("id"), r.get("changeId"), r.get("cycleId"), r.get("jobId"),
            r.get("provisioningAction"), info.get("status"), err.get("errorCode"), err.get("reason"),
            err.get("errorCategory"), err.get("recommendedAction"), r.get("durationInMilliseconds"),
            src.get("identityType"), src.get("id"), src.get("displayName"), tgt.get("id"), tgt.get("displayName"),
            (r.get("sourceSystem") or {}).get("displayName"), (r.get("targetSystem") or {}).get("displayName"),
            sp.get("id"), sp.get("displayName"), by.get("displayName"), by.get("initiatorType"), r.get("tenantId")]


def export(data_dir: Path, fmt: str, out: Path) -> tuple[int, list[Path]]:
    path = Path(data_dir) / "entra.db"
    if not path.exists():
        raise FileNotFoundError(f"No simulator data in {data_dir} (no entra.db): start "
                                f"python -m sandbox serve --data-dir {data_dir} first.")
    db = EntraDB(path)
    count = 0
    try:
        if fmt == "json":
            target = out / "provisioning-logs.json" if out.is_dir() else out
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            with tmp.open("w", encoding="utf-8") as f:
                f.write("[")
                for r in iter_all(db):
                    if count:
                        f.write(",")
                    f.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False))
                    count += 1
                f.write("]")
            tmp.replace(target)
            return count, [target]
        paths = csv_paths(out)
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        tmps = [p.with_name(p.name + ".part") for p in paths]
        with tmps[0].open("w", newline="", encoding="utf-8-sig") as fl, \
                tmps[1].open("w", newline="", encoding="utf-8-sig") as fs, \
                tmps[2].open("w", newline="", encoding="utf-8-sig") as fp:
            wl, ws, wp = csv.writer(fl), csv.writer(fs), csv.writer(fp)
            wl.writerow(LOG_COLUMNS)
            ws.writerow(STEP_COLUMNS)
            wp.writerow(PROPERTY_COLUMNS)
            for r in iter_all(db):
                count += 1
                wl.writerow(log_row(r))
                for i, s in enumerate(r.get("provisioningSteps") or [], start=1):
                    ws.writerow([r.get("changeId"), i, s.get("name"), s.get("provisioningStepType"), s.get("status"),
                                 s.get("description"), json.dumps(s.get("details") or {}, separators=(",", ":"))])
                for m in r.get("modifiedProperties") or []:
                    wp.writerow([r.get("changeId"), m.get("displayName"), m.get("oldValue"), m.get("newValue")])
        for tmp, final in zip(tmps, paths, strict=True):
            tmp.replace(final)
        return count, list(paths)
    finally:
        db.close()


def run(args: argparse.Namespace, data_dir: Path) -> int:
    try:
        count, paths = export(data_dir, args.format, args.out)
    except (FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {count} provisioning log records to {', '.join(str(p) for p in paths)}")
    return 0
