"""Arrow arrays on the wire without IPC: a compact layout header, and the buffers as they lie.

Header: u16 size of the type code, the type code (below), then int64 numbers in pre-order
over the array's nodes: length, null count, offset, and for each of the node's own buffers
its position in the buffer region and its size (-1: absent). How many numbers there are
follows from the type. In the buffer region every buffer starts 8-byte aligned, so the
receiver wraps each one where it lies (`pa.Array.from_buffers` over a slice of the received
memory): no copy. A sliced leaf or list sends only the bytes its rows use.

Type code: one byte per primitive type; a tag and its parameters for timestamp (unit,
time zone), duration, time32/64, decimal128/256 and fixed-size binary; a tag and the child
field(s) (u16 name size, name, nullable byte, type code) for list, large_list,
fixed_size_list (i32 size first) and struct (u16 field count first).

`array_layout` returns None for what the header cannot describe (dictionary, union, map, view and
extension types, fields with metadata): the codec sends those as an IPC stream instead.
pyarrow is imported only by the functions that need it.
"""

from __future__ import annotations

import functools
import struct
import weakref
from typing import Any

from dora_api.contract.errors import ContractError

__all__ = ["ArrowLayout", "array_layout", "decode_array", "BUFFER_ALIGNMENT", "uint8_header"]

BUFFER_ALIGNMENT = 8  # every buffer starts at a multiple of this in the buffer region

_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_UNITS = ("s", "ms", "us", "ns")
_SIMPLE_NAMES = ("null", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16",
                 "uint32", "uint64", "float16", "float32", "float64", "string", "large_string",
                 "binary", "large_binary", "date32", "date64")  # tag = index + 1
_TIMESTAMP, _DURATION, _TIME32, _TIME64 = 0x20, 0x21, 0x22, 0x23
_DECIMAL128, _DECIMAL256, _FIXED_BINARY = 0x24, 0x25, 0x26
_LIST, _LARGE_LIST, _FIXED_LIST, _STRUCT = 0x30, 0x31, 0x32, 0x33

# What each of a node's own buffers holds: how to cut out the bytes a slice uses.
_BITMAP, _OFFSETS32, _OFFSETS64, _VALUES, _ABSENT = -1, -2, -3, -4, -5  # >0: fixed bit width


class _Plan:
    """How to walk one node of a type: its buffers' roles, whether a slice may be cut down
    to the rows it uses (not when children are indexed through this node's offset), and the
    plans of its children."""

    __slots__ = ("type", "roles", "children", "trim", "by_field", "numbers", "prefix",
                 "packer")

    def __init__(self, arrow_type, roles: tuple[int, ...], children: tuple[_Plan, ...],
                 trim: bool, by_field: bool = False):
        self.type, self.roles, self.children, self.trim = arrow_type, roles, children, trim
        self.by_field = by_field  # a struct: children are its fields, not `values`
        self.numbers = 3 + 2 * len(roles) + sum(child.numbers for child in children)
        self.prefix = b""  # the header up to the numbers: code size and code (outermost)
        self.packer = _packer(self.numbers)


class _NotLaidOut(Exception):
    """A type the header cannot describe."""


class ArrowLayout:
    """An array as header + buffers: `parts` are (position, buffer) in the buffer region,
    `size` its total size. Buffers are pyarrow Buffers (or anything with the buffer
    protocol), not copied yet."""

    __slots__ = ("header", "parts", "size", "attachment", "view")

    def __init__(self, header: bytes, parts: list[tuple[int, Any]], size: int):
        self.header, self.parts, self.size = header, parts, size
        self.attachment: bytes | None = None  # the inline attachment, once made (codec)
        self.view: memoryview | None = None  # the one buffer at 0, once viewed (codec)


# -- types ------------------------------------------------------------------------------

_encoded: dict[Any, _Plan | None] = {}  # type -> plan; None: the type has no layout
_encoded_by_id: dict[int, _Plan] = {}  # the same for types without parameters, by type id
_decoded: dict[bytes, _Plan] = {}  # type code -> plan


def _simple_tags() -> dict[Any, int]:
    import pyarrow as pa

    return {getattr(pa, name)(): tag for tag, name in enumerate(_SIMPLE_NAMES, start=1)}


_simple: dict[Any, int] = {}


def _type_code(t) -> tuple[bytes, _Plan]:
    """The code and walk plan of `t`; raises _NotLaidOut."""
    import pyarrow as pa
    import pyarrow.types as is_

    if not _simple:
        _simple.update(_simple_tags())
    tag = _simple.get(t)
    if tag is not None:
        return bytes((tag,)), _leaf_plan(t)
    if is_.is_timestamp(t):
        zone = (t.tz or "").encode()
        return bytes((_TIMESTAMP, _UNITS.index(t.unit))) + _U16.pack(len(zone)) + zone, \
            _leaf_plan(t)
    for tag, check in ((_DURATION, is_.is_duration), (_TIME32, is_.is_time32),
                       (_TIME64, is_.is_time64)):
        if check(t):
            return bytes((tag, _UNITS.index(t.unit))), _leaf_plan(t)
    if type(t) in (pa.Decimal128Type, pa.Decimal256Type):
        tag = _DECIMAL128 if isinstance(t, pa.Decimal128Type) else _DECIMAL256
        return bytes((tag, t.precision)) + struct.pack("<b", t.scale), _leaf_plan(t)
    if type(t) is pa.FixedSizeBinaryType:
        return bytes((_FIXED_BINARY,)) + _I32.pack(t.byte_width), _leaf_plan(t)
    if type(t) in (pa.ListType, pa.LargeListType):
        code, child = _field_code(t.value_field)
        large = type(t) is pa.LargeListType
        roles = (_BITMAP, _OFFSETS64 if large else _OFFSETS32)
        return bytes((_LARGE_LIST if large else _LIST,)) + code, _Plan(t, roles, (child,), True)
    if type(t) is pa.FixedSizeListType:
        code, child = _field_code(t.value_field)
        return (bytes((_FIXED_LIST,)) + _I32.pack(t.list_size) + code,
                _Plan(t, (_BITMAP,), (child,), False))
    if type(t) is pa.StructType:
        codes, children = [_U16.pack(t.num_fields)], []
        for index in range(t.num_fields):
            code, child = _field_code(t.field(index))
            codes.append(code)
            children.append(child)
        return (bytes((_STRUCT,)) + b"".join(codes),
                _Plan(t, (_BITMAP,), tuple(children), False, by_field=True))
    raise _NotLaidOut(str(t))


def _field_code(field) -> tuple[bytes, _Plan]:
    if field.metadata:
        raise _NotLaidOut("field metadata")
    name = field.name.encode()
    code, plan = _type_code(field.type)
    return _U16.pack(len(name)) + name + bytes((1 if field.nullable else 0,)) + code, plan


def _leaf_plan(t) -> _Plan:
    import pyarrow.types as is_

    if is_.is_null(t):
        roles: tuple[int, ...] = (_ABSENT,)
    elif is_.is_boolean(t):
        roles = (_BITMAP, _BITMAP)
    elif is_.is_string(t) or is_.is_binary(t):
        roles = (_BITMAP, _OFFSETS32, _VALUES)
    elif is_.is_large_string(t) or is_.is_large_binary(t):
        roles = (_BITMAP, _OFFSETS64, _VALUES)
    else:
        roles = (_BITMAP, t.bit_width)
    return _Plan(t, roles, (), True)


def _parse_type(code: bytes, pos: int):
    """(type, plan, position after it) from a type code; raises ContractError."""
    import pyarrow as pa

    tag = code[pos]
    pos += 1
    if 1 <= tag <= len(_SIMPLE_NAMES):
        t = getattr(pa, _SIMPLE_NAMES[tag - 1])()
        return t, _leaf_plan(t), pos
    if tag == _TIMESTAMP:
        (size,) = _U16.unpack_from(code, pos + 1)
        zone = bytes(code[pos + 3:pos + 3 + size]).decode()
        t = pa.timestamp(_UNITS[code[pos]], zone or None)
        return t, _leaf_plan(t), pos + 3 + size
    if tag in (_DURATION, _TIME32, _TIME64):
        maker = {_DURATION: pa.duration, _TIME32: pa.time32, _TIME64: pa.time64}[tag]
        t = maker(_UNITS[code[pos]])
        return t, _leaf_plan(t), pos + 1
    if tag in (_DECIMAL128, _DECIMAL256):
        maker = pa.decimal128 if tag == _DECIMAL128 else pa.decimal256
        t = maker(code[pos], struct.unpack_from("<b", code, pos + 1)[0])
        return t, _leaf_plan(t), pos + 2
    if tag == _FIXED_BINARY:
        t = pa.binary(_I32.unpack_from(code, pos)[0])
        return t, _leaf_plan(t), pos + 4
    if tag in (_LIST, _LARGE_LIST):
        field, child, pos = _parse_field(code, pos)
        t = (pa.list_ if tag == _LIST else pa.large_list)(field)
        roles = (_BITMAP, _OFFSETS32 if tag == _LIST else _OFFSETS64)
        return t, _Plan(t, roles, (child,), True), pos
    if tag == _FIXED_LIST:
        (size,) = _I32.unpack_from(code, pos)
        field, child, pos = _parse_field(code, pos + 4)
        t = pa.list_(field, size)
        return t, _Plan(t, (_BITMAP,), (child,), False), pos
    if tag == _STRUCT:
        (count,) = _U16.unpack_from(code, pos)
        pos += 2
        fields, children = [], []
        for _ in range(count):
            field, child, pos = _parse_field(code, pos)
            fields.append(field)
            children.append(child)
        t = pa.struct(fields)
        return t, _Plan(t, (_BITMAP,), tuple(children), False, by_field=True), pos
    raise ContractError(f"unknown Arrow type tag {tag:#x} in a layout header")


def _parse_field(code: bytes, pos: int):
    import pyarrow as pa

    (size,) = _U16.unpack_from(code, pos)
    name = bytes(code[pos + 2:pos + 2 + size]).decode()
    nullable = code[pos + 2 + size] != 0
    t, plan, pos = _parse_type(code, pos + 3 + size)
    return pa.field(name, t, nullable), plan, pos


# -- arrays -----------------------------------------------------------------------------

def array_layout(array) -> ArrowLayout | None:
    """`array` (a pyarrow Array) as header + buffers; None if its type has no layout.

    An array sent again (a node that wraps one buffer once and sends it each time) reuses
    its layout: an Array never changes its type, length or buffers, and the buffers' bytes
    are copied at each send anyway."""
    seen = _recent.get(id(array))
    if seen is not None and seen[0]() is array:
        return seen[1]
    t = array.type
    plan = _encoded_by_id.get(t.id)
    if plan is None:
        plan = _encoded.get(t, False)
        if plan is False:
            plan = _encode_plan(t)
        if plan is None:
            return None
    numbers: list[int] = []
    parts: list[tuple[int, Any]] = []
    size = _walk(plan, array, len(array), array.offset, array.null_count, numbers, parts, 0)
    layout = ArrowLayout(plan.prefix + plan.packer.pack(*numbers), parts, size)
    if len(_recent) < _RECENT_MAX:
        key = id(array)
        _recent[key] = (weakref.ref(array, lambda _, key=key: _recent.pop(key, None)), layout)
    return layout


_RECENT_MAX = 16  # arrays whose layout is kept while they live
_recent: dict[int, tuple[Any, ArrowLayout]] = {}


_UINT8_PREFIX = _U16.pack(1) + bytes((_SIMPLE_NAMES.index("uint8") + 1,))


def uint8_header(length: int) -> bytes:
    """The layout header of a uint8 array of `length` bytes in one buffer at position 0, no
    nulls (what send_output_raw sends): no pyarrow needed to write it."""
    return _UINT8_PREFIX + _packer(7).pack(length, 0, 0, -1, -1, 0, length)


def _encode_plan(t) -> _Plan | None:
    try:
        code, plan = _type_code(t)
    except _NotLaidOut:
        _encoded[t] = None
        return None
    plan.prefix = _U16.pack(len(code)) + code
    _encoded[t] = plan
    if len(code) == 1:  # no parameters: the type id alone says which
        _encoded_by_id[t.id] = plan
    return plan


def _packer(count: int, _cache: dict[int, struct.Struct] = {}) -> struct.Struct:  # noqa: B006
    packer = _cache.get(count)
    if packer is None:
        packer = _cache[count] = struct.Struct(f"<{count}q")
    return packer


def _walk(plan: _Plan, array, length: int, offset: int, nulls: int, numbers: list[int],
          parts: list[tuple[int, Any]], pos: int) -> int:
    """Append one node (then its children) to numbers/parts; the next free position."""
    roles = plan.roles
    own = array.buffers()
    base = offset - (offset & 7) if plan.trim else 0
    offset -= base
    numbers += (length, nulls, offset)
    end = base + offset + length
    for index, role in enumerate(roles):
        buffer = own[index]
        if buffer is None:
            numbers += (-1, -1)
            continue
        if plan.trim:
            buffer = _cut(role, buffer, base, end)
        size = buffer.size
        numbers += (pos, size)
        parts.append((pos, buffer))
        pos += (size + 7) & ~7
    if plan.children:
        if not plan.by_field:
            child = array.values  # the whole child, whatever this node's offset
            return _walk(plan.children[0], child, len(child), child.offset, child.null_count,
                         numbers, parts, pos)
        shift = array.offset  # struct fields come offset-adjusted: undo it
        for index, child_plan in enumerate(plan.children):
            child = array.field(index)
            pos = _walk(child_plan, child, len(child) + shift, child.offset - shift,
                        child.null_count if not shift else -1, numbers, parts, pos)
    return pos


def _cut(role: int, buffer, base: int, end: int):
    """The bytes of `buffer` that rows [base, end) use, for a buffer of this role."""
    if role == _BITMAP:
        start, stop = base >> 3, (end + 7) >> 3
    elif role == _OFFSETS32:
        start, stop = base * 4, (end + 1) * 4
    elif role == _OFFSETS64:
        start, stop = base * 8, (end + 1) * 8
    elif role > 0:
        start, stop = (base * role) >> 3, (end * role + 7) >> 3
    else:
        return buffer
    stop = min(stop, buffer.size)
    start = min(start, stop)
    if start == 0 and stop == buffer.size:
        return buffer
    return buffer.slice(start, stop - start)


def decode_array(header, start: int, region):
    """The array the layout header at `header[start:]` (up to its end) describes, its
    buffers slices of `region` (a pyarrow Buffer over the received buffer region): no
    copy. Raises ContractError. A header seen before is not parsed again."""
    try:
        return _builder(bytes(header[start:]))(region)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ContractError):
            raise
        raise ContractError(f"malformed Arrow layout header: {exc}") from None


@functools.lru_cache(maxsize=64)
def _builder(header: bytes):
    """The function of a region that `decode_array` applies for `header`."""
    (size,) = _U16.unpack_from(header, 0)
    code = header[2:2 + size]
    plan = _decoded.get(code)
    if plan is None:
        t, plan, end = _parse_type(code, 0)
        if end != size:
            raise ContractError("trailing bytes after the Arrow type code")
        _decoded[code] = plan
    values = plan.packer.unpack_from(header, 2 + size)
    if len(header) != 2 + size + plan.packer.size:
        raise ContractError("a layout header of the wrong size")
    if not plan.children and len(values) == 7 and values[4] < 0 and values[5] == 0:
        # the common case: one leaf, no validity bitmap, its data the whole region
        from pyarrow import Array

        t, length, nulls, offset, data = plan.type, *values[:3], values[6]
        from_buffers = Array.from_buffers
        return lambda region: from_buffers(t, length, [None, region], nulls, offset) \
            if region.size == data else _build(plan, values, 0, region)[0]
    return lambda region: _build(plan, values, 0, region)[0]


def _build(plan: _Plan, values: tuple[int, ...], at: int, region):
    import pyarrow as pa

    length, nulls, offset = values[at], values[at + 1], values[at + 2]
    at += 3
    buffers = []
    limit = region.size
    for _ in plan.roles:
        pos, size = values[at], values[at + 1]
        at += 2
        if size < 0:
            buffers.append(None)
        elif pos < 0 or pos + size > limit:
            raise ContractError("an Arrow buffer outside the received data")
        elif pos == 0 and size == limit:
            buffers.append(region)
        else:
            buffers.append(region.slice(pos, size))
    if not plan.children:
        return pa.Array.from_buffers(plan.type, length, buffers, nulls, offset), at
    children = []
    for child_plan in plan.children:
        child, at = _build(child_plan, values, at, region)
        children.append(child)
    return pa.Array.from_buffers(plan.type, length, buffers, nulls, offset,
                                 children=children), at
