"""Built-in timer inputs (`dora/timer/...`), ticking inside the node itself.

The first tick fires at once, as in dora-rs; a slow node sees the newest tick only
(timers default to `queue_size: 1`, drop_oldest), never a burst of stale ones.
"""

from __future__ import annotations

import threading
import time

from dora_api.events import EventQueue

__all__ = ["run_timers", "timer_interval"]

_SCALE = {"secs": 1.0, "millis": 1e-3, "micros": 1e-6, "nanos": 1e-9}


def timer_interval(source: str) -> float:
    _, _, unit, number = source.split("/", 3)
    return 1.0 / float(number) if unit == "hz" else int(number) * _SCALE[unit]


def run_timers(timers: dict[str, dict], events: EventQueue, stop: threading.Event) -> None:
    start = time.monotonic()
    schedule = {input_id: (timer_interval(spec["source"]), start)
                for input_id, spec in timers.items()}
    while not stop.is_set():
        now = time.monotonic()
        for input_id, (interval, due) in list(schedule.items()):
            if due <= now:
                spec = timers[input_id]
                events.put_input({"type": "INPUT", "id": input_id, "value": b"",
                                  "metadata": {}, "kind": "dora"},
                                 spec.get("queue_size") or 1, True)
                missed = int((now - due) / interval)  # skip ticks we were too late for
                schedule[input_id] = (interval, due + (missed + 1) * interval)
        next_due = min(due for _, due in schedule.values())
        stop.wait(max(0.0, next_due - time.monotonic()))
