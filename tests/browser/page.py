"""The gallery of `flags-dl serve` in headless Chromium, for tests/it/serve_page.rs.

It drives Debian's Chromium (FLAGS_DL_CHROMIUM, default /usr/bin/chromium) with Playwright,
never a browser of Playwright's own, and prints what a reader would see as one JSON line:

    page.py images URL        the gallery's images: how many, how many loaded, how long
    page.py watch URL         prints "ready" once the page is live, then reads "requests
                              in flight" until it has seen some and then 0 for 1.5 s
    page.py listing URL       the listing's folder links: how many, how many answer 200,
                              and where a click on the first, then on its flag, leads
    page.py state URL         how the page gets its figures ("live" by Server-Sent
                              Events, "polling" /_live.json when refused), once it says,
                              and its "answered since start" before and after it asks for
                              three flags
    page.py screenshot URL FILE [IN_FLIGHT [SECONDS]]
                              a PNG of the page, SECONDS (default 0) after it shows
                              IN_FLIGHT requests in flight (default: at once); the
                              README's picture
"""

import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("FLAGS_DL_CHROMIUM", "/usr/bin/chromium")
# Quiet and local: no update checks, no sync, no QUIC, no GPU on a headless machine. As
# root (CI) Chromium's sandbox cannot start.
ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
if os.geteuid() == 0:
    ARGS.append("--no-sandbox")

# No step may wait longer than this, so a broken page fails the test instead of hanging.
STEP_MS = 30_000


def out(value):
    print(json.dumps(value), flush=True)


def live(page):
    """Waits until the page's script says the figures come by Server-Sent Events."""
    page.wait_for_function("document.body.dataset.live === 'live'", timeout=STEP_MS)


def images(page, url):
    started = time.monotonic()
    page.goto(url, timeout=STEP_MS)
    page.wait_for_function(
        "[...document.images].every((i) => i.complete)", timeout=STEP_MS
    )
    seconds = time.monotonic() - started
    counts = page.evaluate(
        """() => ({
            images: document.images.length,
            loaded: [...document.images].filter((i) => i.naturalWidth > 0).length,
        })"""
    )
    out({**counts, "seconds": round(seconds, 2)})


def watch(page, url):
    page.goto(url, timeout=STEP_MS)
    live(page)
    print("ready", flush=True)
    most, last, zero_since, samples = 0, None, None, 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        last = int(page.text_content("#in-flight"))
        samples += 1
        most = max(most, last)
        if most > 0 and last == 0:
            zero_since = zero_since or time.monotonic()
            if time.monotonic() - zero_since >= 1.5:
                break
        else:
            zero_since = None
        time.sleep(0.05)
    state = page.evaluate("document.body.dataset.live")
    out({"max": most, "last": last, "samples": samples, "live": state})


def listing(page, url):
    page.goto(url, timeout=STEP_MS)
    hrefs = page.eval_on_selector_all("ul a", "(as) => as.map((a) => a.href)")
    folders = [h for h in hrefs if h.endswith("/")]
    statuses = page.evaluate(
        "(hrefs) => Promise.all(hrefs.map((h) => fetch(h).then((r) => r.status)))",
        folders,
    )
    page.click("ul a >> nth=0", timeout=STEP_MS)
    page.wait_for_load_state()
    clicked = page.url
    with page.expect_response(lambda r: r.url.endswith(".gif"), timeout=STEP_MS) as r:
        page.click("ul a >> nth=0", timeout=STEP_MS)
    then = r.value
    out(
        {
            "folders": len(folders),
            "working": statuses.count(200),
            "clicked": clicked,
            "then": then.url,
            "then_type": then.headers.get("content-type"),
        }
    )


def state(page, url):
    page.goto(url, timeout=STEP_MS)
    page.wait_for_function("document.body.dataset.live !== undefined", timeout=STEP_MS)
    how = page.evaluate("document.body.dataset.live")
    before = int(page.text_content("#served"))
    # Three flags asked from the page, then as many seconds for the figures to show them.
    page.evaluate("Promise.all([1, 2, 3].map(() => fetch('/flags/br/br.gif')))")
    time.sleep(1.5)
    out({"live": how, "before": before, "served": int(page.text_content("#served"))})


def screenshot(page, url, file, in_flight=0, after=0.0):
    page.set_viewport_size({"width": 1100, "height": 820})
    page.goto(url, timeout=STEP_MS)
    live(page)
    if in_flight:
        page.wait_for_function(
            f"+document.getElementById('in-flight').textContent >= {in_flight}",
            timeout=600_000,
        )
    time.sleep(after)
    page.screenshot(path=file)
    out({"file": file})


def main():
    command, url, *rest = sys.argv[1:]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            if command == "images":
                images(page, url)
            elif command == "watch":
                watch(page, url)
            elif command == "listing":
                listing(page, url)
            elif command == "state":
                state(page, url)
            elif command == "screenshot":
                in_flight = int(rest[1]) if len(rest) > 1 else 0
                after = float(rest[2]) if len(rest) > 2 else 0.0
                screenshot(page, url, rest[0], in_flight, after)
            else:
                sys.exit(f"unknown command {command!r}: see the docstring")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
