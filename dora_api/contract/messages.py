"""Everything a node and its supervisor say to each other besides data and config.

Four families, each with one encoder and one decoder; a decoder given anything else
raises ContractError:
- control messages, supervisor -> node over zenoh (`Namespace.to`): stop, restarted;
- pipe notes, node -> supervisor over the control fd: closing, flushed;
- structured log lines a node writes on stderr (`LOG_MARK`);
- the end-of-stream marker a node puts on each output as it closes, and the
  acknowledgement a consumer answers it with (`Namespace.ack`);
- the release of a shared-memory value, consumer -> producer (`Namespace.release`).
"""

from __future__ import annotations

import json
import re
import struct

import attrs

from dora_api.contract.codec import KIND_FLUSH
from dora_api.contract.errors import ContractError

__all__ = [
    "StopMessage", "RestartedMessage", "ControlMessage", "encode_control", "decode_control",
    "ClosingNote", "FlushedNote", "PipeNote", "encode_note", "decode_note",
    "LOG_MARK", "LogRecord", "encode_log_line", "decode_log_line",
    "is_flush_marker", "encode_flush_marker", "decode_flush_marker",
    "Ack", "encode_ack", "decode_ack",
    "ReleaseMessage", "encode_release", "decode_release",
]

_INCARNATION = re.compile(r"^[0-9]+$")


def _incarnation(text: str, what: str) -> int:
    if not _INCARNATION.match(text):
        raise ContractError(f"{what}: '{text}' is not an incarnation number")
    return int(text)


# -- control messages (supervisor -> node) --------------------------------------------

@attrs.frozen
class StopMessage:
    """Stop now (Ctrl-C, a strategy, shutdown): the node gets STOP with id MANUAL."""


@attrs.frozen
class RestartedMessage:
    """`node` is being restarted; its consumers get NODE_RESTARTED, their inputs stay open."""

    node: str


ControlMessage = StopMessage | RestartedMessage


def encode_control(message: ControlMessage) -> bytes:
    match message:
        case StopMessage():
            fields = {"t": "stop"}
        case RestartedMessage(node=node):
            fields = {"t": "restarted", "node": node}
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
    if tag == "restarted" and isinstance(fields.get("node"), str) and fields["node"]:
        return RestartedMessage(fields["node"])
    raise ContractError(f"unknown control message: {payload[:80]!r}")


# -- pipe notes (node -> supervisor) --------------------------------------------------

@attrs.frozen
class ClosingNote:
    """The node is closing on purpose: its liveliness token is about to vanish."""

    incarnation: int


@attrs.frozen
class FlushedNote:
    """The node put its end-of-stream markers and closed its session."""

    incarnation: int


PipeNote = ClosingNote | FlushedNote
_NOTE_TAGS: dict[str, type[ClosingNote] | type[FlushedNote]] = {"C": ClosingNote,
                                                                 "F": FlushedNote}


def encode_note(note: PipeNote) -> bytes:
    """One line, as written to the control pipe."""
    tag = next(tag for tag, kind in _NOTE_TAGS.items() if isinstance(note, kind))
    return f"{tag} {note.incarnation}\n".encode()


def decode_note(line: str | bytes) -> PipeNote:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    tag, _, number = text.strip().partition(" ")
    kind = _NOTE_TAGS.get(tag)
    if kind is None:
        raise ContractError(f"unknown control note: {text.strip()[:80]!r}")
    return kind(_incarnation(number, f"control note {text.strip()[:80]!r}"))


# -- structured log lines (node stderr) -----------------------------------------------

LOG_MARK = '{"dora_log":'  # stderr lines starting with this are structured log records


@attrs.frozen
class LogRecord:
    """A Python `logging` record of a node, as the supervisor logs it (`node_log`)."""

    level: str
    msg: str
    logger: str | None = None


def encode_log_line(record: LogRecord) -> str:
    return json.dumps({"dora_log": 1, "level": record.level, "msg": record.msg,
                       "logger": record.logger})


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
            and isinstance(fields.get("logger"), str | None)):
        return LogRecord(fields["level"], fields["msg"], fields.get("logger"))
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


@attrs.frozen
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


# -- shared memory: a consumer no longer holds a value (consumer -> producer) ---------

_RELEASE_FIXED = struct.Struct("<IQ")


@attrs.frozen
class ReleaseMessage:
    """`holder` (node/incarnation) dropped the value it got in `slot` of the producer's
    `output` at `generation`: once every holder has, the producer may reuse the slot."""

    holder: str
    output: str
    slot: int
    generation: int


def encode_release(message: ReleaseMessage) -> bytes:
    return (f"{message.holder}\n{message.output}\n".encode()
            + _RELEASE_FIXED.pack(message.slot, message.generation))


def decode_release(payload: bytes) -> ReleaseMessage:
    holder, sep1, rest = payload.partition(b"\n")
    output, sep2, numbers = rest.partition(b"\n")
    if not (sep1 and sep2 and holder and output) or len(numbers) != _RELEASE_FIXED.size:
        raise ContractError(f"malformed shared-memory release: {payload[:80]!r}")
    try:
        slot, generation = _RELEASE_FIXED.unpack(numbers)
        return ReleaseMessage(holder.decode(), output.decode(), slot, generation)
    except UnicodeDecodeError:
        raise ContractError(f"malformed shared-memory release: {payload[:80]!r}") from None
