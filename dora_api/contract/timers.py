"""The timer grammar: `dora/timer/{secs,millis,micros,nanos}/N` and `dora/timer/hz/F`.

One parser for both sides: the supervisor validates descriptors with it, the node
computes its tick intervals with it.
"""

from __future__ import annotations

import re

from dora_api.contract.errors import ContractError

__all__ = ["parse_timer", "TIMER_PREFIX"]

TIMER_PREFIX = "dora/timer"
_TIMER = re.compile(r"^dora/timer/(secs|millis|micros|nanos|hz)/([^/]+)$")
_SCALE = {"secs": 1.0, "millis": 1e-3, "micros": 1e-6, "nanos": 1e-9}


def parse_timer(source: str) -> float | None:
    """Interval in seconds of a `dora/timer/...` input, None for anything else.

    Raises ContractError (a ValueError) for a malformed timer; the descriptor checks
    show its message verbatim."""
    if not source.startswith(TIMER_PREFIX):
        return None
    match = _TIMER.match(source)
    if not match:
        raise ContractError(f"malformed timer '{source}' (expected dora/timer/{{secs,millis,"
                            "micros,nanos}/N or dora/timer/hz/F)")
    unit, number = match.groups()
    try:
        value = float(number)  # a huge interval becomes inf (refused below), not an overflow
        if unit != "hz" and value != float("inf"):
            int(number)  # a whole number: not 1.5, not 1e3
    except ValueError:
        raise ContractError(f"malformed timer '{source}': '{number}' is not a "
                            f"{'number' if unit == 'hz' else 'whole number'}") from None
    if not value > 0 or value == float("inf"):  # also rejects nan
        what = "frequency" if unit == "hz" else "interval"
        raise ContractError(f"malformed timer '{source}': the {what} must be a positive, "
                            "finite number")
    return 1.0 / value if unit == "hz" else value * _SCALE[unit]
