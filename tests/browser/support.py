"""What the browser tests share: a processpype server on a free port, HTTP
requests from outside the browser (urllib), headless Chromium through
Selenium, and waits that give up after a bounded time."""

import argparse
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ADMIN_TOKEN = "secret-admin-token"
READ_TOKEN = "reader-token"
# The node rejects a configuration file without a services section (see the
# report), so every file written here has one.
AUTH_CONFIG = f"""server:
  auth:
    admin_token: {ADMIN_TOKEN}
    read_token: {READ_TOKEN}
services: {{}}
"""


def arguments(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server", required=True, help="the processpype binary")
    parser.add_argument("--output", required=True, help="where screenshots and logs go")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parsed = parser.parse_args()
    Path(parsed.output).mkdir(parents=True, exist_ok=True)
    return parsed


_handed_out = set()


def free_port():
    """A port of 127.0.0.1 free a moment ago, never returned before by this
    process: once the probe is closed the kernel may offer the same port
    again, and a node's node port and HTTP port must differ."""
    for _ in range(1000):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("free_port: every port the kernel offered was handed out already")


# -- HTTP from outside the browser -----------------------------------------------------


class Http:
    """curl, in Python: JSON requests to one node, with an optional token."""

    def __init__(self, base, token=None):
        self.base = base
        self.token = token

    def call(self, method, path, body=None, timeout=10):
        """(status, parsed JSON body or text) of one request."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, decode(error.read())

    def ok(self, method, path, body=None):
        """The reply of a request that must succeed."""
        status, reply = self.call(method, path, body)
        assert 200 <= status < 300, f"{method} {path} answered {status}: {reply}"
        return reply


def register_many(base, names, service_name, clients=8, token=None):
    """Registers an instance of `service_name` for each of `names` on the node
    at `base`, over `clients` concurrent keep-alive connections (on this
    machine about 6,000 a second: quicker than a node reading them from its
    file, which also configures each). Fails on the first refusal."""
    address = urllib.parse.urlsplit(base)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    failures = []

    def register(share):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        try:
            for name in share:
                body = json.dumps({"service_name": service_name, "instance_name": name})
                connection.request("POST", address.path + "/services/register", body, headers)
                response = connection.getresponse()
                reply = response.read()
                if response.status != 200:
                    failures.append(f"register {name}: {response.status} {reply[:200]!r}")
                    return
        except OSError as error:
            failures.append(f"register: {error}")
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(names[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]


def decode(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


# -- servers ---------------------------------------------------------------------------


def die_with_this_test():
    """Runs in the child before exec: the node gets SIGKILL when the test
    process dies, even if CTest's timeout kills it before its cleanup."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class Server:
    """One processpype node on 127.0.0.1, started and stopped by the test."""

    def __init__(self, binary, workdir, name, config=None, node_args=(), api_prefix=""):
        self.name = name
        self.port = free_port()
        # Where the API is: the pages are base + "/ui" and base + "/docs".
        self.base = f"http://127.0.0.1:{self.port}{api_prefix}"
        self.log_path = Path(workdir) / f"server-{name}.log"
        command = [binary, "--host", "127.0.0.1", "--port", str(self.port), *node_args]
        if api_prefix:
            command += ["--api-prefix", api_prefix]
        if config is not None:
            config_path = Path(workdir) / f"server-{name}.yaml"
            config_path.write_text(config)
            command += ["--config", str(config_path)]
        self.command = command
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_this_test)
        self.wait_ready()

    def wait_ready(self, timeout=10):
        """Until GET /health/live answers (it needs no token); a node that
        does not is stopped before the error goes up."""
        try:
            self.wait_live(timeout)
        except Exception:
            self.stop()
            raise

    def restart(self):
        """Stops the node and starts it again on the same port (a new boot)."""
        self.stop()
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_this_test)
        self.wait_ready()

    def wait_live(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server {self.name} exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.base + "/health/live", timeout=1):
                    return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError(f"server {self.name} did not answer within {timeout} s")

    def stop(self, grace=3):
        """SIGTERM, then SIGKILL if it has not exited within `grace` s.
        (A node that served an event stream may hang at exit: see
        README.md here; these tests are about the pages, not about that.)"""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(f"  server {self.name} still running {grace} s after SIGTERM: killed", flush=True)
                self.process.kill()
                self.process.wait()
        self.log.close()


class Etcd:
    """One etcd member (Debian etcd-server) on 127.0.0.1, its data in `workdir`:
    the cluster store of docs/cluster.md. Stopped by stop() (SIGKILL)."""

    def __init__(self, workdir, timeout=20):
        client, peer = free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{client}"
        data = tempfile.mkdtemp(prefix="etcd-", dir=workdir)
        self.log = open(Path(workdir) / "etcd.log", "w")
        binary = shutil.which("etcd") or "/usr/bin/etcd"
        self.process = subprocess.Popen(
            [binary, "--data-dir", data, "--name", "e0",
             "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"e0=http://127.0.0.1:{peer}"],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=die_with_this_test)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"etcd exited: {(Path(workdir) / 'etcd.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as reply:
                    if json.loads(reply.read()).get("health") == "true":
                        return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"etcd did not become healthy within {timeout} s")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Servers:
    """Every server a test started, stopped at the end whatever happens."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.started = []

    def start(self, name, config=None, node_args=(), api_prefix=""):
        server = Server(self.binary, self.workdir, name, config, node_args, api_prefix)
        self.started.append(server)
        return server

    def stop_all(self):
        for server in reversed(self.started):
            server.stop()


@contextmanager
def servers(binary, workdir):
    started = Servers(binary, workdir)
    try:
        yield started
    finally:
        started.stop_all()


# -- the browser -----------------------------------------------------------------------


@contextmanager
def browser(chromium, chromedriver):
    """Headless Chromium with a fresh profile, and nothing that needs the internet."""
    profile = tempfile.mkdtemp(prefix="processpype-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1360,900",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, what, condition, timeout=5):
    """condition(driver) until it is truthy; fails naming `what` after `timeout` s."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: condition(d), message=f"waited {timeout} s for {what}"
    )


def text_of(driver, css):
    """The text of the first element matching `css`, or "" if there is none."""
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def console_errors(driver, allowed_statuses=()):
    """SEVERE console entries since the last call, except failed requests
    with a status the test provoked on purpose (e.g. 401 before the token,
    422 from a refused configuration)."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        message = entry["message"]
        if entry.get("source") == "network" and any(f"status of {status}" in message for status in allowed_statuses):
            continue
        errors.append(message)
    return errors


def assert_no_console_errors(driver, allowed_statuses=()):
    errors = console_errors(driver, allowed_statuses)
    assert not errors, "console errors:\n" + "\n".join(errors)


def screenshot(driver, output, name):
    path = Path(output) / name
    driver.save_screenshot(str(path))
    return path


class Timer:
    """Prints how long each step took, so a slow step is easy to find."""

    def __init__(self):
        self.start = self.last = time.monotonic()

    def step(self, what):
        now = time.monotonic()
        print(f"[{now - self.start:6.2f} s] {what} ({now - self.last:.2f} s)", flush=True)
        self.last = now


def run_scenarios(description, failure_screenshot, scenarios):
    """A browser test's main: parses the command line (see arguments), starts
    headless Chromium and a manager of servers, then runs each
    scenario(started, driver, output, timer) in order. On a failure it saves
    the page as `failure_screenshot` and re-raises. Returns the exit code."""
    args = arguments(description)
    timer = Timer()
    with servers(args.server, args.output) as started, browser(args.chromium, args.chromedriver) as driver:
        timer.step("browser started")
        try:
            for scenario in scenarios:
                scenario(started, driver, args.output, timer)
        except Exception:
            screenshot(driver, args.output, failure_screenshot)
            raise
    timer.step("done")
    return 0
