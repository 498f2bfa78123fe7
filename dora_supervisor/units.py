"""Durations, sizes and percentages as users write them in descriptors."""

from __future__ import annotations

import math
import re

from dora_supervisor.errors import DoraError

__all__ = ["parse_duration", "parse_size", "parse_percent", "duration_option"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h)?\s*$")
_DURATION_UNITS = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9,
                   "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _finite_non_negative(value: float, what: str, text: object) -> float:
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"invalid {what} {text!r}")
    return value


def parse_duration(value: object) -> float:
    """Seconds from `250ms`, `1.5s`, `5m`, `2h` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r} (expected e.g. 250ms, 1.5s, 5m)")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), "duration", value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, unit = match.groups()
            return _finite_non_negative(float(number) * _DURATION_UNITS[unit], "duration", value)
    raise ValueError(f"invalid duration {value!r} (expected e.g. 250ms, 1.5s, 5m)")


def parse_size(value: object) -> int:
    """Bytes from `256MiB`, `1GB`, `512KiB` or a bare number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r} (expected e.g. 256MiB, 1GB)")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid size {value!r}")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            number, unit = match.groups()
            size = float(number) * _SIZE_UNITS[(unit or "B").lower()]
            return int(_finite_non_negative(size, "size", value))
    raise ValueError(f"invalid size {value!r} (expected e.g. 256MiB, 1GB)")


def parse_percent(value: object) -> float:
    """A share of one core: `80%` -> 80.0; a bare number is taken as percent."""
    if isinstance(value, bool):
        raise ValueError(f"invalid percentage {value!r} (expected e.g. 80%)")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), "percentage", value)
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            return _finite_non_negative(float(text), "percentage", value)
        except ValueError:
            pass
    raise ValueError(f"invalid percentage {value!r} (expected e.g. 80%)")


def duration_option(value: str | None, flag: str) -> float | None:
    """A command-line duration (`--grace 5s`): None when not given, a one-line error naming
    the flag when malformed."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise DoraError(f"{flag}: {exc}") from None
