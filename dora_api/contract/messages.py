"""Everything a node and its supervisor say to each other besides data and config.

Each family has one encoder and one decoder; a decoder given anything else
raises ContractError (the heartbeat page, read while the node writes it, says None):
- control messages, supervisor -> node over zenoh (`Namespace.to`): stop, restarted,
  failed;
- pipe notes, node -> supervisor over the control fd: closing, flushed, moved;
- structured log lines a node writes on stderr (`LOG_MARK`);
- the end-of-stream marker a node puts on each output as it closes, and the
  acknowledgement a consumer answers it with (`Namespace.ack`);
- the stamp at the end of every data message's attachment: its `Position` in the
  producer's stream (incarnation, sequence number), what delivery accounting counts with;
- the heartbeat page, node -> supervisor in shared memory (`WATCHDOG_FD_ENV`): when
  the node last took an event and since when events wait for it;
- the release of a shared-memory value, consumer -> producer (`Namespace.release`).
"""

from __future__ import annotations

import enum
import json
import re
import struct
from collections.abc import Callable

from dora_api.contract.codec import KIND_BYTES, KIND_FLUSH
from dora_api.contract.errors import ContractError
from dora_api.contract.records import field, record

__all__ = [
    "StopMessage", "RestartedMessage", "FailedMessage", "ControlMessage", "encode_control",
    "decode_control",
    "ClosingNote", "FlushedNote", "MovedNote", "PipeNote", "encode_note", "decode_note",
    "Position", "stamp_attachment", "split_stamp", "stamper", "read_stamp", "STAMP_SIZE",
    "LOG_MARK", "LogRecord", "encode_log_line", "decode_log_line",
    "is_flush_marker", "encode_flush_marker", "decode_flush_marker",
    "Ack", "encode_ack", "decode_ack",
    "HEARTBEAT_BYTES", "HeartbeatField", "HeartbeatTimes", "arm_heartbeat", "write_heartbeat",
    "read_heartbeat",
    "ReleaseMessage", "encode_release", "decode_release", "release_encoder", "read_release",
]

_INCARNATION = re.compile(r"^[0-9]+$")


def _incarnation(text: str, what: str) -> int:
    if not _INCARNATION.match(text):
        raise ContractError(f"{what}: '{text}' is not an incarnation number")
    return int(text)


# -- control messages (supervisor -> node) --------------------------------------------

@record
class StopMessage:
    """Stop now (Ctrl-C, a strategy, shutdown): the node gets STOP with id MANUAL."""


@record
class RestartedMessage:
    """`node` is being restarted; its consumers get NODE_RESTARTED, their inputs stay open.

    `ended` is the incarnation that ended and `sent` how many messages it had sent on
    each output: a consumer puts NODE_RESTARTED after the last of them that arrives."""

    node: str
    ended: int | None = None
    sent: dict[str, int] = field(factory=dict, hash=False)


@record
class FailedMessage:
    """`node` failed for good (`error` says how): its consumers get NODE_FAILED naming the
    affected inputs, then INPUT_CLOSED for each. Sent before its `failed` token."""

    node: str
    error: str


ControlMessage = StopMessage | RestartedMessage | FailedMessage


def encode_control(message: ControlMessage) -> bytes:
    match message:
        case StopMessage():
            fields = {"t": "stop"}
        case RestartedMessage(node=node, ended=ended, sent=sent):
            fields = {"t": "restarted", "node": node, "ended": ended, "sent": sent}
        case FailedMessage(node=node, error=error):
            fields = {"t": "failed", "node": node, "error": error}
        case _:
            raise TypeError(f"not a control message: {message!r}")
    return json.dumps(fields).encode()


def decode_control(payload: bytes) -> ControlMessage:
    try:
        fields = json.loads(payload)
    except ValueError:  # also UnicodeDecodeError
        raise ContractError(f"control message is not JSON: {payload[:80]!r}") from None
    tag = fields.get("t") if isinstance(fields, dict) else None
    if tag == "stop":
        return StopMessage()
    node = fields.get("node") if isinstance(fields, dict) else None
    if tag == "restarted" and isinstance(node, str) and node:
        ended, sent = fields.get("ended"), fields.get("sent", {})
        if (ended is None or _count(ended)) and isinstance(sent, dict) and all(
                isinstance(k, str) and _count(v) for k, v in sent.items()):
            return RestartedMessage(node, ended, sent)
    if tag == "failed" and isinstance(node, str) and node and isinstance(fields.get("error"), str):
        return FailedMessage(node, fields["error"])
    raise ContractError(f"unknown control message: {payload[:80]!r}")


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# -- delivery: positions in a producer's stream ----------------------------------------

@record(order=True)
class Position:
    """A message's place in its producer's stream on one output: the producer's
    incarnation, then the sequence number within it (0, 1, 2, ...). Positions order the
    whole history of an output across restarts."""

    incarnation: int
    seq: int

    def __str__(self) -> str:
        return f"{self.incarnation}:{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Position:
        incarnation, _, seq = text.partition(":")
        return cls(_incarnation(incarnation, f"position {text!r}"),
                   _incarnation(seq, f"position {text!r}"))


_STAMP = struct.Struct("<IQB")
_STAMP_MARK = 0xD5  # last byte of a stamped attachment (JSON and kinds never end so)
STAMP_SIZE = _STAMP.size  # what the stamp adds at the end of an attachment


def stamp_attachment(attachment: bytes | None, position: Position) -> bytes:
    """`attachment` with the message's position appended; None (plain bytes) becomes the
    bytes kind, so the first byte still says what the payload is (never a marker)."""
    return stamper(position.incarnation)(attachment, position.seq)


def stamper(incarnation: int) -> Callable[[bytes | None, int], bytes]:
    """`stamp_attachment` for one incarnation, as `(attachment, seq) -> stamped` (the
    sender's per-message path: no Position made)."""
    pack, plain = _STAMP.pack, bytes((KIND_BYTES,))
    return lambda attachment, seq: (attachment or plain) + pack(incarnation, seq, _STAMP_MARK)


def read_stamp(attachment: bytes) -> tuple[int, int, int] | None:
    """(incarnation, seq, _) of a stamped attachment, whose first `len - STAMP_SIZE` bytes
    are the rest; None when it has none (the receiver's per-message `split_stamp`: no
    Position made, nothing copied)."""
    if len(attachment) < STAMP_SIZE or attachment[-1] != _STAMP_MARK:
        return None
    return _STAMP.unpack_from(attachment, len(attachment) - STAMP_SIZE)


def split_stamp(attachment: bytes) -> tuple[Position | None, bytes]:
    """(position, the attachment without it); (None, as it was) when it has none."""
    stamp = read_stamp(attachment)
    if stamp is None:
        return None, attachment
    return Position(stamp[0], stamp[1]), attachment[:-STAMP_SIZE]


# -- pipe notes (node -> supervisor) --------------------------------------------------

@record
class ClosingNote:
    """The node is closing on purpose: its liveliness token is about to vanish."""

    incarnation: int


@record
class FlushedNote:
    """The node put its end-of-stream markers and closed its session."""

    incarnation: int


@record
class MovedNote:
    """The stream on `input` did not go on where it was expected to: the next message
    expected was at `expected` (None: none yet in this incarnation), the one that came is
    at `came`. The supervisor counts what lies between as lost."""

    incarnation: int
    input: str
    expected: Position | None
    came: Position


PipeNote = ClosingNote | FlushedNote | MovedNote
_NOTE_TAGS: dict[str, type[ClosingNote] | type[FlushedNote]] = {"C": ClosingNote,
                                                                 "F": FlushedNote}


def encode_note(note: PipeNote) -> bytes:
    """One line, as written to the control pipe."""
    if isinstance(note, MovedNote):
        if not note.input or any(c.isspace() for c in note.input):
            raise ValueError(f"an input id cannot be {note.input!r}")
        return f"M {note.incarnation} {note.input} {note.expected or '-'} {note.came}\n".encode()
    tag = next(tag for tag, kind in _NOTE_TAGS.items() if isinstance(note, kind))
    return f"{tag} {note.incarnation}\n".encode()


def decode_note(line: str | bytes) -> PipeNote:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    what = f"control note {text.strip()[:80]!r}"
    tag, *fields = text.split() or [""]
    if tag == "M" and len(fields) == 4:
        number, input_id, expected, came = fields
        return MovedNote(_incarnation(number, what), input_id,
                         None if expected == "-" else Position.parse(expected),
                         Position.parse(came))
    kind = _NOTE_TAGS.get(tag)
    if kind is None or len(fields) != 1:
        raise ContractError(f"unknown control note: {text.strip()[:80]!r}")
    return kind(_incarnation(fields[0], what))


# -- structured log lines (node stderr) -----------------------------------------------

LOG_MARK = '{"dora_log":'  # stderr lines starting with this are structured log records


@record
class LogRecord:
    """A log record of a node (Python `logging` or `node.log_*`), as the supervisor logs
    it (`node_log`). `level` is a Python or a dora-rs level name; `fields` are the
    structured fields given to `node.log(..., fields=...)`."""

    level: str
    msg: str
    logger: str | None = None
    fields: dict | None = None


def encode_log_line(record: LogRecord) -> str:
    fields = {"dora_log": 1, "level": record.level, "msg": record.msg, "logger": record.logger}
    if record.fields is not None:
        fields["fields"] = record.fields
    return json.dumps(fields, default=str)


def decode_log_line(line: str) -> LogRecord | None:
    """The record of a structured line; None for any other line (plain output)."""
    if not line.startswith(LOG_MARK):
        return None
    try:
        fields = json.loads(line)
    except ValueError:
        fields = None
    if (isinstance(fields, dict) and isinstance(fields.get("level"), str)
            and isinstance(fields.get("msg"), str)
            and isinstance(fields.get("logger"), str | None)
            and isinstance(fields.get("fields"), dict | None)):
        return LogRecord(fields["level"], fields["msg"], fields.get("logger"),
                         fields.get("fields"))
    raise ContractError(f"malformed log line: {line[:80]!r}")


# -- end of stream: marker (producer -> consumers) and acknowledgement ----------------

def is_flush_marker(attachment: bytes) -> bool:
    """Cheap enough for every data message: the first attachment byte."""
    return bool(attachment) and attachment[0] == KIND_FLUSH


def encode_flush_marker(incarnation: int) -> bytes:
    """The attachment of an empty message that ends `incarnation`'s stream on an output."""
    return bytes((KIND_FLUSH,)) + str(incarnation).encode()


def decode_flush_marker(attachment: bytes) -> int:
    """The incarnation whose stream ended."""
    if not is_flush_marker(attachment):
        raise ContractError(f"not an end-of-stream marker: {attachment[:80]!r}")
    return _incarnation(attachment[1:].decode("ascii", "replace"), "end-of-stream marker")


@record
class Ack:
    """`consumer` has the end-of-stream marker of the producer's `output`."""

    consumer: str
    output: str


def encode_ack(ack: Ack) -> bytes:
    return f"{ack.consumer}/{ack.output}".encode()


def decode_ack(payload: bytes) -> Ack:
    consumer, _, output = payload.decode("utf-8", "replace").partition("/")
    if not consumer or not output:
        raise ContractError(f"malformed end-of-stream acknowledgement: {payload[:80]!r}")
    return Ack(consumer, output)


# -- the heartbeat page (node -> supervisor, shared memory) ---------------------------
#
# Four little-endian 8-byte words: a magic word (0 until the node arms the page), then
# three CLOCK_MONOTONIC times as doubles (`time.monotonic()` on both sides). Each time is
# one aligned 8-byte store, so a reader never sees half of one; a reader may see one
# field newer than another, which the supervisor's rule tolerates (it takes the latest).

_HEARTBEAT_MAGIC = int.from_bytes(b"DORA-WD\x01", "little")  # the last byte: the version
_HEARTBEAT = struct.Struct("<Qddd")
_TIME = struct.Struct("<d")
HEARTBEAT_BYTES = _HEARTBEAT.size


class HeartbeatField(enum.IntEnum):
    """Where each time is in the page (its byte offset)."""

    TAKEN_AT = 8  # the node last took an event, or said it is alive (`keepalive`)
    WAITING_SINCE = 16  # events have waited since then; 0: none waits
    EXCUSED_UNTIL = 24  # the node said it may block until then (`keepalive(seconds)`)


@record
class HeartbeatTimes:
    taken_at: float
    waiting_since: float
    excused_until: float


def arm_heartbeat(page, now: float, waiting: bool) -> None:
    """Start the heartbeat: a node's page means nothing until it is armed."""
    _HEARTBEAT.pack_into(page, 0, 0, now, now if waiting else 0.0, 0.0)
    struct.pack_into("<Q", page, 0, _HEARTBEAT_MAGIC)


def write_heartbeat(page, field: HeartbeatField, value: float) -> None:
    _TIME.pack_into(page, field, value)


def read_heartbeat(page) -> HeartbeatTimes | None:
    """The page's times; None while the node has not armed it (not started yet, or not
    a dora_api node)."""
    magic, taken_at, waiting_since, excused_until = _HEARTBEAT.unpack_from(page, 0)
    if magic != _HEARTBEAT_MAGIC:
        return None
    return HeartbeatTimes(taken_at, waiting_since, excused_until)
# -- shared memory: a consumer no longer holds a value (consumer -> producer) ---------

_RELEASE_FIXED = struct.Struct("<IQ")


@record
class ReleaseMessage:
    """`holder` (node/incarnation) dropped the value it got in `slot` of the producer's
    `output` at `generation`: once every holder has, the producer may reuse the slot."""

    holder: str
    output: str
    slot: int
    generation: int


def encode_release(message: ReleaseMessage) -> bytes:
    return release_encoder(message.holder, message.output)(message.slot, message.generation)


def release_encoder(holder: str, output: str) -> Callable[[int, int], bytes]:
    """`encode_release` for one holder and output, as `(slot, generation) -> bytes`."""
    prefix, pack = f"{holder}\n{output}\n".encode(), _RELEASE_FIXED.pack
    return lambda slot, generation: prefix + pack(slot, generation)


def decode_release(payload: bytes) -> ReleaseMessage:
    return ReleaseMessage(*read_release(payload))


def read_release(payload: bytes) -> tuple[str, str, int, int]:
    """`decode_release` as (holder, output, slot, generation): no record made."""
    holder, sep1, rest = payload.partition(b"\n")
    output, sep2, numbers = rest.partition(b"\n")
    if not (sep1 and sep2 and holder and output) or len(numbers) != _RELEASE_FIXED.size:
        raise ContractError(f"malformed shared-memory release: {payload[:80]!r}")
    try:
        return (holder.decode(), output.decode(), *_RELEASE_FIXED.unpack(numbers))
    except UnicodeDecodeError:
        raise ContractError(f"malformed shared-memory release: {payload[:80]!r}") from None
