"""The delivery ledger: a small file a node keeps its message counts in, for its
supervisor to read after the process has ended, however it ended.

The node maps the file (shared) and updates one aligned 64-bit word per count, so the
figures survive a SIGKILL exactly as they were. Layout, little-endian:

    magic "DLG1" | u32 length of the names | u64 the node's incarnation
    names: JSON {"outputs": [...], "inputs": [...]}, padded to 8 bytes
    per output: sent (messages handed to zenoh, stamped 0, 1, 2, ...)
    per input:  next (the position after the last message received, packed; 0: none),
                received, taken (by the node's code), dropped (by `drop_oldest`)

The supervisor names the file in `LEDGER_ENV`.
"""

from __future__ import annotations

import json
import struct

from dora_api.contract.errors import ContractError
from dora_api.contract.messages import Position
from dora_api.contract.records import field, record

__all__ = ["LEDGER_ENV", "LEDGER_INPUT_WORDS", "LedgerLayout", "InputTally", "Ledger", "read_ledger",
           "pack_position", "unpack_position", "position_word"]

LEDGER_ENV = "DORA_LEDGER"
_MAGIC = b"DLG1"
_HEAD = struct.Struct("<4sIQ")
_WORD = struct.Struct("<Q")
_SEQ_BITS = 40  # a packed position: incarnation above, next sequence number below
LEDGER_INPUT_WORDS = ("next", "received", "taken", "dropped")


def pack_position(position: Position) -> int:
    return position_word(position.incarnation, position.seq)


def position_word(incarnation: int, seq: int) -> int:
    """`pack_position` of the position (incarnation, seq), given as two ints."""
    return (incarnation << _SEQ_BITS) | seq


def unpack_position(word: int) -> Position | None:
    """The position `pack_position` packed into `word` (0: none)."""
    return Position(word >> _SEQ_BITS, word & ((1 << _SEQ_BITS) - 1)) if word else None


@record
class LedgerLayout:
    """Where each count of a node with these outputs and (non-timer) inputs lives."""

    outputs: tuple[str, ...] = field(converter=tuple)
    inputs: tuple[str, ...] = field(converter=tuple)

    def _names(self) -> bytes:
        names = json.dumps({"outputs": self.outputs, "inputs": self.inputs}).encode()
        return names + b" " * (-len(names) % 8)

    @property
    def _words_at(self) -> int:
        return _HEAD.size + len(self._names())

    def initial(self, incarnation: int) -> bytes:
        """The whole file at the start: every count zero."""
        names = self._names()
        words = len(self.outputs) + len(LEDGER_INPUT_WORDS) * len(self.inputs)
        return _HEAD.pack(_MAGIC, len(names), incarnation) + names + bytes(8 * words)

    def sent_offset(self, output: str) -> int:
        return self._words_at + 8 * self.outputs.index(output)

    def input_offset(self, input_id: str, word: str) -> int:
        """Offset of one of `LEDGER_INPUT_WORDS` of `input_id`."""
        index = len(self.outputs) + len(LEDGER_INPUT_WORDS) * self.inputs.index(input_id)
        return self._words_at + 8 * (index + LEDGER_INPUT_WORDS.index(word))


@record
class InputTally:
    next: Position | None
    received: int
    taken: int
    dropped: int

    @property
    def unread(self) -> int:
        """Received, then neither taken by the node's code nor dropped by its queue
        policy: what the node still held when it ended."""
        return max(0, self.received - self.taken - self.dropped)


@record
class Ledger:
    incarnation: int
    sent: dict[str, int]
    inputs: dict[str, InputTally]


def read_ledger(data: bytes) -> Ledger:
    """The counts in a ledger file's bytes; ContractError when they are not one."""
    try:
        magic, names_len, incarnation = _HEAD.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("bad magic")
        names = json.loads(data[_HEAD.size:_HEAD.size + names_len])
        layout = LedgerLayout(names["outputs"], names["inputs"])
        word = lambda offset: _WORD.unpack_from(data, offset)[0]  # noqa: E731
        sent = {out: word(layout.sent_offset(out)) for out in layout.outputs}
        inputs = {}
        for input_id in layout.inputs:
            counts = [word(layout.input_offset(input_id, name)) for name in LEDGER_INPUT_WORDS]
            inputs[input_id] = InputTally(unpack_position(counts[0]), *counts[1:])
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise ContractError(f"not a delivery ledger: {exc}") from None
    return Ledger(incarnation, sent, inputs)
