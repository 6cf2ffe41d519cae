#!/usr/bin/env python3
"""The dashboard (/ui) in headless Chromium, as a person sees it: a cluster of
two nodes without auth, a cluster instance that moves to the other node when
its owner is killed, then one node with auth (after the token prompt).

    dashboard_test.py --server build/server/processpype --output DIR
"""

import json
import os
import sys
import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select

from support import (
    ADMIN_TOKEN,
    AUTH_CONFIG,
    Etcd,
    Http,
    assert_no_console_errors,
    free_port,
    register_many,
    run_scenarios,
    screenshot,
    text_of,
    wait_for,
)


def row(node, name):
    return f'#instances tr[data-node="{node}"][data-name="{name}"]'


def cell(driver, node, name, column):
    return text_of(driver, f"{row(node, name)} td.{column}")


def wait_state(driver, node, name, state, timeout=5):
    wait_for(driver, f"{node}/{name} to show {state}", lambda d: cell(d, node, name, "state").startswith(state), timeout)


def click_action(driver, node, name, action):
    button = driver.find_element(By.CSS_SELECTOR, f'{row(node, name)} button[data-action="{action}"]')
    wait_for(driver, f"{action} of {node}/{name} to be enabled", lambda d: button.is_enabled())
    button.click()


def wait_live(driver, node_ids):
    """Until the stream is live and every node shows up."""
    wait_for(driver, "the event stream to be live", lambda d: text_of(d, "#stream") == "live")
    for node in node_ids:
        wait_for(driver, f"node {node} up", lambda d: "up" in text_of(d, f'#nodes li[data-node="{node}"]'))


# -- flows (run without and with auth) -------------------------------------------------


def appears_live(driver, http, node):
    """An instance registered from outside shows up within 1 s, no reload."""
    http.ok("POST", "/services/register", {"service_name": "counter", "instance_name": "c1", "node": node})
    registered = time.monotonic()
    wait_for(driver, "c1 to appear", lambda d: d.find_elements(By.CSS_SELECTOR, row(node, "c1")), timeout=1)
    print(f"  c1 appeared {time.monotonic() - registered:.3f} s after registering")
    wait_state(driver, node, "c1", "initialized")


def start_shows_running(driver, node):
    click_action(driver, node, "c1", "start")
    wait_state(driver, node, "c1", "running")


def refused_configuration_shows_detail(driver, http, node):
    """The 422 detail of a refused configure shows in the form; a good one is applied."""
    click_action(driver, node, "c1", "stop")
    wait_state(driver, node, "c1", "stopped")
    click_action(driver, node, "c1", "configure")
    dialog = driver.find_element(By.ID, "configure")
    wait_for(driver, "the configure form", lambda d: dialog.is_displayed() and dialog.find_elements(By.NAME, "step"))
    for typed, detail in [("abc", "field 'step' must be an integer"), ("0", "field 'step' must be greater than 0")]:
        set_text(dialog.find_element(By.NAME, "step"), typed)
        dialog.find_element(By.CSS_SELECTOR, 'button[value="configure"]').click()
        wait_for(driver, f"the 422 detail for step {typed}", lambda d: detail in text_of(d, "#configure .refusal"))
        assert text_of(driver, "#configure .refusal").startswith("422"), text_of(driver, "#configure .refusal")
    set_text(dialog.find_element(By.NAME, "step"), "3")
    dialog.find_element(By.CSS_SELECTOR, 'button[value="configure"]').click()
    wait_for(driver, "the form to close", lambda d: not dialog.is_displayed())
    wait_state(driver, node, "c1", "configured")
    assert http.ok("GET", f"/nodes/{node}/services/c1")["metadata"]["step"] == 3


def failure_and_restart_show_live(driver, http, node):
    """A faulty instance set to restart on failure: after POST /fail the row
    shows error, then running again with restarts 1, without a reload."""
    http.ok("POST", "/services/register", {"service_name": "faulty", "instance_name": "f1", "node": node})
    wait_state(driver, node, "f1", "initialized", timeout=1)
    click_action(driver, node, "f1", "configure")
    dialog = driver.find_element(By.ID, "configure")
    wait_for(driver, "the configure form", lambda d: dialog.is_displayed() and dialog.find_elements(By.NAME, "restart"))
    Select(dialog.find_element(By.NAME, "restart")).select_by_value("on-failure")
    set_text(dialog.find_element(By.NAME, "restart_delay_seconds"), "0.2")
    dialog.find_element(By.CSS_SELECTOR, 'button[value="start"]').click()
    wait_state(driver, node, "f1", "running")
    record_row_changes(driver, node, "f1")
    slow_status_reads(driver, "f1")
    http.ok("POST", f"/nodes/{node}/services/f1/fail", {"reason": "boom"})
    wait_for(driver, "f1 running again with 1 restart",
             lambda d: cell(d, node, "f1", "state") == "running" and cell(d, node, "f1", "restarts") == "1")
    seen = driver.execute_script("return window.rowChanges")
    errors = [i for i, (state, error) in enumerate(seen) if state.startswith("error") and error == "boom"]
    assert errors, f"f1 never showed error/boom: {seen}"
    assert any(state == "running" for state, _ in seen[errors[0]:]), f"no running after the error: {seen}"
    logged = text_of(driver, "#events")
    assert f"{node}/f1" in logged and "boom" in logged, logged


def register_and_deregister_from_the_page(driver, node):
    form = driver.find_element(By.ID, "register")
    Select(form.find_element(By.NAME, "class")).select_by_value("echo")
    set_text(form.find_element(By.NAME, "instance"), "e1")
    Select(form.find_element(By.NAME, "node")).select_by_value(node)
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait_state(driver, node, "e1", "initialized")
    click_action(driver, node, "e1", "deregister")
    wait_for(driver, "the confirmation", expected_conditions.alert_is_present())
    driver.switch_to.alert.accept()
    wait_for(driver, "e1 to go", lambda d: not d.find_elements(By.CSS_SELECTOR, row(node, "e1")))


def set_text(element, text):
    element.clear()
    element.send_keys(text)


def slow_status_reads(driver, name, delay_ms=400):
    """From now on the page's status reads of `name` answer `delay_ms` late
    (a slow link, or a busy node): its list reads, sent later, then come
    back first. The row must still end up with what the last status says."""
    driver.execute_script(
        """
        const [name, delay] = arguments;
        const fetchNow = window.fetch;
        window.fetch = async (url, options) => {
          const response = await fetchNow(url, options);
          const path = new URL(url, location.href).pathname;
          if ((options?.method ?? "GET") === "GET" && path.endsWith(`/services/${name}`))
            await new Promise((resolve) => setTimeout(resolve, delay));
          return response;
        };
        """,
        name,
        delay_ms,
    )


def record_row_changes(driver, node, name):
    """Records every (state, error) the row shows from now on, in the page."""
    driver.execute_script(
        """
        const row = document.querySelector(arguments[0]);
        const seen = window.rowChanges = [];
        const note = () => seen.push([row.querySelector("td.state").textContent, row.querySelector("td.error").textContent]);
        new MutationObserver(note).observe(row, {childList: true, characterData: true, subtree: true});
        note();
        """,
        row(node, name),
    )


def run_flows(driver, http, node, faulty_node, timer):
    appears_live(driver, http, node)
    timer.step("registered from outside: appeared")
    start_shows_running(driver, node)
    timer.step("start: running")
    refused_configuration_shows_detail(driver, http, node)
    timer.step("configure: 422 details, then configured")
    failure_and_restart_show_live(driver, http, faulty_node)
    timer.step("failure: error, then running with 1 restart")
    register_and_deregister_from_the_page(driver, node)
    timer.step("register and deregister from the page")


# -- scenarios -------------------------------------------------------------------------


def cluster_without_auth(started, driver, output, timer):
    seed_port = free_port()
    a = started.start("a", node_args=["--node-id", "a", "--node-port", str(seed_port)])
    b = started.start("b", node_args=["--node-id", "b", "--node-port", str(free_port()),
                                      "--join", f"127.0.0.1:{seed_port}"])
    http = Http(a.base)
    wait_for(driver, "node b to join", lambda _: len(http.ok("GET", "/nodes")["nodes"]) == 2)
    driver.get(a.base + "/ui")
    wait_live(driver, ["a", "b"])
    assert_no_console_errors(driver)
    timer.step("cluster dashboard loaded")

    run_flows(driver, http, "b", "a", timer)
    # A few more instances, for a screenshot that shows the states.
    for name, service, node in [("ticker", "ticker", "a"), ("inventory", "store", "a"), ("worker", "faulty", "b")]:
        http.ok("POST", "/services/register", {"service_name": service, "instance_name": name, "node": node})
    http.ok("POST", "/services/ticker/start")
    http.ok("POST", "/nodes/b/services/worker/start")
    http.ok("POST", "/nodes/b/services/worker/fail", {"reason": "lost the connection to the queue"})
    wait_state(driver, "a", "ticker", "running")
    wait_state(driver, "b", "worker", "error")
    tidy_for_screenshot(driver)
    screenshot(driver, output, "dashboard.png")

    b.stop()
    wait_for(driver, "node b down", lambda d: "down" in text_of(d, '#nodes li[data-node="b"]'), timeout=5)
    assert "stale" in driver.find_element(By.CSS_SELECTOR, row("b", "c1")).get_attribute("class")
    screenshot(driver, output, "dashboard-node-down.png")
    # Requests refused on purpose (the 422s) log network errors.
    assert_no_console_errors(driver, allowed_statuses=(422,))
    timer.step("node b down: shown")


def cluster_instance_moves_live(started, driver, output, timer):
    """A cluster instance shows under its owner, marked `cluster`; when the
    owner is killed it shows under the node that took it over, without a
    reload, and no longer under the dead one."""
    etcd = Etcd(started.workdir)
    try:
        config = "cluster:\n  lease_seconds: 2\nservices: {}\n"
        nodes = {}
        for node_id in ["a", "b"]:
            nodes[node_id] = started.start(
                f"store-{node_id}", config,
                node_args=["--node-id", node_id, "--node-port", str(free_port()),
                           "--cluster-store", etcd.endpoint])
        http = Http(nodes["a"].base)
        wait_for(driver, "both nodes up", lambda _: [n["state"] for n in http.ok("GET", "/nodes")["nodes"]] == ["up", "up"],
                 timeout=15)
        http.ok("POST", "/services/register", {"service_name": "echo", "instance_name": "leader", "placement": "cluster"})
        http.ok("POST", "/services/leader/start")
        owner = http.ok("GET", "/cluster/services")["services"][0]["owner"]
        survivor = "b" if owner == "a" else "a"
        driver.get(nodes[survivor].base + "/ui")
        wait_live(driver, ["a", "b"])
        wait_state(driver, owner, "leader", "running")
        wait_for(driver, "the cluster mark", lambda d: "cluster" in cell(d, owner, "leader", "name"))
        timer.step("cluster instance shown under its owner")

        nodes[owner].process.kill()
        killed = time.monotonic()
        wait_state(driver, survivor, "leader", "running", timeout=15)
        print(f"  leader shown running on {survivor} {time.monotonic() - killed:.3f} s after kill -9 of {owner}")
        wait_for(driver, "the old owner's row to go",
                 lambda d: not d.find_elements(By.CSS_SELECTOR, row(owner, "leader")))
        assert "cluster" in cell(driver, survivor, "leader", "name")
        screenshot(driver, output, "dashboard-failover.png")
        assert_no_console_errors(driver)
        timer.step("cluster instance moved live")
    finally:
        leave_page(driver)
        started.stop_all()
        etcd.stop()


def reconnects_after_restart(driver, node, http):
    """The stream drops with the node; the page reconnects by itself and
    shows the new boot's instances."""
    node.restart()
    wait_for(driver, "the page to notice", lambda d: "reconnecting" in text_of(d, "#stream") or
             not d.find_elements(By.CSS_SELECTOR, row("a", "c1")), timeout=5)
    wait_for(driver, "the stream to be live again", lambda d: text_of(d, "#stream") == "live", timeout=15)
    wait_for(driver, "the old boot's rows to go", lambda d: not d.find_elements(By.CSS_SELECTOR, row("a", "c1")))
    http.ok("POST", "/services/register", {"service_name": "echo", "instance_name": "after_restart"})
    wait_state(driver, "a", "after_restart", "initialized", timeout=1)


def event_stream_parser_takes_any_chunks(driver):
    """The SSE parser of api.js gives the same events however the bytes are cut."""
    events = driver.execute_async_script(
        r"""
        const done = arguments[arguments.length - 1];
        import(new URL("ui/api.js", location.href).href).then(({ EventStreamParser }) => {
          const stream = ": keep-alive\r\n\r\nid: b:1\r\nevent: running\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n" +
                         "event: node_down\ndata: {}\n\n";
          const results = [];
          for (const size of [1, 2, 3, 5, 7, stream.length]) {
            const seen = [];
            const parser = new EventStreamParser((event) => seen.push(event));
            for (let at = 0; at < stream.length; at += size) parser.push(stream.slice(at, at + size));
            results.push(JSON.stringify(seen));
          }
          done(results);
        });
        """
    )
    expected = [{"event": "running", "data": '{"a":\n1}', "id": "b:1"}, {"event": "node_down", "data": "{}", "id": ""}]
    for result in events:
        assert json.loads(result) == expected, result


def node_with_auth(started, driver, output, timer):
    node = started.start("auth", config=AUTH_CONFIG, node_args=["--node-id", "a"])
    driver.get(node.base + "/ui")
    enter_token(driver, "not-the-token", expect_reason="needs a bearer token")
    enter_token(driver, ADMIN_TOKEN, expect_reason="refused the token")
    wait_live(driver, ["a"])
    timer.step("auth: signed in after the token prompt")
    run_flows(driver, Http(node.base, ADMIN_TOKEN), "a", "a", timer)
    urls = driver.execute_script("return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")
    assert not [url for url in urls if ADMIN_TOKEN in url], urls
    assert driver.execute_script("return sessionStorage.getItem('processpype.token')") == ADMIN_TOKEN
    tidy_for_screenshot(driver)
    screenshot(driver, output, "dashboard-auth.png")
    event_stream_parser_takes_any_chunks(driver)
    assert_no_console_errors(driver, allowed_statuses=(401, 422))
    reconnects_after_restart(driver, node, Http(node.base, ADMIN_TOKEN))
    timer.step("auth: reconnected after the node restarted")


def enter_token(driver, token, expect_reason):
    wait_for(driver, "the token prompt", lambda d: d.find_elements(By.CSS_SELECTOR, "dialog.token-dialog[open]"))
    dialog = driver.find_element(By.CSS_SELECTOR, "dialog.token-dialog[open]")
    assert expect_reason in dialog.text, dialog.text
    dialog.find_element(By.NAME, "token").send_keys(token)
    # Closing drops [open] at once, so the next prompt found is a new one.
    dialog.find_element(By.CSS_SELECTOR, 'button[value="ok"]').click()


def tidy_for_screenshot(driver):
    """Closes the toast and takes the mouse off the buttons."""
    notices = driver.find_elements(By.CSS_SELECTOR, "#notice:not([hidden])")
    if notices:
        notices[0].click()
    ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, ".bar h1")).perform()


def leave_page(driver):
    """Leaves the page before its servers stop, so that the requests they
    cut do not count as console errors of the next scenario."""
    driver.get("about:blank")
    driver.get_log("browser")


def leave_and_stop_servers(started, driver, _output, _timer):
    """Between two scenarios: the next one starts from a blank page and its
    own servers."""
    leave_page(driver)
    started.stop_all()


# -- a node with 20,000 instances (5,000 in the sanitized pass) ------------------------

# The sanitized pass (scripts/test.sh) runs a slower node: fewer instances there.
SCALE = 5_000 if os.environ.get("PROCESSPYPE_TEST_SANITIZED") else 20_000
PAGE = 50
RUNNING_EVERY = 1_000  # n00000, n01000, ... run; the others are initialized


def scale_name(index):
    return f"n{index:05d}"


def fill_node(node):
    """SCALE counters, registered over HTTP by concurrent clients (quicker
    than the node's file on this machine: see register_many); one in
    RUNNING_EVERY started, the others left initialized."""
    register_many(node.base, [scale_name(i) for i in range(SCALE)], "counter")
    http = Http(node.base)
    for index in range(0, SCALE, RUNNING_EVERY):
        http.ok("POST", f"/services/{scale_name(index)}/start")


def group(node):
    return f'#instances tbody[data-node="{node}"]'


def shown_names(driver, node):
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' tr[data-name]')].map(r => r.dataset.name)", group(node))


def wait_names(driver, node, expected, what, timeout=5):
    wait_for(driver, what, lambda d: shown_names(d, node) == expected, timeout)


def shown_counts(driver, node):
    """The counts on the node's card: {"total": n, "<state>": n, ...}."""
    return driver.execute_script(
        """return Object.fromEntries([...document.querySelectorAll(arguments[0])]
                  .map(e => [e.dataset.count, Number(e.dataset.value)]))""",
        f'#nodes li[data-node="{node}"] [data-count]')


def api_counts(http):
    counts = http.ok("GET", "/services?limit=1&counts=true")["counts"]
    return {key: value for key, value in counts.items() if key == "total" or value > 0}


def set_search(driver, text):
    search = driver.find_element(By.CSS_SELECTOR, "#filters input[type=search]")
    search.clear()
    if text:
        search.send_keys(text)


def choose(driver, name, value):
    Select(driver.find_element(By.CSS_SELECTOR, f"#filters select[name={name}]")).select_by_value(value)


def listed(http, query):
    """The names GET /services?<query> lists: the order the page must show."""
    return [service["name"] for service in http.ok("GET", f"/services?{query}")["services"]]


def first_page_of_many(driver, node, timer):
    """The first rows show quickly: one page, in the node's order, with the
    node's counts from the API."""
    http = Http(node.base)
    first_page = listed(http, f"limit={PAGE}")
    asked = time.monotonic()
    driver.get(node.base + "/ui")
    wait_names(driver, "big", first_page, "the first page of rows", timeout=5)
    print(f"  first {PAGE} rows of {SCALE:,} shown {time.monotonic() - asked:.3f} s after the page was asked")
    timer.step(f"{SCALE:,} instances: first rows")
    running = SCALE // RUNNING_EVERY
    expected = {"total": SCALE, "initialized": SCALE - running, "running": running}
    wait_for(driver, "the counts", lambda d: shown_counts(d, "big") == expected)
    assert api_counts(http) == expected
    assert text_of(driver, f"{group('big')} .range") == f"1–{PAGE} of {SCALE:,}", text_of(driver, f"{group('big')} .range")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#instances tr[data-name]")) == PAGE


def pages_forward_and_back(driver, http):
    first_page = listed(http, f"limit={PAGE}")
    driver.find_element(By.CSS_SELECTOR, f'{group("big")} button[data-page="next"]').click()
    wait_names(driver, "big", listed(http, f"limit={PAGE}&after={first_page[-1]}"), "the second page")
    assert text_of(driver, f"{group('big')} .range") == f"{PAGE + 1}–{2 * PAGE} of {SCALE:,}"
    driver.find_element(By.CSS_SELECTOR, f'{group("big")} button[data-page="previous"]').click()
    wait_names(driver, "big", first_page, "the first page again")


def search_and_filters(driver, http):
    target = scale_name(SCALE - 1234)
    set_search(driver, target)
    wait_names(driver, "big", [target], f"the search to find {target}")
    part = target[:-1]  # the ten names that differ in the last digit contain it
    set_search(driver, part.upper())  # in any case
    wait_names(driver, "big", listed(http, f"search={part}"), "the search in capitals")
    assert sorted(shown_names(driver, "big")) == [f"{part}{digit}" for digit in range(10)]
    set_search(driver, "")
    choose(driver, "state", "running")
    running = [scale_name(i) for i in range(0, SCALE, RUNNING_EVERY)]
    wait_for(driver, "the running ones", lambda d: sorted(shown_names(d, "big")) == running)
    assert text_of(driver, f"{group('big')} .range") == f"1–{len(running)} of {len(running)}"
    choose(driver, "type", "echo")
    wait_names(driver, "big", [], "no running echo")
    assert text_of(driver, "#empty") == "No instance matches the filters."
    choose(driver, "type", "counter")
    choose(driver, "state", "")
    wait_names(driver, "big", listed(http, f"limit={PAGE}"), "every counter")


def live_change_of_a_shown_row(driver, http):
    """Start and stop a shown instance over HTTP: its row and the counts follow."""
    page = http.ok("GET", f"/services?limit={PAGE}")["services"]
    name = [service["name"] for service in page if service["state"] == "initialized"][-1]
    assert name in shown_names(driver, "big"), name
    running = SCALE // RUNNING_EVERY
    sent = time.monotonic()
    http.ok("POST", f"/services/{name}/start")
    wait_state(driver, "big", name, "running", timeout=2)
    print(f"  {name} shown running {time.monotonic() - sent:.3f} s after the start was sent")
    wait_for(driver, "the counts after the start",
             lambda d: shown_counts(d, "big") == {"total": SCALE, "initialized": SCALE - running - 1, "running": running + 1})
    http.ok("POST", f"/services/{name}/stop")
    wait_state(driver, "big", name, "stopped", timeout=2)
    expected = {"total": SCALE, "initialized": SCALE - running - 1, "running": running, "stopped": 1}
    wait_for(driver, "the counts after the stop", lambda d: shown_counts(d, "big") == expected)
    assert api_counts(http) == expected


def registration_off_the_page_counts(driver, http):
    """An instance registered past the page shown changes the counts only."""
    page = shown_names(driver, "big")
    before = shown_counts(driver, "big")
    http.ok("POST", "/services/register", {"service_name": "echo", "instance_name": "late"})
    wait_for(driver, "the total after a registration",
             lambda d: shown_counts(d, "big")["total"] == SCALE + 1 and
             shown_counts(d, "big")["initialized"] == before["initialized"] + 1)
    assert shown_names(driver, "big") == page
    http.ok("DELETE", "/services/late")
    wait_for(driver, "the total after a deregistration", lambda d: shown_counts(d, "big") == before)
    assert shown_names(driver, "big") == page


def node_with_many_instances(started, driver, output, timer):
    node = started.start("big", node_args=["--node-id", "big"])
    fill_node(node)
    timer.step(f"a node with {SCALE:,} instances")
    http = Http(node.base)
    first_page_of_many(driver, node, timer)
    pages_forward_and_back(driver, http)
    timer.step(f"{SCALE:,} instances: next and previous page")
    search_and_filters(driver, http)
    timer.step(f"{SCALE:,} instances: search, state and class filters")
    live_change_of_a_shown_row(driver, http)
    registration_off_the_page_counts(driver, http)
    timer.step(f"{SCALE:,} instances: live changes and the counts")
    tidy_for_screenshot(driver)
    screenshot(driver, output, "dashboard-many.png")
    assert_no_console_errors(driver)


if __name__ == "__main__":
    scenarios = [cluster_without_auth, leave_and_stop_servers, cluster_instance_moves_live,
                 node_with_auth, leave_and_stop_servers, node_with_many_instances]
    sys.exit(run_scenarios(__doc__, "dashboard-failure.png", scenarios))
