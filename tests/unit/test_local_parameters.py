"""Template parameters set for a local stack, as ``sam deploy --parameter-overrides`` sets them."""

from __future__ import annotations

from typing import Any

import pytest

from openlqs.local.cloudformation import load_template, override_parameters, parse_parameter_overrides
from openlqs.local.resources import function_environment
from tests.support.paths import PROJECT_DIR


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(PROJECT_DIR / "template.yaml")


def test_parse_parameter_overrides_reads_sams_form() -> None:
    assert parse_parameter_overrides('PartTargetBytes=1048576 StageName=v2 Note="a b=c"') == {
        "PartTargetBytes": "1048576",
        "StageName": "v2",
        "Note": "a b=c",
    }
    assert parse_parameter_overrides("") == {}


@pytest.mark.parametrize("text", ["PartTargetBytes", "=3", "A=1 B"])
def test_parse_parameter_overrides_refuses_a_word_without_a_name_and_value(text: str) -> None:
    with pytest.raises(ValueError, match="is not Name=Value"):
        parse_parameter_overrides(text)


def test_overridden_parameter_reaches_the_functions_environment(template: dict[str, Any]) -> None:
    overridden = override_parameters(template, {"PartTargetBytes": "262144"})

    environment = function_environment(overridden, {})

    assert environment["PART_TARGET_BYTES"] == "262144"
    assert template["Parameters"]["PartTargetBytes"]["Default"] != "262144"  # the loaded one is untouched


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"PartTargetByte": "1"}, "no parameter PartTargetByte .*PartTargetBytes"),
        ({"PartTargetBytes": "big"}, "is a Number; 'big' is not"),
        ({"PartTargetBytes": "10"}, "must be between 1024 and None; 10 is not"),
    ],
)
def test_override_parameters_refuses_what_cloudformation_refuses(
    template: dict[str, Any], overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        override_parameters(template, overrides)
