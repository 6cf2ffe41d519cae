#!/usr/bin/env python3
"""The docs page (/docs) in headless Chromium: every operation of
/openapi.json is shown, and a request sent from an operation's form shows
its status and body; without auth, then with auth after the token prompt.

    docs_test.py --server build/server/processpype --output DIR
"""

import json
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from support import (
    ADMIN_TOKEN,
    AUTH_CONFIG,
    Http,
    assert_no_console_errors,
    run_scenarios,
    screenshot,
    wait_for,
)


def operation(driver, method, path):
    """The operation's element, opened and scrolled to."""
    found = driver.find_element(By.CSS_SELECTOR, f'details.operation[data-method="{method}"][data-path="{path}"]')
    if not found.get_attribute("open"):
        found.find_element(By.TAG_NAME, "summary").click()
    driver.execute_script("arguments[0].scrollIntoView()", found)
    return found


def send(driver, method, path, parameters=None, body=None):
    """Fills the operation's form, sends it, and returns (status line, body)."""
    form = operation(driver, method, path)
    for name, value in (parameters or {}).items():
        field = form.find_element(By.NAME, name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)
    if body is not None:
        driver.execute_script("arguments[0].value = arguments[1]", form.find_element(By.NAME, "body"), json.dumps(body))
    form.find_element(By.CSS_SELECTOR, "button.primary").click()
    # Sending empties the result at once: a <pre> is this request's reply.
    result = form.find_element(By.CSS_SELECTOR, ".result")
    wait_for(driver, f"the reply to {method} {path}", lambda _: result.find_elements(By.TAG_NAME, "pre"))
    return result.find_element(By.CSS_SELECTOR, ".status").text, result.find_element(By.TAG_NAME, "pre").text


def every_operation_shown(driver, http):
    spec = http.ok("GET", "/openapi.json")
    expected = {(method.upper(), path) for path, operations in spec["paths"].items() for method in operations}
    wait_for(driver, "the operations", lambda d: d.find_elements(By.CSS_SELECTOR, "details.operation"))
    shown = driver.execute_script(
        "return [...document.querySelectorAll('details.operation')].map(o => [o.dataset.method, o.dataset.path])")
    assert {tuple(pair) for pair in shown} == expected, shown


def body_prefilled_from_defaults(driver):
    form = operation(driver, "POST", "/services/{name}/configure")
    prefill = json.loads(form.find_element(By.NAME, "body").get_attribute("value"))
    assert prefill["step"] == 1 and prefill["restart"] == "never", prefill
    Select(form.find_element(By.NAME, "example")).select_by_visible_text("store configuration")
    prefill = json.loads(form.find_element(By.NAME, "body").get_attribute("value"))
    assert "capacity" in prefill and "step" not in prefill, prefill
    register = operation(driver, "POST", "/services/register")
    register_prefill = json.loads(register.find_element(By.NAME, "body").get_attribute("value"))
    assert register_prefill == {"service_name": "", "placement": "node"}, register_prefill


def requests_from_forms(driver, http):
    http.ok("POST", "/services/register", {"service_name": "counter", "instance_name": "c1"})
    status, body = send(driver, "GET", "/services/{name}", {"path:name": "c1"})
    assert status.startswith("200 OK"), status
    assert json.loads(body)["state"] == "initialized", body

    status, body = send(driver, "POST", "/services/{name}/configure", {"path:name": "c1"}, body={"step": 0})
    assert status.startswith("422"), status
    assert "field 'step' must be greater than 0" in json.loads(body)["detail"], body

    status, body = send(driver, "POST", "/services/register", body={"service_name": "echo", "instance_name": "d1"})
    assert status.startswith("200 OK"), status
    assert http.ok("GET", "/services/d1")["state"] == "initialized"

    status, body = send(driver, "GET", "/services", {"query:state": "initialized", "query:limit": "1"})
    assert status.startswith("200 OK"), status
    assert [service["name"] for service in json.loads(body)["services"]] == ["c1"], body


def without_auth(started, driver, output, timer):
    node = started.start("docs")
    http = Http(node.base)
    driver.get(node.base + "/docs")
    every_operation_shown(driver, http)
    assert_no_console_errors(driver)
    screenshot(driver, output, "docs-overview.png")
    timer.step("docs loaded: every operation shown")
    body_prefilled_from_defaults(driver)
    requests_from_forms(driver, http)
    timer.step("requests sent from forms")
    for method, path in [("POST", "/services/{name}/configure"), ("POST", "/services/register")]:
        driver.execute_script("arguments[0].open = false", operation(driver, method, path))
    driver.execute_script("arguments[0].scrollIntoView()", operation(driver, "GET", "/services/{name}"))
    screenshot(driver, output, "docs.png")
    assert_no_console_errors(driver, allowed_statuses=(422,))


def with_auth(started, driver, output, timer):
    node = started.start("docs-auth", config=AUTH_CONFIG)
    driver.get(node.base + "/docs")
    wait_for(driver, "the token prompt", lambda d: d.find_elements(By.CSS_SELECTOR, "dialog.token-dialog[open]"))
    dialog = driver.find_element(By.CSS_SELECTOR, "dialog.token-dialog[open]")
    dialog.find_element(By.NAME, "token").send_keys(ADMIN_TOKEN)
    dialog.find_element(By.CSS_SELECTOR, 'button[value="ok"]').click()
    http = Http(node.base, ADMIN_TOKEN)
    every_operation_shown(driver, http)
    timer.step("auth: docs loaded after the token prompt")
    requests_from_forms(driver, http)
    status, body = send(driver, "GET", "/nodes")
    assert status.startswith("200 OK") and json.loads(body)["nodes"], (status, body)
    screenshot(driver, output, "docs-auth.png")
    assert_no_console_errors(driver, allowed_statuses=(401, 422))
    timer.step("auth: requests sent from forms")


def under_an_api_prefix(started, driver, _output, timer):
    """With --api-prefix the pages are <prefix>/ui and <prefix>/docs, and
    their relative URLs and API calls stay under the prefix."""
    node = started.start("prefix", api_prefix="/api/v1")
    driver.get(node.base + "/docs")
    every_operation_shown(driver, Http(node.base))
    status, body = send(driver, "GET", "/nodes")
    assert status.startswith("200 OK") and "/api/v1/nodes" in status, status
    driver.get(node.base + "/ui")
    wait_for(driver, "the dashboard's stream", lambda d: d.find_element(By.ID, "stream").text == "live")
    assert_no_console_errors(driver)
    timer.step("under an API prefix: both pages work")


if __name__ == "__main__":
    sys.exit(run_scenarios(__doc__, "docs-failure.png", [without_auth, under_an_api_prefix, with_auth]))
