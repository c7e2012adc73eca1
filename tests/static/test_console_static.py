"""The web console's files keep the rules its Content-Security-Policy and its users rely on.

No build step: what is in ``functions/console/static`` is what browsers run. Every module and asset
the page names exists; nothing parses API text as HTML; the key lives in session storage only and is
sent in the Authorization header only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_DIR

STATIC = PROJECT_DIR / "functions" / "console" / "static"
SCRIPTS = sorted(STATIC.glob("*.js"))


def test_console_page_names_only_files_that_exist() -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    named = re.findall(r"\{\{console_base\}\}([\w.-]+)", page)

    assert {"console.js", "console.css", "icon.svg"} <= set(named)
    assert all((STATIC / name).is_file() for name in named)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_console_modules_import_only_modules_that_exist(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    imported = re.findall(r'^import .* from "\./([\w.-]+)";$', text, re.M)

    assert all((STATIC / name).is_file() for name in imported), imported
    # Only relative module imports: nothing is fetched from another origin.
    assert not re.search(r'^import .* from "(?!\./)', text, re.M)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_console_never_parses_text_as_html_or_code(script: Path) -> None:
    text = script.read_text(encoding="utf-8")

    for forbidden in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("style"',
        "cssText",
        "localStorage",
        "javascript:",
    ):
        assert forbidden not in text, f"{script.name}: {forbidden}"


def test_console_keeps_the_key_in_session_storage_and_sends_it_as_a_header_only() -> None:
    uses = {path.name for path in SCRIPTS if "sessionStorage" in path.read_text(encoding="utf-8")}
    authorization = {path.name for path in SCRIPTS if "Authorization" in path.read_text(encoding="utf-8")}
    api = (STATIC / "api.js").read_text(encoding="utf-8")

    assert uses == {"api.js"} and authorization == {"api.js"}
    assert "headers = { Authorization: `Bearer ${" in api
    # The key never goes into a URL the API is called with.
    assert not re.search(r"searchParams\.set\([^)]*token", api)
