"""The shared-memory segments one output writes its large values into.

A slot (one segment) carries one value at a time. It is handed out again only once every
holder named in the value's descriptor released it (a release message when the consumer's
value was garbage-collected) or vanished (its reader token ended: a dead consumer releases
everything it held). Segments are kept for reuse, up to MAX_SEGMENTS and MAX_POOL_BYTES
per output; a full pool waits up to POOL_WAIT_S for a release, then the caller sends over
zenoh instead, and keeps doing so, without waiting, until some release arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dora_api.shm import Segment

__all__ = ["SegmentPool", "Slot", "MAX_SEGMENTS", "MAX_POOL_BYTES", "POOL_WAIT_S",
           "segment_capacity"]

MAX_SEGMENTS = 32  # per output: a consumer's default queue holds 64, the rest waits
MAX_POOL_BYTES = 1 << 30  # per output
POOL_WAIT_S = 1.0  # a full pool waits this long for a release before falling back
_MIN_CAPACITY = 64 << 10
_MIB = 1 << 20


def segment_capacity(size: int) -> int:
    """Room for `size` bytes, rounded up so that values of a similar size reuse segments:
    a power of two up to 1 MiB, whole MiB above."""
    if size <= _MIB:
        return max(_MIN_CAPACITY, 1 << max(size - 1, 1).bit_length())
    return -(-size // _MIB) * _MIB


class Slot:
    """One segment and who holds the value now in it."""

    __slots__ = ("index", "segment", "generation", "holders", "busy")

    def __init__(self, index: int, segment: Segment):
        self.index = index
        self.segment: Segment | None = segment  # None: retired, waiting for a new one
        self.generation = 0
        self.holders: set[str] = set()
        self.busy = False


class SegmentPool:
    """The slots of one output. `new_name()` names the next segment (contract naming);
    every segment starts with `header` bytes before the value (sizes asked for include
    it), so a value of a round size still fits a segment of its size class."""

    def __init__(self, new_name: Callable[[], str], header: int = 0):
        self._new_name = new_name
        self._header = header
        self._slots: list[Slot] = []
        self._lock = threading.RLock()  # what the per-message calls take directly
        self._changed = threading.Condition(self._lock)
        self._sleepers = 0  # threads waiting on _changed: only they need a notify
        self._starved = False  # the last acquire timed out: do not wait until a release
        self._closed = False
        self._gone: set[str] = set()  # holders that ended: never wait for them again

    def acquire(self, size: int, wait_s: float = POOL_WAIT_S,
                wait: Callable[[float], None] | None = None) -> Slot | None:
        """A slot of at least `size` bytes, marked busy with a new generation; None if the
        pool is full and nothing was released in time (or the segment cannot be made).
        `wait(deadline)`, when given, is how to wait for releases (it processes them)."""
        deadline = None  # set once there is something to wait for
        while True:
            with self._lock:
                if self._closed:
                    return None
                best = None  # the smallest free slot that fits
                for slot in self._slots:
                    if not slot.busy and slot.segment.capacity >= size and (
                            best is None or slot.segment.capacity < best.segment.capacity):
                        best = slot
                if best is not None:
                    return self._take(best)
                free = [slot for slot in self._slots if not slot.busy]
                capacity = segment_capacity(size - self._header) + self._header
                if free and not self._room_for(capacity):
                    self._retire(min(free, key=lambda slot: slot.segment.capacity))
                    continue
                if self._room_for(capacity):
                    return self._grow(capacity)
                if deadline is None:
                    deadline = time.monotonic() + wait_s
                remaining = deadline - time.monotonic()
                if self._starved or remaining <= 0:
                    self._starved = True
                    return None
                if wait is None:
                    self._sleepers += 1
                    try:
                        self._changed.wait(remaining)
                    finally:
                        self._sleepers -= 1
                    continue
            wait(deadline)

    def publish(self, slot: Slot, holders: tuple[str, ...]) -> None:
        """`slot` now carries a value `holders` must release (none: it is free again)."""
        with self._lock:
            slot.holders = set(holders) - self._gone  # one may have ended since
            if not slot.holders:
                self._free(slot)

    def cancel(self, slot: Slot) -> None:
        """`slot` was acquired but nothing was sent: free it."""
        with self._lock:
            slot.holders.clear()
            self._free(slot)

    def release(self, index: int, generation: int, holder: str) -> None:
        """`holder` dropped the value of `generation` in slot `index` (stale ones ignored)."""
        with self._lock:
            if index < len(self._slots):
                slot = self._slots[index]
                if slot.busy and slot.generation == generation and holder in slot.holders:
                    slot.holders.discard(holder)
                    if not slot.holders:
                        self._free(slot)

    def drop_holder(self, holder: str) -> None:
        """`holder` is gone: it releases everything it held, and all it would hold."""
        with self._changed:
            self._gone.add(holder)
            for slot in self._slots:
                if slot.busy and holder in slot.holders:
                    slot.holders.discard(holder)
                    if not slot.holders:
                        self._free(slot)

    def retire(self, slot: Slot) -> None:
        """`slot` was acquired but must never carry a value again (a view the node still
        has can write into it): unlink its segment; the index gets a new one later."""
        with self._changed:
            if slot.segment is not None:
                self._retire(slot)

    def in_use(self) -> int:
        with self._lock:
            return sum(slot.busy and slot.segment is not None for slot in self._slots)

    def close(self) -> None:
        """Unlink every segment (consumers' mappings stay valid until they unmap). Our
        own mappings stay until the process ends: another thread of the node may still be
        copying into one (a send racing the close), and unmapping under it would crash."""
        with self._changed:
            self._closed = True
            for slot in self._slots:
                if slot.segment is not None:
                    slot.segment.unlink()
            self._changed.notify_all()

    # -- internals (under the lock) --------------------------------------------------

    def _take(self, slot: Slot) -> Slot:
        slot.busy = True
        slot.generation += 1
        return slot

    def _free(self, slot: Slot) -> None:
        slot.busy = False
        self._starved = False
        if self._sleepers:
            self._changed.notify_all()

    def _room_for(self, capacity: int) -> bool:
        used = sum(slot.segment.capacity for slot in self._slots if slot.segment is not None)
        live = sum(slot.segment is not None for slot in self._slots)
        return live < MAX_SEGMENTS and used + capacity <= MAX_POOL_BYTES

    def _grow(self, capacity: int) -> Slot | None:
        try:
            segment = Segment(self._new_name(), capacity)
        except OSError:
            return None  # /dev/shm full or unavailable: the caller sends over zenoh
        for slot in self._slots:  # reuse the index of a retired slot
            if slot.segment is None:
                slot.segment = segment
                return self._take(slot)
        slot = Slot(len(self._slots), segment)
        self._slots.append(slot)
        return self._take(slot)

    def _retire(self, slot: Slot) -> None:
        """A free segment too small for what is sent now: unlink it to make room."""
        slot.segment.close()
        slot.segment = None
        slot.busy = True  # never handed out until _grow gives it a new segment
