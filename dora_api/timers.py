"""Built-in timer inputs (`dora/timer/...`), ticking inside the node itself.

The first tick fires at once, as in dora-rs; a slow node sees the newest tick only
(timers default to `queue_size: 1`, drop_oldest), never a burst of stale ones.
"""

from __future__ import annotations

import threading
import time

from dora_api.contract import InputConfig
from dora_api.events import EventQueue

__all__ = ["start_timers", "run_timers"]


def run_timers(timers: dict[str, InputConfig], events: EventQueue,
               stop: threading.Event) -> None:
    """Tick every timer input until `stop` is set (a daemon thread of the node)."""
    start = time.monotonic()
    schedule = {input_id: (spec.timer_interval, start) for input_id, spec in timers.items()}
    while not stop.is_set():
        now = time.monotonic()
        for input_id, (interval, due) in list(schedule.items()):
            if due <= now:
                spec = timers[input_id]
                events.put_input({"type": "INPUT", "id": input_id, "value": b"",
                                  "metadata": {}, "kind": "dora"},
                                 spec.queue_size or 1, True)
                missed = int((now - due) / interval)  # skip ticks we were too late for
                schedule[input_id] = (interval, due + (missed + 1) * interval)
        next_due = min(due for _, due in schedule.values())
        stop.wait(max(0.0, next_due - time.monotonic()))


def start_timers(inputs, events: EventQueue, stop: threading.Event) -> None:
    """A daemon thread that ticks the node's timer inputs, if it has any."""
    timers = {i: s for i, s in inputs.items() if s.timer_interval is not None}
    if timers:
        threading.Thread(target=run_timers, daemon=True, name="dora-timers",
                         args=(timers, events, stop)).start()
