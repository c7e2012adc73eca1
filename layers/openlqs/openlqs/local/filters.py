"""Lambda event filtering (``FilterCriteria``) for the events the local stack delivers itself.

An event source mapping with filters invokes its function only with the records that match at least
one filter pattern; the others are dropped as if handled. Patterns are EventBridge-style JSON, and this
module implements the part of that language Lambda documents for stream and queue sources:

- nested keys: ``{"dynamodb": {"NewImage": {"state": {"S": [...]}}}}`` descends into the record;
- a list of matchers at a leaf, any of which may match; against an array value, any element may match;
- matchers: an exact value (string, number, boolean, null), ``{"prefix": s}``, ``{"suffix": s}``,
  ``{"equals-ignore-case": s}``, ``{"anything-but": value | [values] | {"prefix": s} | {"suffix": s} |
  {"equals-ignore-case": s | [s]}}``, ``{"exists": true | false}`` and
  ``{"numeric": [">", 0, "<=", 5]}``;
- ``{"$or": [pattern, ...]}`` next to other keys.

As in EventBridge, every key a pattern names must be present in the record, except under
``{"exists": false}``: ``anything-but`` does not match a missing field. Anything else (``wildcard``,
``cidr``...) is refused when the pattern is compiled, so a template using it fails at start instead of
filtering differently than AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_MISSING = object()
_NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda value, bound: value == bound,
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
    ">": lambda value, bound: value > bound,
    ">=": lambda value, bound: value >= bound,
}

Matcher = Callable[[Any], bool]


class UnsupportedFilterPattern(ValueError):
    """A filter pattern uses syntax this module does not implement (or is not a pattern at all)."""


@dataclass(frozen=True)
class _Leaf:
    matchers: tuple[Matcher, ...]
    #: ``{"exists": false}`` is among the matchers: a missing field matches.
    matches_missing: bool

    def matches(self, value: Any) -> bool:
        if value is _MISSING:
            return self.matches_missing
        values = value if isinstance(value, list) else [value]
        return any(matcher(item) for matcher in self.matchers for item in values)


@dataclass(frozen=True)
class EventPattern:
    """One compiled filter pattern; :meth:`matches` tells whether a record passes it."""

    fields: tuple[tuple[str, EventPattern | _Leaf], ...]
    alternatives: tuple[EventPattern, ...] = ()

    @classmethod
    def parse(cls, pattern: str | Mapping[str, Any]) -> EventPattern:
        """Compile a pattern given as JSON text or as a mapping; raises :class:`UnsupportedFilterPattern`."""
        if isinstance(pattern, str):
            try:
                pattern = json.loads(pattern)
            except ValueError as error:
                raise UnsupportedFilterPattern(f"filter pattern is not JSON: {error}") from error
        if not isinstance(pattern, Mapping):
            raise UnsupportedFilterPattern(f"filter pattern must be a JSON object, not {pattern!r}")
        return cls._compile(pattern)

    @classmethod
    def _compile(cls, pattern: Mapping[str, Any]) -> EventPattern:
        fields: list[tuple[str, EventPattern | _Leaf]] = []
        alternatives: tuple[EventPattern, ...] = ()
        for key, value in pattern.items():
            if key == "$or":
                if not isinstance(value, list) or len(value) < 2:
                    raise UnsupportedFilterPattern('"$or" takes a list of at least two patterns')
                alternatives = tuple(cls._compile(_mapping(item)) for item in value)
            elif isinstance(value, Mapping):
                fields.append((key, cls._compile(value)))
            elif isinstance(value, list):
                fields.append((key, _compile_leaf(key, value)))
            else:
                raise UnsupportedFilterPattern(f"{key!r}: a pattern's leaf must be a list, not {value!r}")
        return cls(tuple(fields), alternatives)

    def matches(self, event: Any) -> bool:
        """Whether ``event`` (a JSON-like mapping) matches this pattern."""
        if not isinstance(event, Mapping):
            event = {}
        for key, condition in self.fields:
            value = event.get(key, _MISSING)
            if isinstance(condition, EventPattern):
                if not condition.matches(value if isinstance(value, Mapping) else {}):
                    return False
            elif not condition.matches(value):
                return False
        return not self.alternatives or any(alternative.matches(event) for alternative in self.alternatives)


@dataclass(frozen=True)
class FilterCriteria:
    """A function's filters: a record passes when it matches any pattern (every record when none)."""

    patterns: tuple[EventPattern, ...] = ()

    @classmethod
    def parse(cls, patterns: Sequence[str | Mapping[str, Any]]) -> FilterCriteria:
        """Compile ``FilterCriteria.Filters[].Pattern`` values."""
        return cls(tuple(EventPattern.parse(pattern) for pattern in patterns))

    def matches(self, record: Any) -> bool:
        """Whether the function gets ``record``."""
        return not self.patterns or any(pattern.matches(record) for pattern in self.patterns)


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UnsupportedFilterPattern(f"expected a pattern object, not {value!r}")
    return value


def _compile_leaf(key: str, values: list[Any]) -> _Leaf:
    if not values:
        raise UnsupportedFilterPattern(f"{key!r}: an empty list matches nothing")
    matchers: list[Matcher] = []
    matches_missing = False
    for value in values:
        if isinstance(value, Mapping):
            if set(value) == {"exists"}:
                if not isinstance(value["exists"], bool):
                    raise UnsupportedFilterPattern(f'{key!r}: "exists" takes true or false')
                if value["exists"]:
                    matchers.append(lambda _value: True)
                else:
                    matches_missing = True
                continue
            matchers.append(_compile_operator(key, value))
        else:
            matchers.append(_equals(key, value))
    return _Leaf(tuple(matchers), matches_missing)


def _equals(key: str, expected: Any) -> Matcher:
    if isinstance(expected, list):
        raise UnsupportedFilterPattern(f"{key!r}: nested lists are not patterns")
    if _is_number(expected):
        return lambda value: _is_number(value) and float(value) == float(expected)
    return lambda value: not _is_number(value) and value == expected


def _compile_operator(key: str, operator: Mapping[str, Any]) -> Matcher:
    if len(operator) != 1:
        raise UnsupportedFilterPattern(f"{key!r}: one operator per matcher, got {sorted(operator)}")
    ((name, argument),) = operator.items()
    if name in ("prefix", "suffix", "equals-ignore-case"):
        return _string_operator(key, name, argument)
    if name == "anything-but":
        return _anything_but(key, argument)
    if name == "numeric":
        return _numeric(key, argument)
    raise UnsupportedFilterPattern(f"{key!r}: filter operator {name!r} is not supported locally")


def _string_operator(key: str, name: str, argument: Any) -> Matcher:
    if (
        isinstance(argument, Mapping)
        and name in ("prefix", "suffix")
        and set(argument) == {"equals-ignore-case"}
    ):
        text = _text(key, argument["equals-ignore-case"]).casefold()
        if name == "prefix":
            return lambda value: isinstance(value, str) and value.casefold().startswith(text)
        return lambda value: isinstance(value, str) and value.casefold().endswith(text)
    text = _text(key, argument)
    if name == "prefix":
        return lambda value: isinstance(value, str) and value.startswith(text)
    if name == "suffix":
        return lambda value: isinstance(value, str) and value.endswith(text)
    folded = text.casefold()
    return lambda value: isinstance(value, str) and value.casefold() == folded


def _anything_but(key: str, argument: Any) -> Matcher:
    if isinstance(argument, Mapping):
        if len(argument) != 1:
            raise UnsupportedFilterPattern(f'{key!r}: "anything-but" takes one operator')
        ((name, inner),) = argument.items()
        if name not in ("prefix", "suffix", "equals-ignore-case"):
            raise UnsupportedFilterPattern(f'{key!r}: "anything-but" with {name!r} is not supported locally')
        texts = inner if name == "equals-ignore-case" and isinstance(inner, list) else [inner]
        excluded = [_string_operator(key, name, text) for text in texts]
    else:
        values = argument if isinstance(argument, list) else [argument]
        excluded = [_equals(key, value) for value in values]

    def anything_but(value: Any) -> bool:
        return not any(matcher(value) for matcher in excluded)

    return anything_but


def _numeric(key: str, argument: Any) -> Matcher:
    if not isinstance(argument, list) or not argument or len(argument) % 2:
        raise UnsupportedFilterPattern(f'{key!r}: "numeric" takes operator, number pairs')
    bounds: list[tuple[Callable[[float, float], bool], float]] = []
    for operator, bound in zip(argument[::2], argument[1::2], strict=True):
        if operator not in _NUMERIC_OPERATORS or not _is_number(bound):
            raise UnsupportedFilterPattern(f'{key!r}: bad "numeric" comparison {operator!r} {bound!r}')
        bounds.append((_NUMERIC_OPERATORS[operator], float(bound)))
    return lambda value: _is_number(value) and all(compare(float(value), bound) for compare, bound in bounds)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise UnsupportedFilterPattern(f"{key!r}: expected a string, not {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
