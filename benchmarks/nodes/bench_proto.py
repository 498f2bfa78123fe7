"""The latency benchmark's wire protocol, shared by every system under test.

Every system (dora node-to-node, raw zenoh, later operators) runs exactly this sender and
receiver loop; only the `send` / `recv` / `wait_ack` / `ack` functions differ. So the
numbers compare transports, not benchmark code.

Data messages are exactly `size` bytes (size >= 8): the first 8 bytes are the sender's
`time.monotonic_ns()` (CLOCK_MONOTONIC, shared by every process on Linux), little endian.
Control messages are shorter than 8 bytes, so they never look like data:

    b"H" + u8       hello: the receiver acks it; repeated until acked (start-up barrier)
    b"S" + u16      end of phase number N: the receiver closes the phase and acks
    b"D"            done: the receiver reports and acks

An ack echoes the control message. The sender waits for the ack of every phase end, so a
phase never starts while the previous one is still queued anywhere.

Phases, per size in order: warm-up (discarded), latency (paced), throughput (back to back).
"""

from __future__ import annotations

import json
import math
import struct
import time

__all__ = ["load_plan", "phases", "run_sender", "run_receiver", "Sender", "Receiver",
           "summarize", "RESULT_MARK"]

RESULT_MARK = "BENCH_RESULT "  # the receiver prints RESULT_MARK + one JSON object

_now = time.monotonic_ns
_TS = struct.Struct("<Q")


def load_plan(path: str) -> dict:
    """The plan (written by latency.py): {"sizes": [{"size", "warmup", "latency",
    "interval_s", "throughput"}, ...]}."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def phases(plan: dict) -> list[tuple[int, str, int]]:
    """(size, phase name, message count) in the order they are sent."""
    result = []
    for spec in plan["sizes"]:
        result.append((spec["size"], "warmup", spec["warmup"]))
        result.append((spec["size"], "latency", spec["latency"]))
        result.append((spec["size"], "throughput", spec["throughput"]))
    return result


# -- sender ---------------------------------------------------------------------------


def run_sender(plan: dict, send, wait_ack, *, hello_timeout: float = 30.0,
               ack_timeout: float = 60.0) -> None:
    """Run the whole plan. `send(bytes_like)` publishes one message; `wait_ack(timeout)`
    returns the next ack payload (bytes) or None on timeout, and raises to abort."""

    def expect(control: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ack = wait_ack(remaining)
            if ack == control:
                return True  # anything else is a late ack of an earlier hello: skip

    # Start-up barrier: the receiver is subscribed once it answers a hello.
    deadline = time.monotonic() + hello_timeout
    attempt = 0
    while True:
        hello = b"H" + bytes((attempt % 256,))
        send(hello)
        if expect(hello, 0.1):
            break
        attempt += 1
        if time.monotonic() > deadline:
            raise TimeoutError("the receiver never answered")

    sizes = {spec["size"]: spec for spec in plan["sizes"]}
    for index, (size, phase, count) in enumerate(phases(plan)):
        interval = sizes[size]["interval_s"] if phase != "throughput" else 0.0
        buffer = bytearray(size)
        for _ in range(count):
            _TS.pack_into(buffer, 0, _now())
            send(buffer)
            if interval:
                time.sleep(interval)  # paced: the queues are empty when the next one goes
        end = b"S" + index.to_bytes(2, "little")
        send(end)
        if not expect(end, ack_timeout):
            raise TimeoutError(f"no ack for the end of phase {index} ({size} B {phase})")
    send(b"D")
    if not expect(b"D", ack_timeout):
        raise TimeoutError("no ack for done")


class Sender:
    """The sending side as a push-style state machine, for an operator: it cannot loop in
    `run_sender` (what it sends reaches an operator of the same process only once its
    `on_event` has returned), so it is driven by two events instead:

    * `on_tick()`, from a fast timer input: paces the warm-up and latency phases (one
      message per tick once `interval_s` has passed) and retries an unanswered hello;
    * `on_ack(payload)`, from the receiver's ack output: ends a phase, starts the next.

    Same messages as `run_sender`, except the throughput phase: it goes out in bursts of
    at most `burst_max` messages / `burst_bytes` bytes, each burst followed by a hello the
    receiver acks (a credit: the receiver ignores hellos otherwise) and the next burst sent
    on that ack. Truly back to back would hold a whole phase (up to 600 MiB) in memory.
    `send(bytes_like)` publishes one message; `done` is True once "done" is acked."""

    def __init__(self, plan: dict, send, *, tick_s: float = 0.001,
                 burst_bytes: int = 16 * 2**20, burst_max: int = 1000,
                 hello_timeout: float = 30.0, ack_timeout: float = 60.0):
        self._send = send
        self._phases = phases(plan)
        self._specs = {spec["size"]: spec for spec in plan["sizes"]}
        self._tick = tick_s
        self._burst_bytes, self._burst_max = burst_bytes, burst_max
        self._hello_timeout, self._ack_timeout = hello_timeout, ack_timeout
        self._started = time.monotonic()
        self._index = -1  # -1: the start-up barrier (hello), then the phase index
        self._waiting: bytes | None = None  # the control message whose ack we wait for
        self._waiting_since = 0.0
        self._hellos = 0
        self._sent = 0
        self._next_due = 0.0
        self._buffer = bytearray(0)
        self.done = False

    def on_tick(self) -> bool:
        """A timer tick: send what is due. True once done."""
        now = time.monotonic()
        if self.done:
            return True
        if self._waiting is not None:
            if self._index < 0 and now - self._waiting_since >= 0.1:
                if now - self._started > self._hello_timeout:
                    raise TimeoutError("the receiver never answered")
                self._control(self._hello())  # retry the start-up barrier
            elif self._index >= 0 and now - self._waiting_since > self._ack_timeout:
                raise TimeoutError(f"no ack for {self._waiting!r} in phase {self._index}")
            return False
        if self._index < 0:
            self._control(self._hello())
            return False
        size, phase, count = self._phases[self._index]
        if phase != "throughput" and now >= self._next_due:
            _TS.pack_into(self._buffer, 0, _now())
            self._send(self._buffer)
            self._sent += 1
            # half a tick early: due on the tick closest to `interval_s`, not the one after
            self._next_due = time.monotonic() + self._specs[size]["interval_s"] - self._tick / 2
            if self._sent >= count:
                self._end_phase()
        return False

    def on_ack(self, value) -> bool:
        """An ack from the receiver. True once done."""
        if self._waiting is None or bytes(value) != self._waiting:
            return self.done  # a late ack of an earlier hello: skip
        control, self._waiting = self._waiting, None
        if control == b"D":
            self.done = True
        elif self._index < 0 or control[:1] == b"S":
            self._start_phase(self._index + 1)
        else:  # the credit after a throughput burst
            self._burst()
        return self.done

    def _hello(self) -> bytes:
        self._hellos += 1
        return b"H" + bytes((self._hellos % 256,))

    def _control(self, message: bytes) -> None:
        self._waiting, self._waiting_since = message, time.monotonic()
        self._send(message)

    def _start_phase(self, index: int) -> None:
        self._index = index
        if index >= len(self._phases):
            self._control(b"D")
            return
        size, phase, count = self._phases[index]
        self._sent, self._next_due = 0, 0.0
        self._buffer = bytearray(size)
        if count <= 0:
            self._end_phase()
        elif phase == "throughput":
            self._burst()
        # else: paced, from the next tick on

    def _burst(self) -> None:
        size, _, count = self._phases[self._index]
        burst = min(count - self._sent, self._burst_max, max(1, self._burst_bytes // size))
        buffer, send = self._buffer, self._send
        for _ in range(burst):
            _TS.pack_into(buffer, 0, _now())
            send(buffer)
        self._sent += burst
        if self._sent >= count:
            self._end_phase()
        else:
            self._control(self._hello())

    def _end_phase(self) -> None:
        self._control(b"S" + self._index.to_bytes(2, "little"))


# -- receiver -------------------------------------------------------------------------


class Receiver:
    """The receiving side as a push-style state machine: `on_message(payload)` for every
    message, in order. Push style so an operator (`on_event` callbacks) can use it as is;
    `run_receiver` is the pull-style loop for nodes."""

    def __init__(self, plan: dict, ack, report):
        self._phases = phases(plan)
        self._ack, self._report = ack, report
        self._results: dict[int, dict] = {}
        self._reset()
        self.done = False

    def _reset(self) -> None:
        self._latencies: list[int] = []  # ns, current phase
        self._count = self._first = self._last = self._bytes = 0

    def on_message(self, value: bytes, now: int | None = None) -> bool:
        """Handle one payload; `now` defaults to the clock at this call. True once done."""
        if now is None:
            now = _now()
        if len(value) >= 8:
            self._latencies.append(now - _TS.unpack_from(value, 0)[0])
            if not self._count:
                self._first = now
            self._last = now
            self._count += 1
            self._bytes += len(value)
            return False
        kind = value[:1]
        if kind == b"S":
            self._end_phase(int.from_bytes(value[1:3], "little"))
            self._ack(value)
        elif kind == b"H":
            self._ack(value)
        elif kind == b"D":
            self._report({"sizes": [self._results[size] for size in sorted(self._results)]})
            self._ack(value)
            self.done = True
        return self.done

    def _end_phase(self, index: int) -> None:
        size, phase, expected = self._phases[index]
        entry = self._results.setdefault(size, {"size": size})
        count = self._count
        if phase == "latency":
            entry["latency_ns"] = self._latencies
            entry["latency_received"] = count
            entry["latency_expected"] = expected
        elif phase == "throughput":
            seconds = (self._last - self._first) / 1e9
            rated = count > 1 and seconds > 0
            entry["throughput"] = {
                "messages": count, "expected": expected, "seconds": seconds,
                "bytes": self._bytes,
                "msg_per_s": (count - 1) / seconds if rated else None,
                "mib_per_s": (count - 1) * size / seconds / 2**20 if rated else None,
            }
        self._reset()


def run_receiver(plan: dict, recv, ack, report) -> None:
    """Receive the whole plan. `recv()` returns the next payload (bytes) or None when the
    stream ended; `ack(bytes)` answers a control message; `report(dict)` gets the result
    before the final ack is sent. The receive time is taken right after `recv()` returns."""
    on_message = Receiver(plan, ack, report).on_message
    while True:
        value = recv()
        now = _now()
        if value is None:
            raise RuntimeError("the stream ended before the sender said done")
        if on_message(value, now):
            return


# -- statistics -----------------------------------------------------------------------


def _percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(latencies_ns: list[int]) -> dict:
    """p50/p95/p99/min/max/mean in microseconds."""
    ordered = sorted(v / 1000.0 for v in latencies_ns)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50_us": _percentile(ordered, 0.50),
        "p95_us": _percentile(ordered, 0.95),
        "p99_us": _percentile(ordered, 0.99),
        "min_us": ordered[0],
        "max_us": ordered[-1],
        "mean_us": sum(ordered) / len(ordered),
    }
