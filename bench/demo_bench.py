"""Demo start-up: the embedded sandbox's ``--demo`` ready time, and ``streamlit run app.py`` to the Overview.

- ``python -m sandbox serve --demo --demo-days 14 --seed-users N`` from process start to its ``ready`` line, on
  a fresh data dir (seeding plus fast-forwarded Entra history), at 2,000 and 100,000 users;
- ``streamlit run app.py`` with a fresh, empty console home (so the app starts the embedded demo of 2,000
  users itself, as on a first start from the README) until Chromium shows the Overview with its directory
  counts and the script has finished running: target <= 30 s. Peak memory of the streamlit process and of
  its children (the demo sandbox) is reported too.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _harness as h

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def sandbox_demo_ready(users: int, days: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-demo-sandbox-") as tmp:
        sb = h.start_sandbox(Path(tmp) / "data", "--demo", "--demo-days", str(days), "--seed-users", str(users),
                             timeout=1800)
        sb.stop()
        return sb.ready_seconds


def _overview_rendered(page: Any) -> bool:
    """True once the Overview's title and directory metrics are on screen and no script is running (False
    while the page reloads: opening the access link reloads it once, signed in by its cookie)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return _overview_check(page)
    except PlaywrightError:
        return False


def _overview_check(page: Any) -> bool:
    return bool(page.evaluate(
        """() => {
            const app = document.querySelector("[data-testid='stApp']");
            if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
            const title = [...document.querySelectorAll('h1')].some(e => e.innerText.includes('Overview'));
            const metrics = document.querySelectorAll("[data-testid='stMetric']").length;
            const labels = [...document.querySelectorAll("[data-testid='stMetricLabel']")]
                .map(e => e.innerText).join('|');
            return title && metrics >= 4 && labels.includes('Active users');
        }"""
    ))


def app_to_overview(users: int, timeout: float) -> dict[str, Any]:
    """Seconds from ``streamlit run`` to the Overview rendered in Chromium, and peak memory."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise h.Skip(f"playwright is not installed ({exc})") from None
    if not os.path.exists(CHROMIUM):
        raise h.Skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not (h.ROOT / "app.py").exists():
        raise h.Skip("app.py does not exist yet")
    with tempfile.TemporaryDirectory(prefix="bench-demo-app-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        port = h.free_port()
        env = {"SCIM_CONSOLE_HOME": str(home), "SCIM_CONSOLE_DEMO_USERS": str(users),
               "SCIM_CONSOLE_KEYRING": os.environ.get("SCIM_CONSOLE_KEYRING", "auto")}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                started = time.perf_counter()
                app = h.start([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.address", "127.0.0.1", "--server.port", str(port),
                               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                              env={**env, "SCIM_CONSOLE_NO_DEMO": ""})
                try:
                    with h.RssSampler(app.pid, children=True) as mem_all, \
                            h.RssSampler(app.pid, children=False) as mem_app:
                        health = h.wait_http(f"http://127.0.0.1:{port}/_stcore/health", timeout=timeout)
                        page = browser.new_page(viewport={"width": 1400, "height": 1000})
                        from console.access import access_url, ensure_secret  # the operator's access link

                        page.goto(access_url(ensure_secret(home), port), wait_until="domcontentloaded")
                        deadline = time.monotonic() + timeout
                        while not _overview_rendered(page):
                            if time.monotonic() > deadline:
                                raise TimeoutError(f"Overview not rendered within {timeout:.0f} s")
                            if app.popen.poll() is not None:
                                raise RuntimeError("streamlit exited:\n" + "\n".join(app.lines[-15:]))
                            time.sleep(0.1)
                        overview = time.perf_counter() - started
                        errors = page.locator("[data-testid='stException']").count()
                        page.close()
                finally:
                    app.stop(timeout=20)
            finally:
                with contextlib.suppress(Exception):
                    browser.close()
    if errors:
        raise RuntimeError("the Overview showed a traceback")
    return {"overview_s": overview, "health_s": health, "rss_app_mb": mem_app.peak_mb,
            "rss_all_mb": mem_all.peak_mb}


def run(quick: bool) -> dict[str, Any]:
    app_users = 300 if quick else 2_000
    sandbox_sizes = [(300, 2)] if quick else [(2_000, 14), (100_000, 14)]
    app_runs = 1 if quick else 3
    sandbox_runs = 1 if quick else 2
    params = {"app_demo_users": app_users, "app_runs": app_runs,
              "sandbox_demo_sizes": [f"{u} users / {d} days" for u, d in sandbox_sizes],
              "sandbox_runs": sandbox_runs}
    metrics: list[dict[str, Any]] = []
    notes: list[str] = []

    for users, days in sandbox_sizes:
        runs = sandbox_runs if users <= 10_000 else 1
        samples = [sandbox_demo_ready(users, days) for _ in range(runs)]
        metrics.append(h.metric(f"sandbox --demo ready, {users:,} users / {days} days", samples, "s"))

    results = [app_to_overview(app_users, timeout=300) for _ in range(app_runs)]
    overview = [r["overview_s"] for r in results]
    metrics.append(h.metric(f"streamlit run -> Overview rendered (fresh home, {app_users:,}-user demo)", overview,
                            "s", target="<= 30 s" if not quick else None,
                            met=h.check(h.summarise(overview)["median"], at_most=30.0) if not quick else None))
    metrics.append(h.metric("streamlit run -> /_stcore/health ok", [r["health_s"] for r in results], "s"))
    metrics.append(h.metric("peak RSS: streamlit process", [r["rss_app_mb"] for r in results], "MB"))
    metrics.append(h.metric("peak RSS: streamlit + demo sandbox", [r["rss_all_mb"] for r in results], "MB"))
    notes.append("each app run starts from an empty console home, so it includes starting and seeding the demo "
                 "sandbox, generating a token and taking the first snapshot")
    return {"parameters": params, "metrics": metrics, "notes": notes}
