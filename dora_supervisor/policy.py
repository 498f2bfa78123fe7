"""The OTP rules as small pure functions: time and randomness are always passed in."""

from __future__ import annotations

import enum

from dora_supervisor.descriptor import AutoShutdown, Backoff, RestartPolicy, Strategy

__all__ = [
    "ExitReason", "classify_exit", "is_abnormal", "should_restart", "affected_children",
    "add_restart", "intensity_exceeded", "backoff_delay", "next_attempt", "auto_shutdown_due",
    "describe_failure",
]


class ExitReason(enum.StrEnum):
    """Why a child stopped; the values are the `reason` strings of `dora status`."""

    NORMAL = "normal"
    EXIT_CODE = "exit_code"
    SIGNAL = "signal"
    MEMORY_LIMIT = "memory_limit"
    CPU_LIMIT = "cpu_limit"
    LIVELINESS_LOST = "liveliness_lost"
    WATCHDOG = "watchdog"
    SHUTDOWN = "shutdown"  # the supervisor stopped it (dataflow stop, auto shutdown)
    SIBLING = "sibling"  # stopped so a sibling's strategy could restart it
    ESCALATED = "escalated"  # its supervisor gave up


_SUPERVISOR_CAUSES = {ExitReason.SHUTDOWN, ExitReason.SIBLING, ExitReason.ESCALATED}
_NOT_FAILURES = {ExitReason.NORMAL} | _SUPERVISOR_CAUSES


def classify_exit(code: int | None, signal: int | None, cause: ExitReason | None) -> ExitReason:
    """The reason of one exit.

    `cause` is what the supervisor did to the child (a limit, a lost lease, a stop). A
    child that was stopped by its supervisor and obeyed (exit 0 or died of the kill)
    carries that cause; one that crashed on its own keeps its own reason."""
    if cause is not None and cause not in _SUPERVISOR_CAUSES:
        return cause  # limits and health failures win over how the process died
    if cause is not None and (code == 0 or signal is not None):
        return cause
    if signal is not None:
        return ExitReason.SIGNAL
    return ExitReason.NORMAL if code == 0 else ExitReason.EXIT_CODE


def is_abnormal(reason: ExitReason) -> bool:
    return reason not in _NOT_FAILURES


def should_restart(policy: RestartPolicy, reason: ExitReason) -> bool:
    """OTP restart types: permanent always, transient after an abnormal exit, temporary never.

    Exits the supervisor caused itself (shutdown, sibling, escalation) are never
    restarted by this rule; a strategy restarts siblings explicitly."""
    if reason in _SUPERVISOR_CAUSES:
        return False
    match policy:
        case RestartPolicy.PERMANENT:
            return True
        case RestartPolicy.TRANSIENT:
            return is_abnormal(reason)
        case RestartPolicy.TEMPORARY:
            return False
    raise ValueError(f"unknown restart policy {policy!r}")


def affected_children(strategy: Strategy, start_order: list[str], failed: str) -> list[str]:
    """The children a failure of `failed` restarts, in start order."""
    match strategy:
        case Strategy.ONE_FOR_ALL:
            return list(start_order)
        case Strategy.REST_FOR_ONE:
            return start_order[start_order.index(failed):]
        case Strategy.ONE_FOR_ONE:
            return [failed]
    raise ValueError(f"unknown strategy {strategy!r}")


def add_restart(history: tuple[float, ...], now: float, period: float) -> tuple[float, ...]:
    """OTP's sliding window: keep restarts within `period` of `now`, add this one."""
    return (now,) + tuple(t for t in history if t >= now - period)


def intensity_exceeded(history: tuple[float, ...], max_restarts: int) -> bool:
    """More than `max_restarts` restarts in the window: the supervisor must give up."""
    return len(history) > max_restarts


def next_attempt(attempt: int, uptime: float, stable_after: float) -> int:
    """The backoff attempt number for this restart; a stable run starts over at 1."""
    return 1 if uptime > stable_after else attempt + 1


def backoff_delay(attempt: int, backoff: Backoff, rand: float) -> float:
    """Delay before restart number `attempt` (1-based), with jitter drawn as `rand` in [0, 1).

    `initial * multiplier**(attempt - 1)`, capped at `backoff.max`; randomness is passed
    in so the rule can be tested exactly."""
    try:
        base = min(backoff.initial * backoff.multiplier ** (attempt - 1), backoff.max)
    except OverflowError:  # a long crash loop: the curve is far past its cap
        base = backoff.max
    return max(0.0, base * (1.0 + backoff.jitter * (2.0 * rand - 1.0)))


def auto_shutdown_due(mode: AutoShutdown, significant_finished: list[bool],
                      trigger_significant: bool) -> bool:
    """OTP `auto_shutdown`: should the supervisor stop now that a child finished by itself?

    `significant_finished` says, for each significant child, whether it has finished for
    good; `trigger_significant` whether the child that just finished is significant."""
    if not significant_finished or not trigger_significant:
        return False
    match mode:
        case AutoShutdown.NEVER:
            return False
        case AutoShutdown.ANY_SIGNIFICANT:
            return True
        case AutoShutdown.ALL_SIGNIFICANT:
            return all(significant_finished)
    raise ValueError(f"unknown auto_shutdown mode {mode!r}")


def describe_failure(reason: ExitReason, code: int | None, signal: int | None) -> str:
    """A failure in words: the `error` of the NODE_FAILED its consumers get."""
    match reason:
        case ExitReason.EXIT_CODE:
            return f"exited with code {code}"
        case ExitReason.SIGNAL:
            return f"killed by signal {signal}"
        case ExitReason.MEMORY_LIMIT:
            return "killed: over its memory limit"
        case ExitReason.CPU_LIMIT:
            return "killed: over its CPU limit"
        case ExitReason.LIVELINESS_LOST:
            return "lost its liveliness (frozen, cut off or gone)"
        case ExitReason.WATCHDOG:
            return "hung: no event handled within its watchdog"
    return str(reason)
