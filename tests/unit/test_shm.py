"""Shared-memory pieces on their own: the pool's reuse rules, segment names and cleanup, the
release message and the reader token."""

from __future__ import annotations

import glob
import os
import threading
import time
import uuid

import pytest

from dora_api import contract
from dora_api.contract import ContractError, Namespace, ReaderToken, ReleaseMessage
from dora_api.shm import SHM_DIR, Segment, copy_into, map_readonly
from dora_api.shm_pool import MAX_SEGMENTS, SegmentPool, segment_capacity
from dora_supervisor.shm_cleanup import remove_dataflow_segments

pytestmark = pytest.mark.skipif(not os.path.isdir(SHM_DIR), reason="needs /dev/shm")


@pytest.fixture
def dataflow_id():
    dataflow = str(uuid.uuid4())
    yield dataflow
    remove_dataflow_segments(dataflow)


@pytest.fixture
def pool(dataflow_id):
    numbers = iter(range(10**6))
    pool = SegmentPool(lambda: contract.shm_segment_name(dataflow_id, "cam", os.getpid(),
                                                         next(numbers)))
    yield pool
    pool.close()


def on_disk(dataflow_id: str) -> list[str]:
    return glob.glob(os.path.join(SHM_DIR, contract.shm_segment_glob(dataflow_id)))


def test_a_slot_is_reused_only_after_every_holder_released_it(pool, dataflow_id):
    first = pool.acquire(1000)
    pool.publish(first, ("a/1", "b/1"))
    second = pool.acquire(1000)
    assert second.index != first.index  # the first is still held
    pool.publish(second, ())  # nobody holds it: free at once
    pool.release(first.index, first.generation, "a/1")
    pool.release(first.index, first.generation - 1, "b/1")  # stale generation: ignored
    pool.release(first.index, first.generation, "c/1")  # not a holder: ignored
    assert pool.in_use() == 1
    pool.release(first.index, first.generation, "b/1")
    assert pool.in_use() == 0
    again = pool.acquire(1000)
    assert again.index in (first.index, second.index) and len(on_disk(dataflow_id)) == 2


def test_a_vanished_holder_releases_everything_and_is_never_waited_for_again(pool):
    slots = [pool.acquire(10) for _ in range(3)]
    for slot in slots:
        pool.publish(slot, ("dead/1", "live/1"))
        pool.release(slot.index, slot.generation, "live/1")
    assert pool.in_use() == 3
    pool.drop_holder("dead/1")
    assert pool.in_use() == 0
    late = pool.acquire(10)
    pool.publish(late, ("dead/1",))  # sent before we heard it ended
    assert pool.in_use() == 0


def test_a_full_pool_waits_for_a_release_then_falls_back_without_waiting(pool):
    held = [pool.acquire(10) for _ in range(MAX_SEGMENTS)]
    for slot in held:
        pool.publish(slot, ("x/1",))
    timer = threading.Timer(0.1, pool.release, (held[3].index, held[3].generation, "x/1"))
    timer.start()
    assert pool.acquire(10, wait_s=5).index == held[3].index
    started = time.monotonic()
    assert pool.acquire(10, wait_s=0.05) is None
    assert pool.acquire(10, wait_s=5) is None  # starved: no second wait
    assert time.monotonic() - started < 2
    pool.release(held[0].index, held[0].generation, "x/1")
    assert pool.acquire(10, wait_s=0) is not None


def test_a_free_segment_too_small_is_replaced(pool, dataflow_id):
    small = [pool.acquire(10) for _ in range(MAX_SEGMENTS)]
    for slot in small:
        pool.publish(slot, ())
    big = pool.acquire(2 << 20)
    assert big.segment.capacity == 2 << 20
    assert len(on_disk(dataflow_id)) == MAX_SEGMENTS


@pytest.mark.parametrize("size, capacity", [
    (1, 64 << 10), (64 << 10, 64 << 10), ((64 << 10) + 1, 128 << 10), (1 << 20, 1 << 20),
    ((1 << 20) + 1, 2 << 20), ((4 << 20) + 123, 5 << 20)])
def test_segment_capacities(size, capacity):
    assert segment_capacity(size) == capacity


def test_what_a_segment_holds_is_seen_by_a_reader_mapping(dataflow_id):
    import pyarrow as pa

    segment = Segment(contract.shm_segment_name(dataflow_id, "n", os.getpid(), 0), 1 << 16)
    copy_into(segment.address + 8, pa.py_buffer(b"arrow"))
    copy_into(segment.address, b"bytes")
    mapped = map_readonly(segment.name, 1 << 16)
    assert mapped[:13] == b"bytes\0\0\0arrow"
    with pytest.raises(TypeError):
        mapped[0] = 1  # readers map read-only
    segment.close()
    assert on_disk(dataflow_id) == [] and mapped[:5] == b"bytes"  # unlinked, still mapped


def test_cleanup_removes_exactly_one_dataflows_segments(dataflow_id):
    other = str(uuid.uuid4())
    mine = [Segment(contract.shm_segment_name(dataflow_id, node, 1, 0), 4096)
            for node in ("a", "a.b")]
    theirs = Segment(contract.shm_segment_name(other, "a", 1, 0), 4096)
    try:
        assert sorted(remove_dataflow_segments(dataflow_id)) == sorted(s.name for s in mine)
        assert on_disk(dataflow_id) == [] and on_disk(other) == [os.path.join(SHM_DIR,
                                                                               theirs.name)]
    finally:
        theirs.close()


def test_a_node_glob_does_not_match_a_longer_node_id():
    name = contract.shm_segment_name("u", "cam-2", 7, 0)
    import fnmatch

    assert fnmatch.fnmatch(name, contract.shm_segment_glob("u", "cam-2"))
    assert not fnmatch.fnmatch(name, contract.shm_segment_glob("u", "cam"))
    assert fnmatch.fnmatch(name, contract.shm_segment_glob("u"))


def test_release_messages_and_reader_tokens_round_trip():
    message = ReleaseMessage("sink/3", "op/out", 5, 2**40)
    assert contract.decode_release(contract.encode_release(message)) == message
    for bad in (b"", b"sink/3\nout", b"sink/3\nout\nxx", b"\nout\n" + bytes(12)):
        with pytest.raises(ContractError):
            contract.decode_release(bad)
    ns = Namespace("lab", "u")
    token = ns.parse_reader(ns.reader("cam", 2, "ab12.2d"))
    assert token == ReaderToken("cam", 2, "ab12.2d") and token.holder == "cam/2"
    for key in (ns.reader("cam", "x", "d"), ns.alive("cam", 2), ns.reader("cam", 2, "d") + "/e"):
        with pytest.raises(ContractError):
            ns.parse_reader(key)


def descriptor_attachment(segment: Segment, slot: int, generation: int, holders, array):
    """What a producer sends for `array`, written into `segment` at its data offset."""
    import pyarrow as pa

    layout = contract.arrow_layout_of(array)
    for position, buffer in layout.parts:
        copy_into(segment.address + contract.SEGMENT_DATA_OFFSET + position, buffer)
    descriptor = contract.ShmDescriptor(segment.name, segment.capacity,
                                        contract.SEGMENT_DATA_OFFSET, slot, generation,
                                        tuple(holders))
    attachment = contract.encode_shm_attachment(descriptor, None, layout.header)
    kind, metadata, start = contract.decode_attachment(attachment)
    assert kind == contract.KIND_SHM and isinstance(array, pa.Array)
    return attachment, start


def test_a_value_shared_by_two_inputs_of_one_process_is_released_once_both_let_go(
        dataflow_id):
    import gc

    import pyarrow as pa

    from dora_api.shm_reader import SegmentReader

    released = []
    reader = SegmentReader(lambda key, message: released.append(message),
                           Namespace("lab", dataflow_id), "sink/1")
    first, second = reader.value_for("cam", "image"), reader.value_for("cam", "image")
    segment = Segment(contract.shm_segment_name(dataflow_id, "cam", os.getpid(), 0), 1 << 16)
    segment.mark(3)
    try:
        attachment, start = descriptor_attachment(segment, 0, 3, ["sink/1"],
                                                  pa.array(range(100), pa.int64()))
        a = first(attachment, start, {})
        del a
        gc.collect()
        assert released == []  # the other input has not had it yet
        b = second(attachment, start, {})
        assert b.to_pylist() == list(range(100))
        assert released == []  # it still holds it
        del b
        gc.collect()
        assert [contract.decode_release(m) for m in released] == [
            ReleaseMessage("sink/1", "image", 0, 3)]
    finally:
        segment.close()


def test_a_value_copied_by_a_non_holder_is_refused_if_its_slot_was_reused(dataflow_id):
    import pyarrow as pa

    from dora_api.shm_reader import SegmentReader

    reader = SegmentReader(lambda key, message: None, Namespace("lab", dataflow_id), "late/1")
    values = reader.value_for("cam", "image")
    segment = Segment(contract.shm_segment_name(dataflow_id, "cam", os.getpid(), 0), 1 << 16)
    try:
        segment.mark(7)
        attachment, start = descriptor_attachment(segment, 0, 7, ["sink/1"],
                                                  pa.array([1, 2, 3], pa.int32()))
        assert values(attachment, start, {}).to_pylist() == [1, 2, 3]  # a copy, still good
        segment.mark(8)  # the producer took the slot for its next value
        with pytest.raises(ContractError, match="reused"):
            values(attachment, start, {})
    finally:
        segment.close()


def test_a_retired_slot_is_never_handed_out_again(pool):
    slot = pool.acquire(1000)
    view = slot.segment.view(contract.SEGMENT_DATA_OFFSET, 100)
    pool.retire(slot)
    again = pool.acquire(1000)
    assert again is slot and again.segment is not None  # the index, with a new segment
    view[:3] = b"old"  # the old mapping stays valid for whoever still writes into it
    assert bytes(again.segment.view(contract.SEGMENT_DATA_OFFSET, 3)) != b"old"


def test_orphaned_segments_are_those_of_dead_makers_and_old_enough(tmp_path):
    import subprocess
    import sys

    from dora_supervisor.shm_cleanup import ORPHAN_AGE_S, remove_orphaned_segments

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead, alive = child.pid, os.getpid()
    names = {"dead-old": contract.shm_segment_name("u1", "cam", dead, 0),
             "dead-new": contract.shm_segment_name("u1", "cam", dead, 1),
             "alive-old": contract.shm_segment_name("u1", "cam", alive, 0),
             "zenoh": "abc123.zenoh", "other": "dora-something-else"}
    old = time.time() - ORPHAN_AGE_S - 5
    for key, name in names.items():
        (tmp_path / name).write_bytes(b"x")
        if key.endswith("old") or key in ("zenoh", "other"):
            os.utime(tmp_path / name, (old, old))
    assert remove_orphaned_segments(str(tmp_path)) == [names["dead-old"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for k, n in names.items() if k != "dead-old")
    assert contract.shm_segment_maker(names["alive-old"]) == alive
    assert contract.shm_segment_maker("dora-x@y@z") is None
