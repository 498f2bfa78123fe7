"""A node's message counts, in the ledger file its supervisor named (`LEDGER_ENV`).

The file is mapped shared: each update is one aligned 64-bit store, no system call, and
what was stored survives however the process ends, for the supervisor to read after its
exit. Without a ledger file (a node run by hand) the counts live in memory only.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading

from dora_api import contract

__all__ = ["Tally"]

_WORD = struct.Struct("<Q")


class Tally:
    """Sent per output (which also numbers the messages), received / taken / dropped and
    the next expected position per input."""

    def __init__(self, layout: contract.LedgerLayout, incarnation: int, path: str | None):
        content = layout.initial(incarnation)
        self._buffer: mmap.mmap | bytearray = _mapped(path, content) if path else None
        if self._buffer is None:
            self._buffer = bytearray(content)
        self._lock = threading.Lock()
        self._counts = {offset: 0 for offset in
                        [layout.sent_offset(o) for o in layout.outputs] +
                        [layout.input_offset(i, w) for i in layout.inputs
                         for w in contract.LEDGER_INPUT_WORDS]}
        self._sent_at = {output: layout.sent_offset(output) for output in layout.outputs}
        self._input_at = {input_id: {word: layout.input_offset(input_id, word)
                                     for word in contract.LEDGER_INPUT_WORDS}
                          for input_id in layout.inputs}

    def next_seq(self, output: str) -> int:
        """The sequence number of the message about to be sent on `output` (counted as
        sent before it is handed to zenoh: a crash in between counts it as lost)."""
        with self._lock:
            return self._add(self._sent_at[output]) - 1

    def received(self, input_id: str, position: contract.Position) -> None:
        at = self._input_at.get(input_id)
        if at is not None:
            with self._lock:
                self._store(at["next"], contract.pack_position(
                    contract.Position(position.incarnation, position.seq + 1)))
                self._add(at["received"])

    def taken(self, input_id: str) -> None:
        self._count(input_id, "taken")

    def dropped(self, input_id: str) -> None:
        self._count(input_id, "dropped")

    def _count(self, input_id: str, word: str) -> None:
        at = self._input_at.get(input_id)  # timer inputs have no counts
        if at is not None:
            with self._lock:
                self._add(at[word])

    def _add(self, offset: int) -> int:
        value = self._counts[offset] = self._counts[offset] + 1
        _WORD.pack_into(self._buffer, offset, value)
        return value

    def _store(self, offset: int, value: int) -> None:
        _WORD.pack_into(self._buffer, offset, value)


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
