"""Arrow values without IPC: every type dora-rs's examples send round-trips exactly through the
layout header, decoded over the received memory without a copy; other types take IPC."""

from __future__ import annotations

import datetime
import decimal
import struct

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dora_api import contract
from dora_api.contract import ContractError

INT_TYPES = {pa.int8(): 7, pa.int16(): 15, pa.int32(): 31, pa.int64(): 63,
             pa.uint8(): 8, pa.uint16(): 16, pa.uint32(): 32, pa.uint64(): 64}


def _ints(t):
    bits = INT_TYPES[t]
    signed = str(t).startswith("int")
    return st.integers(-(2**bits) if signed else 0, 2**bits - 1)


# (type, strategy of one non-null Python value) for leaf types
LEAVES = [(t, _ints(t)) for t in INT_TYPES] + [
    (pa.float32(), st.floats(allow_nan=False, width=32)),
    (pa.float64(), st.floats(allow_nan=False)),
    (pa.bool_(), st.booleans()),
    (pa.string(), st.text(max_size=12)),
    (pa.large_string(), st.text(max_size=12)),
    (pa.binary(), st.binary(max_size=12)),
    (pa.large_binary(), st.binary(max_size=12)),
    (pa.binary(3), st.binary(min_size=3, max_size=3)),
    (pa.date32(), st.dates()),
    (pa.date64(), st.integers(-2**25, 2**25).map(lambda d: d * 86_400_000)),
    (pa.time32("ms"), st.integers(0, 86_399_999)),
    (pa.time64("ns"), st.integers(0, 86_399_999_999_999)),
    (pa.timestamp("ns"), st.integers(-2**62, 2**62)),
    (pa.timestamp("ms", tz="UTC"), st.integers(-2**50, 2**50)),
    (pa.timestamp("us", tz="Europe/Paris"), st.integers(-2**50, 2**50)),
    (pa.timestamp("s", tz="+05:30"), st.integers(-2**40, 2**40)),
    (pa.duration("us"), st.integers(-2**62, 2**62)),
    (pa.decimal128(9, 3), st.decimals(-999_999, 999_999, places=3, allow_nan=False,
                                      allow_infinity=False)),
    (pa.decimal256(40, -2), st.integers(-10**30, 10**30).map(
        lambda i: decimal.Decimal(i).scaleb(2))),
]


def leaf_types():
    return st.sampled_from(LEAVES)


def nested(children):
    """(type, value strategy) of a list / large_list / fixed_size_list / struct of children."""
    def list_of(child):
        t, values = child
        item = st.one_of(st.none(), values)
        return st.sampled_from([
            (pa.list_(t), st.lists(item, max_size=4)),
            (pa.large_list(pa.field("elem", t, nullable=True)), st.lists(item, max_size=4)),
            (pa.list_(t, 2), st.lists(item, min_size=2, max_size=2)),
        ])

    def struct_of(pair):
        (ta, va), (tb, vb) = pair
        t = pa.struct([pa.field("a", ta), pa.field("b", tb, nullable=True)])
        return st.just((t, st.fixed_dictionaries({"a": st.one_of(st.none(), va),
                                                  "b": st.one_of(st.none(), vb)})))

    return st.one_of(children.flatmap(list_of), st.tuples(children, children).flatmap(struct_of))


TYPES = st.recursive(leaf_types(), nested, max_leaves=4)


@st.composite
def arrays(draw):
    t, values = draw(TYPES)
    items = draw(st.lists(st.one_of(st.none(), values), max_size=20))
    array = pa.array(items, type=t)
    start = draw(st.integers(0, len(array)))
    stop = draw(st.integers(start, len(array)))
    return array.slice(start, stop - start) if draw(st.booleans()) else array


def round_trip(value, metadata=None):
    kind, payload, header = contract.encode_value(value)
    attachment = contract.encode_attachment(kind, metadata, header)
    payload = bytes(payload)  # what zenoh hands the receiver
    decoded_kind, decoded_metadata, start = contract.decode_attachment(attachment)
    assert decoded_metadata == (metadata or {})
    return decoded_kind, payload, contract.decode_value(decoded_kind, payload, attachment, start)


def assert_same(decoded, original):
    assert decoded.type == original.type
    assert len(decoded) == len(original)
    assert decoded.null_count == original.null_count
    assert decoded.equals(original), (decoded, original)
    decoded.validate(full=True)


def buffers_of(array):
    return [b for b in array.buffers() if b is not None and b.size]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays())
def test_every_layout_type_round_trips_exactly_without_a_copy(array):
    kind, payload, decoded = round_trip(array)
    assert kind == contract.KIND_LAYOUT
    assert_same(decoded, array)
    region = pa.py_buffer(payload)
    for buffer in buffers_of(decoded):  # each one lies inside the received payload
        assert region.address <= buffer.address
        assert buffer.address + buffer.size <= region.address + region.size


@settings(max_examples=100, deadline=None)
@given(arrays())
def test_buffers_start_aligned(array):
    arrow = contract.arrow_layout_of(array)
    assert all(position % contract.BUFFER_ALIGNMENT == 0 for position, _ in arrow.parts)
    assert arrow.size <= sum(-(-b.size // 8) * 8 for b in buffers_of(array)) + 8


def test_a_small_slice_of_a_big_array_sends_only_its_rows():
    big = pa.array(range(1_000_000), pa.int64())
    _, payload, decoded = round_trip(big.slice(500_001, 3))
    assert decoded.to_pylist() == [500_001, 500_002, 500_003]
    assert len(payload) <= 8 * 16
    strings = pa.array([str(i) for i in range(10_000)]).slice(5000, 2)
    _, _, decoded = round_trip(strings)
    assert decoded.to_pylist() == ["5000", "5001"]


def test_float16_and_nulls_and_empty_arrays():
    halves = pa.Array.from_buffers(pa.float16(), 3, [None, pa.py_buffer(
        struct.pack("<3e", 1.5, -2.0, 65504.0))])
    for array in (halves, pa.array([None, None], pa.null()), pa.array([], pa.string()),
                  pa.array([], pa.list_(pa.int8())), pa.nulls(5, pa.int32()),
                  pa.array([None, True, False]).slice(1)):
        _, _, decoded = round_trip(array)
        assert_same(decoded, array)


def test_dora_rs_example_shapes():
    """What dora-rs examples send: images as uint8, bounding boxes as a struct of lists,
    stamped records, text."""
    frame = pa.array(bytes(range(256)) * 12, pa.uint8())
    boxes = pa.array([{"bbox": [1.0, 2.0, 3.0, 4.0], "conf": [0.9], "labels": ["cup"]},
                      {"bbox": [], "conf": None, "labels": ["a", None]}],
                     pa.struct([("bbox", pa.list_(pa.float32())),
                                ("conf", pa.list_(pa.float64())),
                                ("labels", pa.list_(pa.string()))]))
    stamps = pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5, 6), None],
                      pa.timestamp("us", tz="Asia/Tokyo"))
    for array in (frame, boxes, boxes.slice(1), stamps, pa.array(["hello", "wörld"])):
        _, _, decoded = round_trip(array, {"width": 3, "encoding": "rgb8"})
        assert_same(decoded, array)


def test_chunked_arrays_arrive_as_one_array():
    chunked = pa.chunked_array([pa.array([1, 2]), pa.array([None, 4])])
    _, _, decoded = round_trip(chunked)
    assert_same(decoded, chunked.combine_chunks())
    _, _, decoded = round_trip(pa.chunked_array([pa.array(["x"])]))
    assert decoded.to_pylist() == ["x"]


@pytest.mark.parametrize("array", [
    pa.array(["a", "b", "a"]).dictionary_encode(),
    pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
    pa.array([{"x": 1}], pa.struct([pa.field("x", pa.int64(), metadata={"unit": "m"})])),
    pa.array(["view"], pa.string_view()),
])
def test_types_without_a_layout_fall_back_to_ipc(array):
    kind, _, decoded = round_trip(array)
    assert kind == contract.KIND_ARROW
    assert decoded.equals(array)


def test_bytes_keep_their_fast_path():
    assert contract.encode_attachment(contract.KIND_BYTES, None) is None
    kind, _, decoded = round_trip(b"raw", {"seq": 1})
    assert (kind, decoded) == (contract.KIND_BYTES, b"raw")


@pytest.mark.parametrize("corrupt", [
    lambda header: header[:-1],  # truncated numbers
    lambda header: header + b"\0",  # trailing bytes
    lambda header: b"\x01\x00\xfe" + header[3:],  # unknown type tag
    lambda header: header[:-16] + struct.pack("<qq", 0, 1 << 40),  # buffer past the end
])
def test_malformed_layout_headers_are_contract_errors(corrupt):
    kind, payload, header = contract.encode_value(pa.array([1, 2, 3], pa.int64()))
    with pytest.raises(ContractError):
        contract.decode_array(corrupt(header), 0, pa.py_buffer(bytes(payload)))


def test_shm_descriptors_round_trip():
    descriptor = contract.ShmDescriptor("dora-u-cam-1-0", 1 << 22, 64, 3, 2**40, ("a", "bé"))
    kind, _, header = contract.encode_value(pa.array([1], pa.uint8()))
    attachment = contract.encode_shm_attachment(descriptor, {"k": 1}, header)
    kind, metadata, start = contract.decode_attachment(attachment)
    assert (kind, metadata) == (contract.KIND_SHM, {"k": 1})
    decoded, start = contract.decode_shm_descriptor(attachment, start)
    assert decoded == descriptor
    assert contract.decode_array(attachment, start, pa.py_buffer(bytes(8))).to_pylist() == [0]
    with pytest.raises(ContractError):
        contract.decode_shm_descriptor(attachment[:12], 2)
    for generation in (1, 2, 2**63):  # without metadata, made from kept bytes: still exact
        again = contract.evolve(descriptor, generation=generation)
        attachment = contract.encode_shm_attachment(again, None, header)
        kind, metadata, start = contract.decode_attachment(attachment)
        assert (kind, metadata) == (contract.KIND_SHM, {})
        assert contract.decode_shm_descriptor(attachment, start)[0] == again
