"""Uploads: reading a 50 MB provisioning-log CSV the way the import box does (``console.uploads``).

- ``decode_text`` + ``read_records`` of a 50 MB admin-center-shaped CSV, saved as UTF-8 and as
  Shift_JIS (cp932, what Excel on Japanese Windows writes), peak Python memory of the UTF-8 read;
- the encoding detector (charset-normalizer) on the capped sample the decoder shows it, against the whole file,
  and unrestricted (every codec it knows) on the sample: the wrong answer it gives there is why the decoder
  restricts it to Shift_JIS / Windows-1252 / Latin-1.

``--quick``: 5 MB.
"""

from __future__ import annotations

import time
from typing import Any

from bench._harness import metric, python_peak, repeat

NAMES = ["山田 太郎", "鈴木 花子", "佐藤 健", "高橋 美咲", "田中 一郎", "Zoe Muller", "Francois Leveque", "Ada Lovelace"]
REASON = '"The user, already there"'
HEADER = ("Date (UTC),Id,Cycle ID,Change ID,Job ID,Action,Status,Source ID,Source Name,Source Type,Target ID,"
          "Target Name,Error Code,Reason")


def log_csv(size: int) -> str:
    rows = [HEADER]
    total, i = len(HEADER), 0
    while total < size:
        name = NAMES[i % len(NAMES)]
        failed = i % 17 == 0
        row = (f"2026-11-{i % 28 + 1:02d}T{i % 24:02d}:{i % 60:02d}:00Z,{i:032x},cycle-{i // 2000},chg-{i:012d},"
               f"scim.job.{i % 3},{'Update' if i % 4 else 'Create'},{'Failure' if failed else 'Success'},"
               f"{i:08x}-src,{name},User,{i:08x}-tgt,{name},{'EntryConflict' if failed else ''},"
               + (REASON if failed else ""))
        rows.append(row)
        total += len(row) + 2
        i += 1
    return "\r\n".join(rows) + "\r\n"


def run(quick: bool) -> dict[str, Any]:
    from charset_normalizer import from_bytes

    from console.uploads import DETECT_SAMPLE, LEGACY_CANDIDATES, decode_text, read_records

    size = 5_000_000 if quick else 50_000_000
    text = log_csv(size)
    metrics: list[dict[str, Any]] = []
    notes: list[str] = []
    for codec, label in (("utf-8", "UTF-8"), ("cp932", "Shift_JIS")):
        data = text.encode(codec)
        table = read_records(data)
        records = table.records
        assert table.problems == [] and len(records) == text.count("\r\n") - 1, table.problems[:3]
        cpu: list[float] = []

        def once(data: bytes = data, cpu: list[float] = cpu) -> None:
            c = time.process_time()
            read_records(data)
            cpu.append(time.process_time() - c)

        samples = repeat(once, runs=3)
        metrics.append(metric(f"read a {len(data) / 1e6:.0f} MB log CSV ({label})", samples, "s",
                              rows=len(records), encoding=table.encoding, cpu_s=round(min(cpu), 2),
                              mb_per_s=round(len(data) / 1e6 / min(samples), 1)))
        sample = data[:DETECT_SAMPLE]
        capped = repeat(lambda sample=sample: from_bytes(sample, cp_isolation=["utf_8", *LEGACY_CANDIDATES]), runs=3)
        metrics.append(metric(f"detector on the {DETECT_SAMPLE // 1024} KiB sample ({label})",
                              [s * 1000 for s in capped], "ms"))
        t = time.perf_counter()
        whole = from_bytes(data, cp_isolation=["utf_8", *LEGACY_CANDIDATES]).best()
        metrics.append(metric(f"detector on the whole file ({label})", time.perf_counter() - t, "s",
                              answer=whole.encoding if whole else None))
        if codec == "cp932":
            t = time.perf_counter()
            free = from_bytes(sample).best()
            metrics.append(metric("detector unrestricted on the sample (Shift_JIS)", time.perf_counter() - t, "s",
                                  answer=free.encoding if free else None))
            notes.append(f"unrestricted, charset-normalizer answers {free.encoding if free else None!r} for this "
                         "Shift_JIS file; restricted to Excel's encodings it answers cp932")
    data = text.encode("utf-8")
    with python_peak() as peak:
        decoded = decode_text(data)
        read_records(decoded)
    metrics.append(metric(f"peak Python memory, read {len(data) / 1e6:.0f} MB UTF-8", peak["peak_mb"], "MB"))
    return {"parameters": {"bytes": size, "sample_bytes": DETECT_SAMPLE}, "metrics": metrics, "notes": notes}
