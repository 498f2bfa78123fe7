"""Data messages: what a payload is, said in its attachment, and the one value codec.

Attachment: kind byte, flags byte, then the user's metadata as JSON (u32 size first) only
when there is some, then what the kind needs:

- no attachment at all: plain bytes without metadata (the fast path, as before);
- KIND_BYTES: bytes; the payload is the value;
- KIND_LAYOUT: an Arrow array; its layout header (`arrow_layout`) ends the attachment and
  the payload is the buffer region: decoded without a copy;
- KIND_SHM: an Arrow array in a shared-memory segment; a `ShmDescriptor`, then the layout
  header; the payload is empty;
- KIND_ARROW: an Arrow array as an IPC stream (types the layout cannot describe);
- KIND_FLUSH: the end-of-stream marker (see messages);
- WAKE_ATTACHMENT: an empty message a node puts to itself only (session-local), to wake
  its own thread blocked on that input's channel (see dora_api.direct).

pyarrow is imported only when an Arrow value is actually sent or received.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from dora_api.contract.arrow_layout import (
    BUFFER_ALIGNMENT,
    ArrowLayout,
    array_layout,
    decode_array,
)
from dora_api.contract.errors import ContractError
from dora_api.contract.records import evolve, record

__all__ = ["KIND_BYTES", "KIND_ARROW", "KIND_LAYOUT", "KIND_SHM", "KIND_FLUSH",
           "ShmDescriptor", "encode_value", "decode_value", "encode_attachment",
           "decode_attachment", "encode_shm_attachment", "shm_attachment",
           "decode_shm_descriptor", "read_shm_descriptor", "arrow_layout_of",
           "inline_message", "encode_arrow_ipc", "WAKE_ATTACHMENT", "is_wake",
           "SEGMENT_GENERATION", "SEGMENT_DATA_OFFSET"]

KIND_BYTES = ord("b")
KIND_ARROW = ord("a")  # IPC stream: the fallback
KIND_LAYOUT = ord("l")
KIND_SHM = ord("s")
KIND_FLUSH = ord("F")  # end of one incarnation's stream on this output (see messages)
WAKE_ATTACHMENT = b"W\0"  # never leaves the process that puts it

_HAS_METADATA = 1
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_SHM_FIXED = struct.Struct("<QQIQ")  # capacity, region offset, slot, generation
# A segment starts with the generation of the value in it (written before the value), so
# a reader that copies a value it does not hold can tell whether it was reused meanwhile;
# the value's buffer region starts at SEGMENT_DATA_OFFSET (64: aligned for any buffer).
SEGMENT_GENERATION = struct.Struct("<Q")
SEGMENT_DATA_OFFSET = 64
_PADDING = bytes(BUFFER_ALIGNMENT)
_encode_json = json.JSONEncoder(default=str, separators=(",", ":")).encode


@record
class ShmDescriptor:
    """Where an Arrow value's buffer region lies: `segment` (a name under /dev/shm) of
    `capacity` bytes, from `offset` on. `slot` and `generation` name this use of the
    segment in the release message; `holders` are the consumers expected to release it
    (any other receiver copies the value out instead of holding the segment)."""

    segment: str
    capacity: int
    offset: int
    slot: int
    generation: int
    holders: tuple[str, ...]


def arrow_layout_of(data: Any) -> ArrowLayout | None:
    """The layout of a pyarrow Array or ChunkedArray, None if it has none (or is not one)."""
    if not (type(data).__module__ or "").startswith("pyarrow"):
        return None
    global _pa
    if _pa is None:
        import pyarrow

        _pa = pyarrow
    if isinstance(data, _pa.Array):
        return array_layout(data)
    if isinstance(data, _pa.ChunkedArray):
        return array_layout(data.chunk(0) if data.num_chunks == 1 else data.combine_chunks())
    return None


_pa = None  # pyarrow, once a value needed it


def inline_message(arrow: ArrowLayout, metadata: dict | None) -> tuple[bytes, bytes]:
    """(payload, attachment) of an Arrow value sent over zenoh. A layout used again (the
    same array sent again) keeps its attachment and its view of the buffer."""
    if metadata:
        return pack_region(arrow), encode_attachment(KIND_LAYOUT, metadata, arrow.header)
    if arrow.attachment is None:
        arrow.attachment = bytes((KIND_LAYOUT, 0)) + arrow.header
    return pack_region(arrow), arrow.attachment


def pack_region(arrow: ArrowLayout) -> bytes | bytearray:
    """The buffer region of `arrow` as one bytes-like: each buffer at its position."""
    parts = arrow.parts
    if len(parts) == 1 and parts[0][0] == 0:
        if arrow.view is None:
            arrow.view = memoryview(parts[0][1])
        return bytes(arrow.view)
    chunks: list[Any] = []
    written = 0
    for position, buffer in parts:
        if position > written:
            chunks.append(_PADDING[:position - written])
        chunks.append(buffer)
        written = position + buffer.size
    return b"".join(chunks)


def encode_value(data: Any) -> tuple[int, bytes | bytearray, bytes]:
    """(kind, payload, kind header) for bytes-likes and pyarrow arrays."""
    if type(data) is bytes or type(data) is bytearray:
        return KIND_BYTES, data, b""
    if isinstance(data, memoryview):
        return KIND_BYTES, bytes(data), b""  # zenoh's put takes bytes and bytearray only
    module = type(data).__module__ or ""
    if module.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(data, pa.Array | pa.ChunkedArray):
            arrow = arrow_layout_of(data)
            if arrow is not None:
                return KIND_LAYOUT, pack_region(arrow), arrow.header
            return KIND_ARROW, encode_arrow_ipc(data), b""
    raise TypeError(f"send_output takes bytes, bytearray, memoryview or a pyarrow array, "
                    f"not {type(data).__name__}")


def encode_arrow_ipc(data: Any) -> bytes:
    """A pyarrow array as an IPC stream (one batch, column `value`)."""
    import pyarrow as pa

    if not isinstance(data, pa.Array | pa.ChunkedArray):
        raise TypeError(f"not a pyarrow array: {type(data).__name__}")
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    batch = pa.RecordBatch.from_arrays([data], ["value"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def decode_value(kind: int, payload: bytes, attachment: bytes = b"", start: int = 0) -> Any:
    """The value of a message that is not in shared memory; `attachment[start:]` is what
    `decode_attachment` left (the layout header). Raises ContractError or a pyarrow error."""
    if kind == KIND_LAYOUT:
        import pyarrow as pa

        return decode_array(attachment, start, pa.py_buffer(payload))
    if kind == KIND_ARROW:
        import pyarrow as pa

        with pa.ipc.open_stream(payload) as reader:
            return reader.read_next_batch().column(0)
    if kind == KIND_BYTES:
        return payload
    raise ContractError(f"a data message of unknown kind {kind:#x}")


def encode_attachment(kind: int, metadata: dict | None, header: bytes = b"") -> bytes | None:
    """None for plain bytes without metadata: the receiver's default, and the fast path."""
    if not metadata:
        if kind == KIND_BYTES:
            return None
        return bytes((kind, 0)) + header
    encoded = _encode_json(metadata).encode()
    return bytes((kind, _HAS_METADATA)) + _U32.pack(len(encoded)) + encoded + header


def decode_attachment(attachment: bytes | None) -> tuple[int, dict, int]:
    """(kind, metadata, where the kind's header starts). A lone kind byte is that kind
    without metadata."""
    if not attachment:
        return KIND_BYTES, {}, 0
    if len(attachment) < 2 or not attachment[1] & _HAS_METADATA:
        return attachment[0], {}, 2
    try:
        (size,) = _U32.unpack_from(attachment, 2)
        metadata = json.loads(attachment[6:6 + size])
    except (struct.error, ValueError):
        raise ContractError(f"malformed metadata in a data message: {attachment[:80]!r}") \
            from None
    if not isinstance(metadata, dict):
        raise ContractError("the metadata of a data message is not a JSON object")
    return attachment[0], metadata, 6 + size


def is_wake(attachment: bytes) -> bool:
    return attachment == WAKE_ATTACHMENT


def encode_shm_attachment(descriptor: ShmDescriptor, metadata: dict | None,
                          header: bytes) -> bytes:
    """The attachment of an Arrow value whose buffer region is in shared memory."""
    d = descriptor
    plain = shm_attachment(d.segment, d.capacity, d.offset, d.slot, d.generation, d.holders,
                           header)
    return encode_attachment(KIND_SHM, metadata, plain[2:]) if metadata else plain


def shm_attachment(segment: str, capacity: int, offset: int, slot: int, generation: int,
                   holders: tuple[str, ...], header: bytes) -> bytes:
    """`encode_shm_attachment` without metadata, from the descriptor's fields (the
    sender's per-message path: no record made). Everything but the generation repeats
    while a producer reuses a segment for values of one layout: the bytes around it are
    made once and kept."""
    key = (segment, capacity, offset, slot, holders, header)
    around = _shm_around.get(key)
    if around is None:
        before = _name(segment) + _SHM_FIXED.pack(capacity, offset, slot, 0)[:-_U64.size]
        after = b"".join([_U16.pack(len(holders)), *(_name(h) for h in holders), header])
        around = (bytes((KIND_SHM, 0)) + before, after)
        if len(_shm_around) >= _SHM_AROUND_MAX:
            _shm_around.clear()
        _shm_around[key] = around
    return around[0] + _U64.pack(generation) + around[1]


_U64 = SEGMENT_GENERATION  # "<Q": the generation, the last field of _SHM_FIXED
_SHM_AROUND_MAX = 256
_shm_around: dict[tuple, tuple[bytes, bytes]] = {}


def decode_shm_descriptor(attachment: bytes, start: int) -> tuple[ShmDescriptor, int]:
    """The descriptor at `attachment[start:]` and where the layout header after it starts."""
    try:
        segment, pos = _read_name(attachment, start)
        capacity, offset, slot, generation = _SHM_FIXED.unpack_from(attachment, pos)
        pos += _SHM_FIXED.size
        (count,) = _U16.unpack_from(attachment, pos)
        pos += 2
        holders = []
        for _ in range(count):
            holder, pos = _read_name(attachment, pos)
            holders.append(holder)
    except (struct.error, UnicodeDecodeError):
        raise ContractError("malformed shared-memory descriptor in a data message") from None
    return ShmDescriptor(segment, capacity, offset, slot, generation, tuple(holders)), pos


def read_shm_descriptor(attachment: bytes, start: int) -> tuple[ShmDescriptor, int, int]:
    """`decode_shm_descriptor` for the receiver's per-message path: (the descriptor with
    generation 0, the generation, where the layout header starts). A producer reuses a
    few segments: everything but the generation is parsed once per slot and kept."""
    try:
        (size,) = _U16.unpack_from(attachment, start)
        at = start + 2 + size + _SHM_FIXED.size - _U64.size  # the generation
        (generation,) = _U64.unpack_from(attachment, at)
    except struct.error:
        raise ContractError("malformed shared-memory descriptor in a data message") from None
    key = (attachment[start:at], attachment[at + _U64.size:])
    known = _shm_read.get(key)
    if known is None:
        descriptor, header_start = decode_shm_descriptor(attachment, start)
        known = (evolve(descriptor, generation=0), header_start - start)
        if len(_shm_read) >= _SHM_AROUND_MAX:
            _shm_read.clear()
        _shm_read[key] = known
    return known[0], generation, start + known[1]


_shm_read: dict[tuple[bytes, bytes], tuple[ShmDescriptor, int]] = {}


def _name(text: str) -> bytes:
    encoded = text.encode()
    return _U16.pack(len(encoded)) + encoded


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    (size,) = _U16.unpack_from(data, pos)
    if pos + 2 + size > len(data):
        raise struct.error("name runs past the end")
    return bytes(data[pos + 2:pos + 2 + size]).decode(), pos + 2 + size
