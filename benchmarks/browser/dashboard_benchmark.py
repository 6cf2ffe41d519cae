#!/usr/bin/env python3
"""The dashboard (/ui) at scale, in headless Chromium: for a node with 1,000,
10,000 and 100,000 instances, how long until the first rows show, until a
search shows its result, until a live change of a shown instance shows, and
the page's memory (docs/operations.md, "The dashboard").

Run by hand (not by CTest; about two minutes, most of it registering
100,000 instances), after building the server:

    cmake --build build --target processpype_server -j2
    /usr/bin/python3 benchmarks/browser/dashboard_benchmark.py --server build/server/processpype

Options: --instances 1000,10000,100000 (the node sizes), --output DIR (the
nodes' logs and a screenshot per size), --chromium, --chromedriver. It needs
what the browser tests need (tests/browser/README.md: chromium,
chromium-driver, python3-selenium) and reuses their harness
(tests/browser/support.py).

What it measures, per size, each on a fresh node filled over HTTP:
- first rows: navigation start to the first frame after the first row is in
  the table (the median of 3 loads, after one that warms the cache);
- search: the search box given a name (one input event, as a paste) to the
  frame after the table shows that instance alone (the median of 5 names
  spread over the node's registration order);
- live change: `POST /services/{name}/start` (or `/stop`) sent from the page
  with fetch() to the row showing `running` (or `stopped`) (the median of 6);
- memory: the page's JS heap (CDP Performance.getMetrics, JSHeapUsedSize)
  and its DOM nodes after a garbage collection, once the first page and its
  statuses have loaded.

Aims, with 100,000 instances: first rows within 1 s, search within 0.5 s,
live change within 0.5 s, memory flat (the heap at 100,000 within 1.25x the
heap at 1,000). Each figure is printed beside its aim with MET or MISSED.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "browser"))

from support import Http, Server, browser, register_many, screenshot, wait_for  # noqa: E402

NODE = "big"
PAGE = 50
LOADS = 3
SEARCHES = 5
LIVE_CHANGES = 3  # instances started, then stopped: 6 changes
AIM_FIRST_ROWS_MS = 1000
AIM_SEARCH_MS = 500
AIM_LIVE_CHANGE_MS = 500
AIM_HEAP_RATIO = 1.25

# Installed in every new document: notes when the first row is in the table,
# and the frame after it.
FIRST_ROWS_PROBE = """
(() => {
  const seen = () => document.querySelector('#instances tbody:not([hidden]) tr[data-name]');
  const observer = new MutationObserver(() => {
    if (window.firstRowsInTable || !seen()) return;
    window.firstRowsInTable = performance.now();
    observer.disconnect();
    requestAnimationFrame(() => (window.firstRowsShown = performance.now()));
  });
  observer.observe(document, { childList: true, subtree: true });
})();
"""

# Gives the search box `name` and answers the ms until the table shows that
# instance alone (null after 5 s).
SEARCH = """
const [name, node, done] = arguments;
const group = document.querySelector(`#instances tbody[data-node="${node}"]`);
const input = document.querySelector("#filters input[type=search]");
const names = () => [...group.querySelectorAll("tr[data-name]")].map((row) => row.dataset.name);
const start = performance.now();
const giveUp = setTimeout(() => (observer.disconnect(), done(null)), 5000);
const observer = new MutationObserver(() => {
  const shown = names();
  if (shown.length !== 1 || shown[0] !== name) return;
  observer.disconnect();
  clearTimeout(giveUp);
  requestAnimationFrame(() => done(performance.now() - start));
});
observer.observe(group, { childList: true, subtree: true });
input.value = name;
input.dispatchEvent(new Event("input", { bubbles: true }));
"""

# Sends `POST <path>` with fetch() and answers the ms until the row of
# `name` shows `state` (null after 5 s).
LIVE_CHANGE = """
const [name, path, state, done] = arguments;
const cell = document.querySelector(`#instances tr[data-name="${name}"] td.state`);
const start = performance.now();
const giveUp = setTimeout(() => (observer.disconnect(), done(null)), 5000);
const observer = new MutationObserver(() => {
  if (!cell.textContent.startsWith(state)) return;
  observer.disconnect();
  clearTimeout(giveUp);
  requestAnimationFrame(() => done(performance.now() - start));
});
observer.observe(cell, { childList: true, subtree: true, characterData: true });
fetch(path, { method: "POST" });
"""


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="the processpype binary")
    parser.add_argument("--instances", default="1000,10000,100000", help="node sizes, comma-separated")
    parser.add_argument("--output", default=None, help="where logs and screenshots go (default: a temporary directory)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parsed = parser.parse_args()
    parsed.sizes = [int(size) for size in parsed.instances.split(",")]
    parsed.output = Path(parsed.output or tempfile.mkdtemp(prefix="processpype-dashboard-benchmark-"))
    parsed.output.mkdir(parents=True, exist_ok=True)
    return parsed


def names_shown(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#instances tr[data-name]')].map((row) => row.dataset.name)")


def load_page(driver, node):
    """Loads /ui afresh; the ms from navigation start to the first rows shown."""
    driver.get("about:blank")
    driver.get(node.base + "/ui")
    wait_for(driver, "the first rows", lambda d: d.execute_script("return window.firstRowsShown"), timeout=30)
    return driver.execute_script("return window.firstRowsShown")


def wait_settled(driver, http):
    """Until the first page, its statuses and the counts are shown."""
    first_page = [entry["name"] for entry in http.ok("GET", f"/services?limit={PAGE}")["services"]]
    wait_for(driver, "the first page", lambda d: names_shown(d) == first_page, timeout=30)
    wait_for(driver, "every status", lambda d: d.execute_script(
        "return [...document.querySelectorAll('#instances tr[data-name] td.restarts')].every((cell) => cell.textContent !== '')"),
        timeout=30)
    wait_for(driver, "the counts", lambda d: d.find_elements("css selector", f'#nodes li[data-node="{NODE}"] [data-count="total"]'))
    return first_page


def memory(driver):
    """(JS heap bytes, DOM nodes) after a garbage collection."""
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    metrics = {entry["name"]: entry["value"] for entry in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
    return metrics["JSHeapUsedSize"], int(metrics["Nodes"])


def measure_searches(driver, names, first_page):
    figures = []
    for name in names:
        elapsed = driver.execute_async_script(SEARCH, name, NODE)
        assert elapsed is not None, f"the search for {name} did not show it within 5 s"
        figures.append(elapsed)
        driver.execute_script(
            "const input = document.querySelector('#filters input[type=search]');"
            "input.value = ''; input.dispatchEvent(new Event('input', { bubbles: true }));")
        wait_for(driver, "the first page after the search", lambda d: names_shown(d) == first_page, timeout=10)
    return figures


def measure_live_changes(driver, node, names):
    figures = []
    for suffix, state in (("start", "running"), ("stop", "stopped")):
        for name in names:
            path = f"{node.base}/services/{name}/{suffix}"
            elapsed = driver.execute_async_script(LIVE_CHANGE, name, path, state)
            assert elapsed is not None, f"{name} did not show {state} within 5 s"
            figures.append(elapsed)
    return figures


def measure_size(driver, args, size):
    """Every figure for a node with `size` instances."""
    config = f"server:\n  limits:\n    max_instances: {max(size, 100_000)}\nservices: {{}}\n"
    node = Server(args.server, args.output, f"{NODE}-{size}", config=config, node_args=["--node-id", NODE])
    try:
        started = time.monotonic()
        register_many(node.base, [f"n{index:06d}" for index in range(size)], "counter")
        registered = time.monotonic() - started
        http = Http(node.base)
        assert http.ok("GET", "/services?limit=1&counts=true")["counts"]["total"] == size

        load_page(driver, node)  # warms the cache
        loads = [load_page(driver, node) for _ in range(LOADS)]
        first_page = wait_settled(driver, http)
        heap, dom_nodes = memory(driver)

        step = size // SEARCHES
        searched = [f"n{index:06d}" for index in range(step - 1, size, step)][:SEARCHES]
        searches = measure_searches(driver, searched, first_page)
        changes = measure_live_changes(driver, node, first_page[10:10 + LIVE_CHANGES])
        screenshot(driver, args.output, f"dashboard-{size}.png")
        driver.get("about:blank")
        return {
            "size": size,
            "registered_s": registered,
            "first_rows_ms": statistics.median(loads),
            "first_rows_max_ms": max(loads),
            "search_ms": statistics.median(searches),
            "search_max_ms": max(searches),
            "live_ms": statistics.median(changes),
            "live_max_ms": max(changes),
            "heap_bytes": heap,
            "dom_nodes": dom_nodes,
        }
    finally:
        node.stop()


def verdict(met):
    return "MET" if met else "MISSED"


def report(results):
    print()
    print(f"{'instances':>10}  {'setup':>7}  {'first rows':>17}  {'search':>17}  {'live change':>17}  {'JS heap (bytes)':>15}  {'DOM nodes':>9}")
    print(f"{'':>10}  {'':>7}  {'median (max)':>17}  {'median (max)':>17}  {'median (max)':>17}")
    for r in results:
        print(f"{r['size']:>10,}  {r['registered_s']:>6.1f}s  "
              f"{r['first_rows_ms']:>7.0f} ms ({r['first_rows_max_ms']:>4.0f})  "
              f"{r['search_ms']:>7.0f} ms ({r['search_max_ms']:>4.0f})  "
              f"{r['live_ms']:>7.0f} ms ({r['live_max_ms']:>4.0f})  "
              f"{r['heap_bytes']:>15,.0f}  {r['dom_nodes']:>9,}")
    largest, smallest = results[-1], results[0]
    print(f"\nAims, with {largest['size']:,} instances:")
    rows = [
        ("first rows", largest["first_rows_ms"], AIM_FIRST_ROWS_MS),
        ("search result", largest["search_ms"], AIM_SEARCH_MS),
        ("live change", largest["live_ms"], AIM_LIVE_CHANGE_MS),
    ]
    for what, figure, aim in rows:
        print(f"  {what:<14} {figure:>7.0f} ms   aim <= {aim} ms   {verdict(figure <= aim)}")
    ratio = largest["heap_bytes"] / smallest["heap_bytes"]
    print(f"  {'page memory':<14} {largest['heap_bytes'] / 1024:>7,.0f} KB   {ratio:.2f}x the heap at {smallest['size']:,} "
          f"instances; aim flat (<= {AIM_HEAP_RATIO}x)   {verdict(ratio <= AIM_HEAP_RATIO)}")


def main():
    args = arguments()
    print(f"dashboard benchmark: sizes {', '.join(f'{size:,}' for size in args.sizes)}; output in {args.output}", flush=True)
    results = []
    with browser(args.chromium, args.chromedriver) as driver:
        driver.set_script_timeout(10)
        driver.execute_cdp_cmd("Performance.enable", {})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FIRST_ROWS_PROBE})
        for size in args.sizes:
            results.append(measure_size(driver, args, size))
            r = results[-1]
            print(f"  {size:,} instances: registered in {r['registered_s']:.1f} s, first rows {r['first_rows_ms']:.0f} ms, "
                  f"search {r['search_ms']:.0f} ms, live change {r['live_ms']:.0f} ms, heap {r['heap_bytes'] / 1024:,.0f} KB",
                  flush=True)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
