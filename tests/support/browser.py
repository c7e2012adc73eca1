"""A real browser for the tests: Debian's headless Chromium, driven with Playwright's Python API.

Nothing is downloaded at test time (never ``playwright install``): Playwright launches the Chromium the
machine has (``$OPENLQS_CHROMIUM``, else ``chromium`` on the PATH; ``make test`` installs Debian's
``chromium`` when it is missing, see scripts/test-tools.sh), with a fresh profile and the flags that keep
it off the network. Without a browser (or Playwright) a test that needs one is skipped saying why, and
fails under ``CI=true`` (and under ``OPENLQS_REQUIRE_BROWSER=1``: ``make test-console``).

``browser_page`` is a page in that browser; :class:`Screenshots` writes PNGs under the test's own
temporary folder (``tmp_path / "screenshots"``), the last one when the test ends, pass or fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.real_files import in_ci

CHROMIUM_ENV = "OPENLQS_CHROMIUM"
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
