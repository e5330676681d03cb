"""CI smoke for the benchmark suite: ``python -m bench --quick`` runs and writes well-formed JSON.

Checks the shape of what the harness writes, never the timings (those belong to the figures, not to tests).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The quick scenarios that run in seconds; the others (browser start-up, 100k-user pages) are run by hand.
FAST = ["sandbox"]


def _run_bench(tmp_path: Path, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *names, "--quick", "--results-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)


def test_list_names_every_benchmark_module() -> None:
    out = subprocess.run([sys.executable, "-m", "bench", "--list"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    expected = sorted(p.name[: -len("_bench.py")] for p in (ROOT / "bench").glob("*_bench.py"))
    assert out == expected
    assert "sandbox" in out


def test_unknown_name_is_refused_with_the_list() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "no-such-bench"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "unknown benchmark" in proc.stderr and "sandbox" in proc.stderr


def _check_metric(row: dict) -> None:
    assert isinstance(row["name"], str) and row["name"]
    assert isinstance(row["unit"], str)
    for key in ("median", "min", "max"):
        assert isinstance(row[key], int | float), (row["name"], key, row[key])
    assert row["min"] <= row["median"] <= row["max"]
    assert isinstance(row["runs"], list) and row["runs"]
    assert row["met"] in (True, False, None)


@pytest.mark.slow
@pytest.mark.parametrize("name", FAST)
def test_quick_benchmark_writes_well_formed_json(tmp_path: Path, name: str) -> None:
    proc = _run_bench(tmp_path, name)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = list(tmp_path.glob(f"{name}-*.json"))
    assert len(files) == 1, files
    doc = json.loads(files[0].read_text())
    assert doc["name"] == name and doc["quick"] is True
    assert doc["status"] == "ok", doc.get("reason")
    machine = doc["machine"]
    assert machine["cpu_count"] >= 1 and machine["memory_total_mb"] > 0 and machine["cpu_model"]
    assert machine["python"].startswith("3.") and isinstance(machine["packages"], dict)
    result = doc["result"]
    assert isinstance(result["parameters"], dict) and result["parameters"]
    assert result["metrics"], "no figures"
    for row in result["metrics"]:
        _check_metric(row)
    # the table was printed, one line per metric
    for row in result["metrics"]:
        assert row["name"] in proc.stdout
