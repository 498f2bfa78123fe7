"""Durations, sizes and percentages as users write them in descriptors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dora_supervisor.units import parse_duration, parse_percent, parse_size

# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("250ms", 0.25), ("1.5s", 1.5), ("5m", 300.0), ("2h", 7200.0), ("10us", 1e-5),
    ("10µs", 1e-5), ("100ns", 1e-7), ("0s", 0.0), ("3", 3.0), ("0.5", 0.5), (".5s", 0.5),
    ("2.s", 2.0), (" 5 s ", 5.0), ("1.25 ms", 0.00125),
])
def test_duration_strings_with_units(text: str, seconds: float):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("value, seconds", [(3, 3.0), (0, 0.0), (2.5, 2.5), (0.001, 0.001)])
def test_bare_numbers_are_seconds(value, seconds: float):
    assert parse_duration(value) == seconds
    assert isinstance(parse_duration(value), float)


@pytest.mark.parametrize("value", [
    "abc", "5 seconds", "5sec", "1.5.2s", "-1", "-1s", "ms", "", "   ", "5 m s", "1e3s",
    "5d", -1, -0.5, float("nan"), float("inf"), True, False, None, [1], {"s": 1},
])
def test_malformed_durations_are_rejected(value):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_duration_error_shows_an_example():
    with pytest.raises(ValueError, match=r"expected e\.g\. 250ms, 1\.5s, 5m"):
        parse_duration("soon")


@given(st.integers(min_value=0, max_value=10**9))
def test_milliseconds_are_thousandths_of_a_second(n: int):
    assert parse_duration(f"{n}ms") == pytest.approx(n / 1000)


@given(st.integers(min_value=0, max_value=10**6))
def test_minutes_and_hours_scale_seconds(n: int):
    assert parse_duration(f"{n}m") == 60 * parse_duration(f"{n}s")
    assert parse_duration(f"{n}h") == 3600 * parse_duration(f"{n}s")


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_any_non_negative_number_is_its_own_duration(x: float):
    assert parse_duration(x) == x


# -- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, size", [
    ("256MiB", 256 * 2**20), ("512KiB", 512 * 2**10), ("1GiB", 2**30), ("1TiB", 2**40),
    ("1KB", 1000), ("1MB", 10**6), ("1GB", 10**9), ("1TB", 10**12), ("100B", 100),
    ("100", 100), ("1.5KiB", 1536), ("256mib", 256 * 2**20), ("1kb", 1000),
    (" 64 MiB ", 64 * 2**20), ("0", 0),
])
def test_size_strings_with_units(text: str, size: int):
    assert parse_size(text) == size


@pytest.mark.parametrize("value", [0, 1, 1024, 10**12])
def test_bare_integers_are_bytes(value: int):
    assert parse_size(value) == value


@pytest.mark.parametrize("value", [
    "256 megs", "256M", "1 gigabyte", "MiB", "", "-1KiB", "1PiB", "1e3", -1, 1.5,
    True, False, None, [256],
])
def test_malformed_sizes_are_rejected(value):
    with pytest.raises(ValueError, match="size"):
        parse_size(value)


@given(st.integers(min_value=0, max_value=2**20))
def test_binary_units_are_powers_of_two_and_decimal_units_powers_of_ten(n: int):
    assert parse_size(f"{n}KiB") == n * 1024
    assert parse_size(f"{n}MiB") == n * 1024**2
    assert parse_size(f"{n}KB") == n * 1000
    assert parse_size(f"{n}GB") == n * 1000**3


# -- percentages ------------------------------------------------------------------------------


@pytest.mark.parametrize("value, percent", [
    ("80%", 80.0), ("12.5%", 12.5), (" 50 % ", 50.0), ("150%", 150.0), ("0%", 0.0),
    ("80", 80.0), (80, 80.0), (0, 0.0), (12.5, 12.5),
])
def test_percentages(value, percent: float):
    assert parse_percent(value) == percent


@pytest.mark.parametrize("value", [
    "lots", "%", "", "-5%", "80%%", "eighty%", "nan%", "inf%", -5, float("nan"),
    float("inf"), True, None, [80],
])
def test_malformed_percentages_are_rejected(value):
    with pytest.raises(ValueError, match="percentage"):
        parse_percent(value)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_percent_sign_is_optional(x: float):
    assert parse_percent(f"{x!r}%") == parse_percent(x) == x
    assert not math.isnan(parse_percent(f"{x!r}"))
