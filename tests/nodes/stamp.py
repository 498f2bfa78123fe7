"""The stamp a sequence source puts on each message and a sequence sink checks.

`pid, restart count, sequence number` identify one message of one producer incarnation;
the CRC-32 over them says it arrived intact. Imported by the nodes (a sibling module on
their `sys.path`) and by the tests.
"""

import struct
import zlib

__all__ = ["SIZE", "pack", "unpack"]

_FIELDS = struct.Struct("<IIQ")
_CRC = struct.Struct("<I")
SIZE = _FIELDS.size + _CRC.size


def pack(pid: int, restart: int, seq: int, size: int = SIZE) -> bytes:
    """One stamp, padded with a byte pattern (also covered by the CRC) up to `size`."""
    head = _FIELDS.pack(pid, restart, seq)
    padding = bytes((seq + i) & 0xFF for i in range(max(0, size - SIZE)))
    return head + _CRC.pack(zlib.crc32(head + padding)) + padding


def unpack(data: bytes) -> tuple[int, int, int] | None:
    """(pid, restart, seq), or None when the message is not an intact stamp."""
    data = bytes(data)
    if len(data) < SIZE:
        return None
    head, (crc,), padding = data[:_FIELDS.size], _CRC.unpack_from(data, _FIELDS.size), data[SIZE:]
    if zlib.crc32(head + padding) != crc:
        return None
    return _FIELDS.unpack(head)
