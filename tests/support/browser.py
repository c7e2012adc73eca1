"""Real browsers for the tests: Debian's headless Chromium, driven with Playwright's Python API, and
Debian's Firefox ESR, driven over Marionette (its own remote protocol) with Mozilla's marionette_driver.

Nothing is downloaded at test time (never ``playwright install``): Playwright launches the Chromium the
machine has (``$OPENLQS_CHROMIUM``, else ``chromium`` on the PATH; ``make test`` installs Debian's
``chromium`` when it is missing, see scripts/test-tools.sh), with a fresh profile and the flags that keep
it off the network. Without a browser (or Playwright) a test that needs one is skipped saying why, and
fails under ``CI=true`` (and under ``OPENLQS_REQUIRE_BROWSER=1``: ``make test-console``).

``browser_page`` is a page in that browser; :class:`Screenshots` writes PNGs under the test's own
temporary folder (``tmp_path / "screenshots"``), the last one when the test ends, pass or fail.

``firefox_page`` is a :class:`FirefoxPage` in headless Firefox (``$OPENLQS_FIREFOX``, else
``firefox-esr`` or ``firefox`` on the PATH), with a fresh profile. Playwright's own Firefox is a
patched build it would download, and its WebDriver BiDi channel for a stock Firefox needs commands that
Firefox ESR does not have yet (``emulation.setMediaFeaturesOverride``); Marionette is what every
Firefox speaks, with no driver binary between (geckodriver is not packaged by Debian).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.real_files import in_ci

CHROMIUM_ENV = "OPENLQS_CHROMIUM"
FIREFOX_ENV = "OPENLQS_FIREFOX"
#: Set (to anything but "") to fail, not skip, the browser tests of a machine without a browser.
REQUIRE_BROWSER_ENV = "OPENLQS_REQUIRE_BROWSER"
#: Chromium's flags for a machine with no network but loopback: no background connections, no GPU,
#: no sandbox (tests may run as root).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: How long a step may wait for the page (generous: a loaded machine renders Swagger UI slowly).
STEP_TIMEOUT_MS = 30_000


def find_chromium() -> str | None:
    """The Chromium executable to drive, if this machine has one."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def find_firefox() -> str | None:
    """The Firefox executable to drive, if this machine has one."""
    configured = os.environ.get(FIREFOX_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("firefox-esr", "firefox"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason}; CI=true needs the browser tests to run", pytrace=False)
    if os.environ.get(REQUIRE_BROWSER_ENV):
        pytest.fail(f"{reason}; {REQUIRE_BROWSER_ENV} is set (make test-console)", pytrace=False)
    pytest.skip(reason)


def require_browser() -> str:
    """The Chromium executable, with Playwright importable; skips (or fails) the test otherwise. For a
    module fixture to call before it starts anything costly the browser tests would not use."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[dev]')")
    executable = find_chromium()
    if executable is None:
        _unavailable(
            f"no Chromium found (install Debian's chromium, or set {CHROMIUM_ENV}); "
            "make test installs it when it can"
        )
    assert executable is not None
    return executable


class Screenshots:
    """Numbered screenshots of one page, under one folder."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.taken: list[Path] = []

    def take(self, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.taken.append(path)
        return path


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, Screenshots]]:
    """``(page, screenshots)``: a Playwright page in headless Chromium with a fresh profile."""
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        screenshots = Screenshots(page, tmp_path / "screenshots")
        try:
            yield page, screenshots
        finally:
            try:
                screenshots.take("last")
            finally:
                context.close()


def require_firefox() -> str:
    """The Firefox executable, with marionette_driver importable; skips (or fails) the test otherwise."""
    try:
        import marionette_driver.marionette  # noqa: F401
    except ImportError:
        _unavailable("marionette_driver is not installed (pip install -e '.[dev]')")
    executable = find_firefox()
    if executable is None:
        _unavailable(
            f"no Firefox found (install Debian's firefox-esr, or set {FIREFOX_ENV}); "
            "make test installs it when it can"
        )
    assert executable is not None
    return executable


class FirefoxPage:
    """One tab of a headless Firefox over Marionette, with the few steps the tests take: go to a URL,
    run a script in the page, wait for a condition, click and type as a user (WebDriver actions, so real
    key and mouse events), and numbered screenshots like :class:`Screenshots`."""

    def __init__(self, marionette: Any, folder: Path) -> None:
        self.marionette = marionette
        self.folder = folder
        self.taken: list[Path] = []

    def goto(self, url: str) -> None:
        self.marionette.navigate(url)

    def js(self, body: str, *args: Any) -> Any:
        """The value of a function body run in the page (``arguments[i]`` are ``args``)."""
        return self.marionette.execute_script(body, script_args=list(args), sandbox=None)

    def wait(self, body: str, *args: Any, timeout_s: float = STEP_TIMEOUT_MS / 1000) -> Any:
        """Wait until a function body run in the page returns something truthy; returns it."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.js(body, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for: {body}")
            time.sleep(0.1)

    def element(self, css: str) -> Any:
        from marionette_driver.by import By

        self.wait("return document.querySelector(arguments[0]) !== null", css)
        return self.marionette.find_element(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        self.element(css).click()

    def type(self, css: str, text: str) -> None:
        self.element(css).send_keys(text)

    def screenshot(self, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        path.write_bytes(base64.b64decode(self.marionette.screenshot(full=False)))
        self.taken.append(path)
        return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: Firefox's preferences for a machine with no network but loopback (on top of the ones Marionette
#: sets itself: no updates, no telemetry, no first-run pages).
FIREFOX_PREFS = {
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/remote-settings",
    "browser.download.folderList": 2,
}


@pytest.fixture
def firefox_page(tmp_path: Path) -> Iterator[FirefoxPage]:
    """A :class:`FirefoxPage` in headless Firefox with a fresh profile, its window 1280 wide."""
    executable = require_firefox()
    from marionette_driver.marionette import Marionette

    profile = tmp_path / "firefox-profile"
    profile.mkdir()
    port = _free_port()
    prefs = {**FIREFOX_PREFS, "marionette.port": port, "browser.download.dir": str(tmp_path / "downloads")}
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(name)}, {json.dumps(value)});\n" for name, value in prefs.items())
    )
    process = subprocess.Popen(
        [executable, "--headless", "--marionette", "--no-remote", "--profile", str(profile)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOZ_HEADLESS_WIDTH": "1280", "MOZ_HEADLESS_HEIGHT": "800"},
    )
    try:
        marionette = Marionette(host="127.0.0.1", port=port, startup_timeout=60)
        marionette.start_session()
        marionette.timeout.script = STEP_TIMEOUT_MS / 1000
        page = FirefoxPage(marionette, tmp_path / "screenshots")
        try:
            yield page
        finally:
            try:
                page.screenshot("last")
            finally:
                marionette.delete_session()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
