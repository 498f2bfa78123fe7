"""A node's data inputs: each zenoh sample becomes an INPUT event.

Two ways to get there, chosen by the node:
- one data input (the common case): the node's own thread takes samples from the input's
  zenoh channel and decodes them (dora_api.direct): zenoh's receive thread hands them over
  without the GIL, and no other thread stands between it and the node's loop;
- several: one daemon thread per input decodes its samples into the event queue
  (`start_input`). (A callback on zenoh's own thread needs the GIL there and measured 4x
  slower under load; zenoh-python's `indirect` callback threads are not daemons and would
  keep the interpreter from exiting.) Blocking in `put_input` is the backpressure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dora_api import contract
from dora_api.contract import InputConfig
from dora_api.events import EventQueue

if TYPE_CHECKING:
    from dora_api.delivery import Delivery

__all__ = ["SampleDecoder", "start_input", "CHANNEL_DEPTH", "SPECULATE_MAX"]

CHANNEL_DEPTH = 16  # zenoh-side buffer per input in front of the event queue (threads)


SPECULATE_MAX = 64 << 10  # payloads up to this size may be decoded ahead (see prepare)


class SampleDecoder:
    """`decoder(sample)`: the INPUT event of a sample, or None for what is not one: an
    end-of-stream marker (given to `on_flush(input_id, attachment)`), a wake-up, a stale
    message (its incarnation is over, see dora_api.delivery), a message that cannot be
    decoded (reported to `on_error(text, input_id)`; the input keeps working).
    `shm_value(attachment, start, metadata)` maps shared-memory values. Whoever queues the
    event calls `queued()` right after (a NODE_RESTARTED held for it may follow).

    `prepare()`, called when the node is about to wait for the next sample (none is there
    yet), builds the Arrow array that sample will most likely be (same layout as the last
    two, small): when it comes, its bytes are copied into the array's buffer and nothing
    else is left to do. pyarrow's calls are the receiving side's biggest cost on a busy
    machine (tens of microseconds when its code is out of the CPU caches, as it is after an
    idle wait); this moves them out of the path from arrival to the node's code. The codec
    itself is loaded with the first sample, not at the node's start."""

    def __init__(self, input_id: str, on_flush: Callable[[str, bytes], None],
                 on_error: Callable[[str, str], None], delivery: Delivery | None = None,
                 shm_value: Callable[[bytes, int, dict], Any] | None = None):
        self._id, self._on_flush, self._on_error, self._shm_value = (input_id, on_flush,
                                                                     on_error, shm_value)
        self._delivery = delivery
        self._position: tuple[int, int] | None = None  # of the sample decoded last
        self._bound = False
        self._last: bytes | None = None  # the last layout attachment and
        self._repeats = 0  # how many times in a row it came
        self._size = 0  # the size of its payload
        self._ready: tuple | None = None  # (attachment, memory, array) built ahead

    def _bind(self) -> None:
        """The contract's names, once; pyarrow waits for the first Arrow value (a node
        that receives only bytes may not have it installed)."""
        self._py_buffer = None
        self._kind_shm, self._kind_layout = contract.KIND_SHM, contract.KIND_LAYOUT
        self._kind_bytes = contract.KIND_BYTES
        self._read_stamp, self._stamp_size = contract.read_stamp, contract.STAMP_SIZE
        self._accept = self._delivery.accept_at if self._delivery is not None else None
        self._bound = True

    def prepare(self) -> None:
        shm_prepare = getattr(self._shm_value, "prepare", None)
        if shm_prepare is not None:
            shm_prepare()
        if self._ready is None and self._repeats and self._last is not None:
            memory = bytearray(self._size)  # (pyarrow is bound: a layout came before)
            try:
                array = contract.decode_array(self._last, 2, self._py_buffer(memory))
            except Exception:
                self._repeats = 0
                return
            self._ready = (self._last, memory, array)

    def queued(self) -> None:
        """The event of the last sample is in the node's queue (or was taken)."""
        if self._position is not None:
            self._delivery.queued_at(self._id, *self._position)

    def __call__(self, sample) -> dict | None:
        """Never raises: what cannot be read becomes an ERROR event (the input's thread,
        or the node's own loop, must survive any sample)."""
        try:
            return self._decode(sample)
        except Exception as exc:
            return self._error(exc)

    def _decode(self, sample) -> dict | None:
        self._position = None
        attachment = sample.attachment
        if attachment is None:  # plain bytes from a sender outside the contract
            return self._event(sample.payload.to_bytes(), {})
        if not self._bound:
            self._bind()
        raw = attachment.to_bytes()
        stamp = self._read_stamp(raw)
        if stamp is None:  # a marker, a wake-up, or a sender without stamps
            if contract.is_flush_marker(raw):
                self._on_flush(self._id, raw)
                return None
            if contract.is_wake(raw):
                return None
        else:
            raw = raw[:-self._stamp_size]
            if self._accept is not None:
                if not self._accept(self._id, stamp[0], stamp[1]):
                    if raw[0] == self._kind_shm:
                        self._other(raw, sample)  # mapped and dropped: its release goes out
                    return None  # stale: its incarnation is over
                self._position = stamp[:2]
        if len(raw) == 1 and raw[0] == self._kind_bytes:  # bytes without metadata
            return self._event(sample.payload.to_bytes(), {})
        if len(raw) > 1 and raw[0] == self._kind_layout and raw[1] == 0:  # Arrow, no metadata
            return self._layout(raw, sample.payload.to_bytes())
        return self._other(raw, sample)

    def discard(self, sample) -> None:
        """A sample the node will never take (it is closing): counted as received (an
        end-of-stream marker is still acknowledged)."""
        attachment = sample.attachment
        if attachment is None or self._delivery is None:
            return
        raw = attachment.to_bytes()
        if contract.is_flush_marker(raw):
            self._on_flush(self._id, raw)
            return
        stamp = contract.read_stamp(raw)
        if stamp is not None and self._delivery.accept_at(self._id, stamp[0], stamp[1]):
            self._delivery.queued_at(self._id, stamp[0], stamp[1])

    def _event(self, value, metadata: dict) -> dict:
        return {"type": "INPUT", "id": self._id, "value": value, "metadata": metadata,
                "kind": "dora"}

    def _layout(self, raw: bytes, payload: bytes) -> dict | None:
        ready = self._ready
        if ready is not None and raw == ready[0] and len(payload) == len(ready[1]):
            self._ready = None
            ready[1][:] = payload
            value = ready[2]
        else:
            self._ready = None
            if self._py_buffer is None:
                import pyarrow

                self._py_buffer = pyarrow.py_buffer
            try:
                value = contract.decode_array(raw, 2, self._py_buffer(payload))
            except Exception as exc:
                return self._error(exc)
        if raw == self._last:
            self._repeats += 1
        else:
            self._last, self._size = raw, len(payload)
            self._repeats = 0
        if self._size > SPECULATE_MAX:
            self._repeats = 0
        return self._event(value, {})

    def _other(self, raw: bytes, sample) -> dict | None:
        try:
            kind, metadata, start = contract.decode_attachment(raw)
            if kind == self._kind_shm and self._shm_value is not None:
                value = self._shm_value(raw, start, metadata)
            else:
                value = contract.decode_value(kind, sample.payload.to_bytes(), raw, start)
        except Exception as exc:  # a payload we cannot read: say so, keep the input
            return self._error(exc)
        return self._event(value, metadata)

    def _error(self, exc: Exception) -> None:
        """Told to the node as an ERROR event; counted as dropped, not lost."""
        self._on_error(f"cannot decode a message on input '{self._id}': "
                       f"{type(exc).__name__}: {exc}", self._id)
        if self._position is not None:
            self._delivery.undecodable(self._id, contract.Position(*self._position))
            self._position = None


def start_input(subscriber, spec: InputConfig, events: EventQueue, decode,
                name: str) -> threading.Thread:
    """Start the daemon thread that feeds one input from `subscriber` (a FIFO channel)
    into `events`, until the subscriber is closed."""
    thread = threading.Thread(target=_pump, daemon=True, name=f"dora-input-{name}",
                              args=(subscriber.recv, subscriber.try_recv, decode,
                                    events.put_input,
                                    spec.queue_size, spec.drops_oldest))
    thread.start()
    return thread


def _pump(recv, try_recv, decode, put, depth, drop_oldest) -> None:
    prepare = decode.prepare
    while True:
        try:
            sample = try_recv()
            if sample is None:  # idle: build ahead, then wait
                prepare()
                sample = recv()
        except Exception:  # the subscriber or session is closed: the stream has ended
            return
        event = decode(sample)
        if event is not None:
            put(event, depth, drop_oldest)
            decode.queued()
