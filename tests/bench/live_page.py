"""Does the Live page keep up with 1,000 records/s in a real browser?

Run on demand (needs Debian's Chromium, see scripts/setup_system.sh)::

    .venv/bin/python -m tests.bench.live_page [--rate 1000] [--seconds 15]

Starts the dashboard, uploads a generated table, trains the default model, opens the Live page,
replays the table at ``--rate`` records/s and reads the page's "Received" counter every second.
A page that keeps up shows a count close to rate x elapsed seconds, with nothing dropped between
the stream thread and the page. A screenshot goes to artifacts/screenshots/live.png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _idle(page, settle: float = 0.5):
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    time.sleep(settle)


def _metric(page, label: str) -> str:
    label_box = page.locator("[data-testid='stMetricLabel']").filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    box = page.locator("[data-testid='stMetric']").filter(has=label_box).first
    return box.locator("[data-testid='stMetricValue']").inner_text()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = int(args.rate * (args.seconds + 30))
    rng = np.random.default_rng(0)
    t = np.arange(rows)
    frame = pd.DataFrame({"temperature": 20 + np.sin(t / 200) + rng.normal(0, 0.2, rows),
                          "pressure": 1000 + rng.normal(0, 2, rows)})
    frame.loc[rng.choice(rows, rows // 500, replace=False), "temperature"] += 6
    data = Path(tempfile.mkdtemp()) / "live.csv"
    frame.round(4).to_csv(data, index=False)

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 1400})
            page.set_default_timeout(90_000)
            page.goto(url)
            page.get_by_role("heading", name="Data", exact=True).wait_for()
            _idle(page)
            page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(data))
            page.get_by_text("Ready:").wait_for()
            _idle(page)
            page.get_by_role("link", name="Train").first.click()
            page.get_by_role("heading", name="Train", exact=True).wait_for()
            _idle(page)
            page.get_by_test_id("stBaseButton-primary").click()
            page.get_by_role("heading", name="Results", exact=True).wait_for()
            _idle(page, 1.0)
            page.get_by_role("link", name="Live").first.click()
            page.get_by_role("heading", name="Live", exact=True).wait_for()
            _idle(page)
            rate_box = page.get_by_label("Records per second")
            rate_box.fill(str(args.rate))
            rate_box.press("Enter")
            _idle(page)
            page.get_by_role("button", name=re.compile("Start")).click()
            page.locator("[data-testid='stMetric']").filter(has_text="Records/s").first.wait_for()
            started = time.time()
            samples = []
            while time.time() - started < args.seconds:
                time.sleep(1.0)
                shown = int(_metric(page, "Received").replace(",", ""))
                samples.append((time.time() - started, shown))
            dropped = int(_metric(page, "Dropped by the page").replace(",", ""))
            rate_shown = _metric(page, "Records/s")
            shots = ROOT / "artifacts" / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "live.png"))
            page.get_by_role("button", name=re.compile("Stop")).click()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    elapsed = np.array([s[0] for s in samples])
    shown = np.array([s[1] for s in samples])
    slope = np.polyfit(elapsed, shown, 1)[0]
    lag = args.rate * elapsed[-1] - shown[-1]
    report = {"rate": args.rate, "seconds": float(elapsed[-1]), "records_shown": int(shown[-1]),
              "shown_records_per_s": float(slope), "lag_records_at_end": float(lag),
              "lag_seconds_at_end": float(lag / args.rate), "dropped": dropped, "records_per_s_metric": rate_shown,
              "samples": [[float(a), int(b)] for a, b in samples]}
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "bench_live_page.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
