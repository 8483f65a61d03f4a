"""Time from the Train button's click to the Results page with its metrics, in headless Chromium.

Starts the dashboard on a free port (as the browser tests do), loads the bundled sensor sample and
trains the default method ``--trainings`` times, each in a fresh browser context (a new session).
Each training is timed from the click in two ways:

- *metrics on screen*: measured inside the page, the first animation frame after the ROC-AUC card
  entered it (what a person sees: the browser paints at that frame);
- *page complete*: Playwright has found the Results heading, the ROC-AUC card and the rules'
  caption. Playwright asks the page, which answers only between its tasks, so this includes the
  drawing of the charts that follow the cards.

``--burners N`` runs N CPU-bound processes beside the server for the whole run, as on a machine
shared with other work.

Run: ``.venv/bin/python -m tests.bench.results_after_training [--trainings 5] [--burners 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

#: Installed in the page before the click: notes when the ROC-AUC card enters the page, and when
#: the browser next paints (the first animation frame after it).
WATCH_CARDS = """() => {
  window.__cardsPainted = null; const start = performance.now();
  const observer = new MutationObserver(() => {
    const card = [...document.querySelectorAll('[data-testid=stMetric]')].find(e => e.innerText.includes('ROC-AUC'));
    if (!card) return;
    observer.disconnect();
    requestAnimationFrame(() => { window.__cardsPainted = (performance.now() - start) / 1000; });
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def main(argv=None) -> None:
    from playwright.sync_api import sync_playwright

    from tests.e2e.browser_support import idle, open_sample
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, serve_dashboard

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=5)
    parser.add_argument("--burners", type=int, default=0)
    parser.add_argument("--sample", default="sensor.csv")
    args = parser.parse_args(argv)
    port = _free_port()
    server = serve_dashboard(port, subprocess.DEVNULL)
    url = next(server)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burners)]
    print(f"{os.cpu_count()} cores, {args.burners} CPU-bound processes beside, load average "
          f"{os.getloadavg()[0]:.1f}; dashboard at {url}")
    timings, painted = [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for training in range(args.trainings):
                context = browser.new_context(viewport={"width": 1440, "height": 1000})
                page = context.new_page()
                open_sample(page, url, args.sample)
                page.get_by_role("link", name="Train").first.click()
                page.get_by_role("heading", name="Train", exact=True).wait_for()
                idle(page)
                page.evaluate(WATCH_CARDS)
                clicked = time.perf_counter()
                page.get_by_test_id("stBaseButton-primary").click()
                page.get_by_role("heading", name="Results", exact=True).wait_for(timeout=120_000)
                page.get_by_test_id("stMetric").filter(has_text="ROC-AUC").first.wait_for(timeout=120_000)
                page.get_by_text("Where each rule puts it").wait_for(timeout=120_000)
                seconds = time.perf_counter() - clicked
                page.wait_for_function("() => window.__cardsPainted !== null", timeout=60_000)
                on_screen = page.evaluate("() => window.__cardsPainted")
                timings.append(seconds)
                painted.append(on_screen)
                print(f"  training {training + 1}: metrics on screen after {on_screen:.2f} s, page complete after "
                      f"{seconds:.2f} s" + (" (first training after the server started)" if not training else ""))
                context.close()
            browser.close()
    finally:
        for process in burners:
            process.kill()
        next(server, None)  # stops the server
    later = slice(1, None) if len(timings) > 1 else slice(None)
    print(f"after the first training: metrics on screen median {statistics.median(painted[later]):.2f} s "
          f"(worst {max(painted[later]):.2f} s), page complete median {statistics.median(timings[later]):.2f} s "
          f"(worst {max(timings[later]):.2f} s); first training: {painted[0]:.2f} s / {timings[0]:.2f} s; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
