"""The project's packaging: installing it prints nothing a user has to read."""

from __future__ import annotations

import tomllib

from tests.support.paths import PROJECT_DIR


def test_installing_the_project_prints_no_license_deprecation_banner() -> None:
    # setuptools >= 77 prints a banner on every build for a license table; an SPDX string it takes quietly.
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))

    assert project["project"]["license"] == "Apache-2.0"
    assert any(
        requirement.replace(" ", "").startswith("setuptools>=77")
        for requirement in project["build-system"]["requires"]
    )
