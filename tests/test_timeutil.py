"""Durations in configs: every spelling parses, and a value out of timedelta's range is a clear error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rcaflows.timeutil import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2w", timedelta(weeks=2)),
        (3600, timedelta(hours=1)),
    ],
)
def test_durations_parse_and_format_back(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("value", [-86_399_999_913_601, 1e300, float("nan"), "99999999999w"])
def test_a_duration_out_of_range_is_a_value_error_naming_it(value: object) -> None:
    with pytest.raises(ValueError, match=r"is out of range; expected at most about 2\.7 million years"):
        parse_duration(value)
