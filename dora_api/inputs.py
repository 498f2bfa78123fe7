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
from typing import Any

from dora_api import contract
from dora_api.contract import InputConfig
from dora_api.events import DEFAULT_BACKPRESSURE_DEPTH, EventQueue

__all__ = ["sample_decoder", "SampleDecoder", "start_input", "input_channel", "CHANNEL_DEPTH",
           "SPECULATE_MAX"]

CHANNEL_DEPTH = 16  # zenoh-side buffer per input in front of the event queue (threads)


def input_channel(zenoh, spec: InputConfig):
    """The zenoh channel of an input read directly: its queue_size, drop-oldest or not."""
    if spec.drops_oldest:
        return zenoh.handlers.RingChannel(spec.queue_size or 1)
    return zenoh.handlers.FifoChannel(spec.queue_size or DEFAULT_BACKPRESSURE_DEPTH)


SPECULATE_MAX = 64 << 10  # payloads up to this size may be decoded ahead (see prepare)


def sample_decoder(input_id: str, on_flush: Callable[[str, bytes], None],
                   on_error: Callable[[str, str], None],
                   shm_value: Callable[[bytes, int, dict], Any] | None = None) -> SampleDecoder:
    """The decoder of `input_id`'s samples (see SampleDecoder)."""
    return SampleDecoder(input_id, on_flush, on_error, shm_value)


class SampleDecoder:
    """`decoder(sample)`: the INPUT event of a sample, or None for what is not one: an
    end-of-stream marker (given to `on_flush(input_id, attachment)`), a wake-up, a message
    that cannot be decoded (reported to `on_error(text, input_id)`; the input keeps
    working). `shm_value(attachment, start, metadata)` maps shared-memory values.

    `prepare()`, called when the node is about to wait for the next sample (none is there
    yet), builds the Arrow array
    that sample will most likely be (same layout as the last two, small): when it comes,
    its bytes are copied into the array's buffer and nothing else is left to do. pyarrow's
    calls are the receiving side's biggest cost on a busy machine (tens of microseconds
    when its code is out of the CPU caches, as it is after an idle wait); this moves them
    out of the path from arrival to the node's code. The codec itself is loaded with the
    first sample, not at the node's start."""

    def __init__(self, input_id, on_flush, on_error, shm_value):
        self._id, self._on_flush, self._on_error, self._shm_value = (input_id, on_flush,
                                                                     on_error, shm_value)
        self._bound = False
        self._last: bytes | None = None  # the last layout attachment and
        self._repeats = 0  # how many times in a row it came
        self._size = 0  # the size of its payload
        self._ready: tuple | None = None  # (attachment, memory, array) built ahead

    def _bind(self) -> None:
        import pyarrow

        self._py_buffer = pyarrow.py_buffer
        self._kind_shm, self._kind_layout = contract.KIND_SHM, contract.KIND_LAYOUT
        self._bound = True

    def prepare(self) -> None:
        shm_prepare = getattr(self._shm_value, "prepare", None)
        if shm_prepare is not None:
            shm_prepare()
        if self._ready is None and self._repeats and self._last is not None:
            memory = bytearray(self._size)
            try:
                array = contract.decode_array(self._last, 2, self._py_buffer(memory))
            except Exception:
                self._repeats = 0
                return
            self._ready = (self._last, memory, array)

    def __call__(self, sample) -> dict | None:
        attachment = sample.attachment
        if attachment is None:  # plain bytes without metadata
            return {"type": "INPUT", "id": self._id, "value": sample.payload.to_bytes(),
                    "metadata": {}, "kind": "dora"}
        if not self._bound:
            self._bind()
        raw = attachment.to_bytes()
        if raw[0] == self._kind_layout and raw[1] == 0:  # an Arrow array, no metadata
            return self._layout(raw, sample.payload.to_bytes())
        return self._other(raw, sample)

    def _layout(self, raw: bytes, payload: bytes) -> dict | None:
        ready = self._ready
        if ready is not None and raw == ready[0] and len(payload) == len(ready[1]):
            self._ready = None
            ready[1][:] = payload
            value = ready[2]
        else:
            self._ready = None
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
        return {"type": "INPUT", "id": self._id, "value": value, "metadata": {},
                "kind": "dora"}

    def _other(self, raw: bytes, sample) -> dict | None:
        if contract.is_flush_marker(raw):
            self._on_flush(self._id, raw)
            return None
        if contract.is_wake(raw):
            return None
        try:
            kind, metadata, start = contract.decode_attachment(raw)
            if kind == self._kind_shm and self._shm_value is not None:
                value = self._shm_value(raw, start, metadata)
            else:
                value = contract.decode_value(kind, sample.payload.to_bytes(), raw, start)
        except Exception as exc:  # a payload we cannot read: say so, keep the input
            return self._error(exc)
        return {"type": "INPUT", "id": self._id, "value": value, "metadata": metadata,
                "kind": "dora"}

    def _error(self, exc: Exception) -> None:
        self._on_error(f"cannot decode a message on input '{self._id}': "
                       f"{type(exc).__name__}: {exc}", self._id)


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
