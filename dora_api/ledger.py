"""A node's message counts, in the ledger file its supervisor named (`LEDGER_ENV`).

The file is mapped shared: each update is one aligned 64-bit store, no system call, and
what was stored survives however the process ends, for the supervisor to read after its
exit. Without a ledger file (a node run by hand) the counts live in memory only.
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
import threading

from dora_api import contract

__all__ = ["Tally"]

_WORD = struct.Struct("<Q")


class _InputWords:
    """Where one input's counts live in the ledger, and their values."""

    __slots__ = ("next_at", "received_at", "taken_at", "dropped_at", "received", "taken",
                 "dropped")

    def __init__(self, layout: contract.LedgerLayout, input_id: str):
        self.next_at, self.received_at, self.taken_at, self.dropped_at = (
            layout.input_offset(input_id, word) for word in contract.LEDGER_INPUT_WORDS)
        self.received = self.taken = self.dropped = 0


class Tally:
    """Sent per output (which also numbers the messages), received / taken / dropped and
    the next expected position per input. Each update is a few stores under one plain lock
    (any thread may send; an input's counts are written by its reader and by the node's
    thread)."""

    def __init__(self, layout: contract.LedgerLayout, incarnation: int, path: str | None,
                 lock: threading.Lock | None = None):
        content = layout.initial(incarnation)
        self._buffer: mmap.mmap | bytearray = _mapped(path, content) if path else None
        if self._buffer is None:
            self._buffer = bytearray(content)
        self.lock = self._lock = lock or threading.Lock()  # shared with delivery's order
        self.store = self._store = functools.partial(_WORD.pack_into, self._buffer)
        self._sent = {output: [layout.sent_offset(output), 0] for output in layout.outputs}
        self._inputs = {input_id: _InputWords(layout, input_id) for input_id in layout.inputs}

    def input_words(self, input_id: str) -> _InputWords | None:
        """Where `input_id`'s counts live (None: not counted), for a caller that updates
        them itself under `lock`, with `store(offset, value)`."""
        return self._inputs.get(input_id)

    def next_seq(self, output: str) -> int:
        """The sequence number of the message about to be sent on `output` (counted as
        sent before it is handed to zenoh: a crash in between counts it as lost)."""
        word = self._sent[output]
        with self._lock:
            seq = word[1]
            word[1] = seq + 1
            self._store(word[0], seq + 1)
        return seq

    def received(self, input_id: str, position: contract.Position) -> None:
        self.received_at(input_id, position.incarnation, position.seq)

    def received_at(self, input_id: str, incarnation: int, seq: int) -> None:
        """`received` with the position as two ints."""
        words = self._inputs.get(input_id)
        if words is not None:
            packed = contract.position_word(incarnation, seq + 1)
            with self._lock:
                self._store(words.next_at, packed)
                words.received += 1
                self._store(words.received_at, words.received)

    def taken(self, input_id: str) -> None:
        words = self._inputs.get(input_id)  # timer inputs have no counts
        if words is not None:
            with self._lock:
                words.taken += 1
                self._store(words.taken_at, words.taken)

    def dropped(self, input_id: str) -> None:
        words = self._inputs.get(input_id)
        if words is not None:
            with self._lock:
                words.dropped += 1
                self._store(words.dropped_at, words.dropped)


def _mapped(path: str, content: bytes) -> mmap.mmap | None:
    """`content` written to `path` and mapped shared; None when that is not possible (the
    counts then stay in memory: nothing to account with, nothing broken)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        return mmap.mmap(fd, len(content)) if content else None
    except OSError:
        return None
    finally:
        os.close(fd)
