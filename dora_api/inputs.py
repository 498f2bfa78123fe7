"""A node's data inputs: one daemon thread per input takes its samples from zenoh and turns
each one into an INPUT event.

One hop between zenoh's receive thread and the node's iterator: zenoh's FIFO channel hands
the sample to this thread without the GIL, the thread decodes it and queues the event.
(A callback on zenoh's own thread needs the GIL on zenoh's thread and measured 4x slower
under load; zenoh-python's `indirect` callback threads are not daemons and would keep the
interpreter from exiting.) Blocking in `put_input` is the backpressure on the sender.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dora_api import contract
from dora_api.contract import InputConfig
from dora_api.events import EventQueue

__all__ = ["start_input", "CHANNEL_DEPTH"]

CHANNEL_DEPTH = 16  # zenoh-side buffer per input, in front of the event queue

_KIND_SHM = contract.KIND_SHM


def start_input(subscriber, input_id: str, spec: InputConfig, events: EventQueue,
                on_flush: Callable[[str, bytes], None],
                on_error: Callable[[str, str], None],
                shm_value: Callable[[bytes, int, dict], Any] | None = None) -> threading.Thread:
    """Start the thread that feeds `input_id` from `subscriber` (a FIFO channel).

    `on_flush(input_id, attachment)` gets end-of-stream markers, `on_error(text, input_id)`
    undecodable messages (the input keeps working); `shm_value(attachment, start,
    metadata)` turns a shared-memory descriptor into the value."""
    on_sample = _decoder(input_id, spec, events, on_flush, on_error, shm_value)
    thread = threading.Thread(target=_pump, args=(subscriber, on_sample), daemon=True,
                              name=f"dora-input-{input_id}")
    thread.start()
    return thread


def _decoder(input_id, spec, events, on_flush, on_error, shm_value):
    depth, drop_oldest = spec.queue_size, spec.drops_oldest
    put = events.put_input
    decode_attachment, decode_value = contract.decode_attachment, contract.decode_value
    is_flush_marker = contract.is_flush_marker

    def on_sample(sample) -> None:
        attachment = sample.attachment
        if attachment is None:  # plain bytes without metadata
            put({"type": "INPUT", "id": input_id, "value": sample.payload.to_bytes(),
                 "metadata": {}, "kind": "dora"}, depth, drop_oldest)
            return
        raw = attachment.to_bytes()
        if is_flush_marker(raw):
            on_flush(input_id, raw)
            return
        try:
            kind, metadata, start = decode_attachment(raw)
            if kind == _KIND_SHM and shm_value is not None:
                value = shm_value(raw, start, metadata)
            else:
                value = decode_value(kind, sample.payload.to_bytes(), raw, start)
        except Exception as exc:  # a payload we cannot read: say so, keep the input
            on_error(f"cannot decode a message on input '{input_id}': "
                     f"{type(exc).__name__}: {exc}", input_id)
            return
        put({"type": "INPUT", "id": input_id, "value": value, "metadata": metadata,
             "kind": "dora"}, depth, drop_oldest)

    return on_sample


def _pump(subscriber, on_sample) -> None:
    """Feed one input's samples to the event queue until its subscriber is closed (a daemon
    thread, so it never keeps the interpreter alive)."""
    recv = subscriber.recv
    while True:
        try:
            sample = recv()
        except Exception:  # the subscriber or session is closed: the stream has ended
            return
        on_sample(sample)
