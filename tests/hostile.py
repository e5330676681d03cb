"""A hostile directory, and people as the guide's Entra mapping makes them, for the page and browser tests.

``build_sandbox_data(data_dir, pixel_url)`` writes a sandbox data directory before the sandbox starts: a small
organisation seeded with the guide-shaped (``entra``) profile, then, stored as a server might hold them:

- one person per hostile text (``hostile_values``), the text in displayName, given and family name, externalId
  and e-mail; one person whose *userName* is hostile and who has nothing else;
- a group and a role named with each hostile text (and a hostile externalId), the hostile people as members;
- ``GUIDE_PERSON``: exactly the attributes the guide maps (no displayName); ``NULLS_PERSON``: ``"name": null``,
  ``"emails": []``, ``"active": "False"``; ``NUMBERS_PERSON``: numbers where strings belong.

``populate_console(ctx, conn, values)`` then stores what else reaches the pages: Entra provisioning log records
(imported as an admin-center download) whose names, actions, statuses, error codes, reasons, steps and cycle ids
are hostile, with a failure spike in a hostile cycle; a provisioning job status in quarantine for a hostile
reason; and a real operation (through the sandbox) on a hostile group, by a hostile operator, for a hostile
reason, so that the Activity page has one.

``PixelServer`` is an HTTP server on 127.0.0.1 that answers a 1x1 PNG and records every request: hostile texts
point their images at it, so a browser that fetched one is caught.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PNG_1X1 = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


class PixelServer:
    """``with PixelServer() as pixel:`` ``pixel.url`` (http://127.0.0.1:PORT), ``pixel.requests`` (paths)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG_1X1)))
                self.end_headers()
                self.wfile.write(PNG_1X1)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="pixel-server", daemon=True)

    def __enter__(self) -> PixelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def hostile_values(pixel_url: str) -> dict[str, str]:
    """The hostile texts, by name. Each would render as something other than itself if taken as Markdown."""
    return {
        "image": f"![x]({pixel_url}/image.png)",
        "link": "[Re-authenticate](https://evil.example/login)",
        "heading": "x\n\n# Heading",
        "colour": ":red[alert] :blue-background[bg]",
        "icon": ":material/warning: :material_key:",
        "bold": "**bold** _em_ ~~gone~~",
        "math": "$x^2$ and $$y$$",
        "html": f"<img src={pixel_url}/html.png> <b>b</b>",
        "script": "javascript:alert(1)",
        "autolink": "www.evil.example https://evil.example/x user@evil.example",
        "shortcode": ":smile: :+1: :streamlit:",
        "code": "`code` and ```fence```",
        "table": "| a | b |\n|---|---|\n| 1 | 2 |",
        "list": "- item\n> quote\n1. one",
        "rtl": "evil\u202egnp.exe",
        "control": "nul\x00bell\x07esc\x1b[31mred",
        "long": "L" * 5000,
    }


#: exactly the attributes of the 6clicks guide's Entra mapping (no displayName, title, phone, department)
GUIDE_PERSON: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "guide-person-0001",
    "externalId": "5f0e1a2b-0000-4000-8000-00000000guid", "userName": "ada.guide@contoso.example",
    "active": True, "name": {"givenName": "Ada", "familyName": "Guide"},
    "emails": [{"value": "ada.guide@contoso.example", "type": "work", "primary": True}],
}
#: nulls and empties as a careless server stores them
NULLS_PERSON: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "nulls-person-0001",
    "userName": "nulls.person@contoso.example", "name": None, "emails": [], "active": "False",
    "displayName": None, "externalId": None, "title": None,
}
#: numbers (and a list) where strings belong
NUMBERS_PERSON: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "numbers-person-0001",
    "userName": 31337, "name": {"givenName": 42, "familyName": 3.5}, "displayName": ["not", "a", "string"],
    "emails": [{"value": 99, "type": "work"}], "active": 1, "externalId": 12345,
}
SPECIAL_PEOPLE = (GUIDE_PERSON, NULLS_PERSON, NUMBERS_PERSON)


@dataclass
class HostileDirectory:
    values: dict[str, str]
    person_ids: dict[str, str] = field(default_factory=dict)     # hostile key -> user id (hostile names)
    username_person_id: str = ""                                 # the person whose only text is a hostile userName
    group_ids: dict[str, str] = field(default_factory=dict)      # hostile key -> group id
    role_ids: dict[str, str] = field(default_factory=dict)       # hostile key -> role id
    special_ids: dict[str, str] = field(default_factory=dict)    # guide / nulls / numbers -> user id


def _meta(kind: str, rid: str, stamp: str) -> dict[str, str]:
    return {"resourceType": kind, "created": stamp, "lastModified": stamp,
            "location": f"/scim/{kind}s/{rid}"}


def build_sandbox_data(data_dir: Path, pixel_url: str, *, seed_users: int = 30) -> HostileDirectory:
    """Write the hostile organisation into a sandbox data directory (before the sandbox starts)."""
    from sandbox.seed import seed
    from sandbox.store import Store, now_iso

    values = hostile_values(pixel_url)
    out = HostileDirectory(values=values)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / "sandbox.db")
    try:
        seed(store, seed_users, 6, 11, "entra")
        store.set_meta("seeded", f"users={seed_users} hostile fixture")
        stamp = now_iso()
        docs: list[dict[str, Any]] = []
        for key, value in values.items():
            uid = f"hostile-{key}"
            out.person_ids[key] = uid
            docs.append({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": uid,
                         "userName": f"hostile.{key}@evil.example", "displayName": value,
                         "name": {"givenName": value, "familyName": value}, "externalId": value,
                         "emails": [{"value": value, "type": "work"}], "active": True,
                         "meta": _meta("User", uid, stamp)})
        out.username_person_id = "hostile-username"
        docs.append({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": out.username_person_id,
                     "userName": values["link"] + " " + values["image"], "active": True,
                     "meta": _meta("User", out.username_person_id, stamp)})
        for person, name in zip(SPECIAL_PEOPLE, ("guide", "nulls", "numbers"), strict=True):
            docs.append({**person, "meta": _meta("User", person["id"], stamp)})
            out.special_ids[name] = person["id"]
        store.insert_users(docs)
        pks = dict(store.query("SELECT id, pk FROM users"))
        hostile_members = [pks[d["id"]] for d in docs if d["id"] not in out.special_ids.values()]
        everyone = [pks[d["id"]] for d in docs]
        groups = []
        for key, value in values.items():
            # groups hold the hostile people; roles everyone (the special people too)
            for prefix, target, members in (("", out.group_ids, hostile_members),
                                            ("Role - ", out.role_ids, everyone)):
                gid = f"{'role' if prefix else 'group'}-{key}"
                target[key] = gid
                groups.append(({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": gid,
                                "displayName": prefix + value, "externalId": value,
                                "meta": _meta("Group", gid, stamp)}, members))
        store.insert_groups(groups)
    finally:
        store.close()
    return out


# --- console side --------------------------------------------------------------------------------------------

def _record(rid: str, at: datetime, cycle: str, status: str, *, action: str = "create", code: str | None = None,
            name: str = "Ada Guide", reason: str | None = None, step: str | None = None) -> dict[str, Any]:
    error = {"errorCode": code, "errorCategory": "NonServiceFailure", "reason": reason} if code else None
    record: dict[str, Any] = {
        "id": rid, "activityDateTime": at.isoformat().replace("+00:00", "Z"), "cycleId": cycle,
        "changeId": f"chg-{rid}", "jobId": "scim.hostile", "provisioningAction": action,
        "provisioningStatusInfo": {"status": status, "errorInformation": error},
        "sourceIdentity": {"id": f"src-{rid}", "displayName": name, "identityType": "User"},
        "targetIdentity": {"id": f"tgt-{rid}", "displayName": name, "identityType": "User"},
        "initiatedBy": {"initiatorType": "system", "displayName": "Azure AD Provisioning Service"},
        "durationInMilliseconds": 120,
    }
    if step is not None:
        record["provisioningSteps"] = [{"name": step, "provisioningStepType": "export", "status": status,
                                        "description": step, "details": {"reason": step}}]
        record["modifiedProperties"] = [{"displayName": step, "oldValue": step, "newValue": step}]
    return record


def log_records(values: dict[str, str], now: datetime | None = None) -> list[dict[str, Any]]:
    """Five quiet cycles, then a cycle with a hostile id where most records fail with hostile error codes,
    names, reasons and steps (a failure spike), and records with a hostile action and status."""
    now = now or datetime.now(UTC)
    records: list[dict[str, Any]] = []
    start = now - timedelta(hours=5)
    for c in range(5):
        at = start + timedelta(minutes=40 * c)
        for i in range(10):
            records.append(_record(f"quiet-{c}-{i}", at + timedelta(seconds=i), f"cycle-quiet-{c}",
                                   "failure" if i == 0 and c % 2 else "success"))
    cycle = values["link"]
    at = start + timedelta(minutes=200)
    for i, (key, value) in enumerate(values.items()):
        records.append(_record(f"hostile-{key}", at + timedelta(seconds=i), cycle, "failure", code=value,
                               name=value, reason=value, step=value))
    records.append(_record("hostile-action", at + timedelta(seconds=50), cycle, "success",
                           action=values["image"], name=values["heading"], step=values["html"]))
    records.append(_record("hostile-status", at + timedelta(seconds=51), cycle, values["colour"],
                           name=values["math"]))
    return records


def job_status(values: dict[str, str], now: datetime | None = None) -> dict[str, Any]:
    """A Graph ``synchronizationJob`` in quarantine for a hostile reason."""
    now = now or datetime.now(UTC)
    began = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    return {
        "id": "scim.hostile", "templateId": "scim",
        "schedule": {"interval": "PT40M", "state": values["bold"]},
        "status": {"code": "Quarantine", "countSuccessiveCompleteFailures": 3,
                   "quarantine": {"reason": values["link"], "currentBegan": began, "seriesBegan": began,
                                  "nextAttempt": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
                                  "error": {"code": values["image"], "message": values["heading"]}},
                   "lastExecution": {"activityIdentifier": values["link"], "state": values["colour"],
                                     "timeBegan": began, "timeEnded": began}},
    }


HOSTILE_REASON_KEYS = ("image", "link", "heading", "colour", "icon", "math", "html", "shortcode", "rtl")


def hostile_reason(values: dict[str, str]) -> str:
    return " ".join(values[k] for k in HOSTILE_REASON_KEYS)


def populate_console(ctx: Any, conn: Any, directory: HostileDirectory) -> dict[str, Any]:
    """Logs, job status and an operation with hostile texts, for the connection (its snapshot is taken)."""
    from console.directory.take import take_snapshot
    from console.entra.files import import_files
    from console.entra.health import record_job_status
    from console.operations import execute, plan

    values = directory.values
    take_snapshot(ctx, conn)
    payload = json.dumps({"value": log_records(values)}).encode("utf-8")
    imported = import_files(ctx, conn, [("provisioning-logs.json", payload)])
    record_job_status(ctx, conn, job_status(values))
    targets = [directory.person_ids["link"], directory.special_ids["guide"], directory.special_ids["nulls"]]
    preview = plan(ctx, conn, "add", targets, group=directory.group_ids["heading"])
    result = execute(ctx, conn, preview, hostile_reason(values), values["link"], source="ui")
    take_snapshot(ctx, conn)
    return {"imported": imported, "action_id": result.batch_id, "operator": values["link"],
            "reason": hostile_reason(values)}

