"""The OTP rules as pure functions, including property tests for intensity and backoff."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dora_supervisor.descriptor import AutoShutdown, Backoff, RestartPolicy, Strategy
from dora_supervisor.policy import (
    ExitReason,
    add_restart,
    affected_children,
    auto_shutdown_due,
    backoff_delay,
    classify_exit,
    intensity_exceeded,
    next_attempt,
    should_restart,
)


def test_classify_exit_normal_code_and_signal():
    assert classify_exit(0, None, None) is ExitReason.NORMAL
    assert classify_exit(3, None, None) is ExitReason.EXIT_CODE
    assert classify_exit(None, 9, None) is ExitReason.SIGNAL


def test_limit_and_health_causes_win_over_how_the_process_died():
    assert classify_exit(None, 9, ExitReason.MEMORY_LIMIT) is ExitReason.MEMORY_LIMIT
    assert classify_exit(0, None, ExitReason.LIVELINESS_LOST) is ExitReason.LIVELINESS_LOST


def test_a_child_that_crashes_while_being_stopped_keeps_its_own_reason():
    assert classify_exit(0, None, ExitReason.SHUTDOWN) is ExitReason.SHUTDOWN
    assert classify_exit(None, 9, ExitReason.SIBLING) is ExitReason.SIBLING
    assert classify_exit(2, None, ExitReason.SHUTDOWN) is ExitReason.EXIT_CODE


def test_restart_types_permanent_transient_temporary():
    for reason in ExitReason:
        supervisor_caused = reason in (ExitReason.SHUTDOWN, ExitReason.SIBLING,
                                       ExitReason.ESCALATED)
        assert should_restart(RestartPolicy.PERMANENT, reason) is not supervisor_caused
        assert should_restart(RestartPolicy.TEMPORARY, reason) is False
    assert should_restart(RestartPolicy.TRANSIENT, ExitReason.NORMAL) is False
    assert should_restart(RestartPolicy.TRANSIENT, ExitReason.EXIT_CODE) is True
    assert should_restart(RestartPolicy.TRANSIENT, ExitReason.MEMORY_LIMIT) is True
    assert should_restart(RestartPolicy.TRANSIENT, ExitReason.SHUTDOWN) is False


def test_strategies_pick_the_right_siblings():
    order = ["a", "b", "c", "d"]
    assert affected_children(Strategy.ONE_FOR_ONE, order, "b") == ["b"]
    assert affected_children(Strategy.ONE_FOR_ALL, order, "b") == order
    assert affected_children(Strategy.REST_FOR_ONE, order, "b") == ["b", "c", "d"]


def test_intensity_zero_means_the_first_restart_gives_up():
    assert intensity_exceeded(add_restart((), 0.0, 5.0), 0)


def test_restarts_spaced_wider_than_the_period_never_trip():
    history: tuple[float, ...] = ()
    for i in range(100):
        history = add_restart(history, i * 6.0, 5.0)
        assert not intensity_exceeded(history, 1)


# whole seconds make restarts share instants and land exactly on the window's edge
_INSTANTS = st.one_of(st.integers(0, 60).map(float), st.floats(0, 1000, allow_nan=False))


@given(times=st.lists(_INSTANTS, min_size=1, max_size=60), max_restarts=st.integers(0, 10),
       period=st.one_of(st.integers(1, 20).map(float), st.floats(0.1, 100)))
def test_intensity_trips_exactly_when_more_than_max_restarts_fall_in_the_window(
        times, max_restarts, period):
    history: tuple[float, ...] = ()
    restarts = sorted(times)
    for i, now in enumerate(restarts):
        history = add_restart(history, now, period)
        # brute force: every restart so far (this one included) within `period` of now
        in_window = [t for t in restarts[:i + 1] if t >= now - period]
        assert sorted(history) == in_window
        assert intensity_exceeded(history, max_restarts) == (len(in_window) > max_restarts)


@given(attempt=st.integers(1, 60), rand=st.floats(0, 0.999999),
       initial=st.floats(0.001, 5), factor=st.floats(1, 4), jitter=st.floats(0, 1),
       extra=st.floats(0, 60))
def test_backoff_stays_within_initial_and_max_times_jitter(attempt, rand, initial, factor,
                                                            jitter, extra):
    backoff = Backoff(initial=initial, max=initial + extra, multiplier=factor, jitter=jitter)
    delay = backoff_delay(attempt, backoff, rand)
    assert initial * (1 - jitter) - 1e-9 <= delay <= backoff.max * (1 + jitter) + 1e-9


@given(attempt=st.integers(1, 30))
def test_backoff_without_jitter_is_monotonic_and_capped(attempt):
    backoff = Backoff(initial=0.1, max=10.0, multiplier=2.0, jitter=0.0)
    assert backoff_delay(attempt, backoff, 0.5) <= backoff_delay(attempt + 1, backoff, 0.5)
    assert backoff_delay(attempt, backoff, 0.5) <= 10.0


def test_backoff_sequence_matches_the_configured_one():
    backoff = Backoff(initial=0.1, max=1.0, multiplier=2.0, jitter=0.0)
    assert [round(backoff_delay(a, backoff, 0.5), 6) for a in range(1, 7)] == \
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_backoff_exact_values_with_jitter_and_a_cap():
    # binary fractions, so every product is exact: initial * multiplier**(attempt-1), capped
    backoff = Backoff(initial=0.25, max=3.0, multiplier=2.0, jitter=0.5)
    assert [backoff_delay(a, backoff, 0.75) for a in range(1, 7)] == \
        [0.3125, 0.625, 1.25, 2.5, 3.75, 3.75]  # jitter factor 1 + 0.5 * (2 * 0.75 - 1)
    assert [backoff_delay(a, backoff, 0.0) for a in (1, 2, 5)] == [0.125, 0.25, 1.5]
    assert backoff_delay(3, Backoff(initial=0.5, max=100.0, multiplier=3.0, jitter=0.0), 0.9) \
        == 4.5
    assert backoff_delay(7, Backoff(initial=0.5, max=9.0, multiplier=1.0, jitter=0.0), 0.9) == 0.5


def test_backoff_of_a_very_long_crash_loop_is_the_cap():
    backoff = Backoff(initial=0.1, max=10.0, multiplier=2.0, jitter=0.0)
    assert backoff_delay(100_000, backoff, 0.5) == 10.0  # 2.0**99_999 overflows a float


def test_backoff_resets_after_a_stable_run():
    assert next_attempt(5, uptime=10.0, stable_after=5.0) == 1
    assert next_attempt(5, uptime=1.0, stable_after=5.0) == 6


def test_auto_shutdown_modes():
    never, any_, all_ = AutoShutdown.NEVER, AutoShutdown.ANY_SIGNIFICANT, \
        AutoShutdown.ALL_SIGNIFICANT
    assert not auto_shutdown_due(never, [True], True)
    assert auto_shutdown_due(any_, [True, False], True)
    assert not auto_shutdown_due(all_, [True, False], True)
    assert auto_shutdown_due(all_, [True, True], True)
    assert not auto_shutdown_due(all_, [True, True], False)  # not significant
    assert not auto_shutdown_due(all_, [], True)  # none: never automatically
