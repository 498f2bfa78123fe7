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

__all__ = ["sample_decoder", "start_input", "input_channel", "CHANNEL_DEPTH"]

CHANNEL_DEPTH = 16  # zenoh-side buffer per input in front of the event queue (threads)


def input_channel(zenoh, spec: InputConfig):
    """The zenoh channel of an input read directly: its queue_size, drop-oldest or not."""
    if spec.drops_oldest:
        return zenoh.handlers.RingChannel(spec.queue_size or 1)
    return zenoh.handlers.FifoChannel(spec.queue_size or DEFAULT_BACKPRESSURE_DEPTH)


def sample_decoder(input_id: str, on_flush: Callable[[str, bytes], None],
                   on_error: Callable[[str, str], None],
                   shm_value: Callable[[bytes, int, dict], Any] | None = None):
    """`decode(sample)`: the INPUT event of a sample of `input_id`, or None for what is not
    one: an end-of-stream marker (given to `on_flush(input_id, attachment)`), a wake-up,
    a message that cannot be decoded (reported to `on_error(text, input_id)`; the input
    keeps working). `shm_value(attachment, start, metadata)` maps shared-memory values.
    The codec is loaded with the first sample, not at the node's start."""
    decode = None

    def first(sample) -> dict | None:
        nonlocal decode
        if decode is None:
            decode = _decoder(input_id, on_flush, on_error, shm_value)
        return decode(sample)

    return first


def _decoder(input_id, on_flush, on_error, shm_value):
    kind_shm, kind_layout = contract.KIND_SHM, contract.KIND_LAYOUT
    decode_attachment, decode_value = contract.decode_attachment, contract.decode_value
    is_flush_marker, is_wake, decode_array = (contract.is_flush_marker, contract.is_wake,
                                              contract.decode_array)
    py_buffer = None

    def decode(sample) -> dict | None:
        nonlocal py_buffer
        attachment = sample.attachment
        if attachment is None:  # plain bytes without metadata
            return {"type": "INPUT", "id": input_id, "value": sample.payload.to_bytes(),
                    "metadata": {}, "kind": "dora"}
        raw = attachment.to_bytes()
        if raw[0] == kind_layout and raw[1] == 0:  # an Arrow array, no metadata
            if py_buffer is None:
                import pyarrow

                py_buffer = pyarrow.py_buffer
            try:
                value = decode_array(raw, 2, py_buffer(sample.payload.to_bytes()))
            except Exception as exc:
                on_error(f"cannot decode a message on input '{input_id}': "
                         f"{type(exc).__name__}: {exc}", input_id)
                return None
            return {"type": "INPUT", "id": input_id, "value": value, "metadata": {},
                    "kind": "dora"}
        if is_flush_marker(raw):
            on_flush(input_id, raw)
            return None
        if is_wake(raw):
            return None
        try:
            kind, metadata, start = decode_attachment(raw)
            if kind == kind_shm and shm_value is not None:
                value = shm_value(raw, start, metadata)
            else:
                value = decode_value(kind, sample.payload.to_bytes(), raw, start)
        except Exception as exc:  # a payload we cannot read: say so, keep the input
            on_error(f"cannot decode a message on input '{input_id}': "
                     f"{type(exc).__name__}: {exc}", input_id)
            return None
        return {"type": "INPUT", "id": input_id, "value": value, "metadata": metadata,
                "kind": "dora"}

    return decode


def start_input(subscriber, spec: InputConfig, events: EventQueue, decode,
                name: str) -> threading.Thread:
    """Start the daemon thread that feeds one input from `subscriber` (a FIFO channel)
    into `events`, until the subscriber is closed."""
    thread = threading.Thread(target=_pump, daemon=True, name=f"dora-input-{name}",
                              args=(subscriber.recv, decode, events.put_input,
                                    spec.queue_size, spec.drops_oldest))
    thread.start()
    return thread


def _pump(recv, decode, put, depth, drop_oldest) -> None:
    while True:
        try:
            sample = recv()
        except Exception:  # the subscriber or session is closed: the stream has ended
            return
        event = decode(sample)
        if event is not None:
            put(event, depth, drop_oldest)
