"""The shared wait helper: a timeout says what it waited for and the last value it saw."""

from __future__ import annotations

import pytest

from tests.conftest import wait_until


def test_a_timeout_names_the_condition_and_the_last_value_seen():
    values = iter([None, 0, [], ""] + [()] * 1_000)
    with pytest.raises(AssertionError) as failure:
        wait_until(lambda: next(values), 0.05, "the lines", interval=0.005)
    assert str(failure.value).endswith("waiting for the lines; last value: ()")


def test_a_long_last_value_is_cut():
    with pytest.raises(AssertionError) as failure:
        wait_until(lambda: _LongFalsy(), 0.01, "records")
    message = str(failure.value)
    assert len(message) < 2200 and message.endswith("(8000 more chars)")


def test_a_truthy_value_is_returned_at_once():
    assert wait_until(lambda: {"ok": 1}, 1, "ok") == {"ok": 1}


class _LongFalsy:
    """Falsy, with a repr too long to print whole."""

    def __bool__(self):
        return False

    def __repr__(self):
        return "L" * 10_000
