"""A node's outputs: how each value leaves the process.

- bytes: the payload as is;
- an Arrow array below SHM_THRESHOLD, or one some consumer cannot map: its layout header
  in the attachment and its buffers as the payload (one copy here, zenoh's own after);
- an Arrow array of SHM_THRESHOLD bytes or more, every live consumer in our shared-memory
  domain: its buffers copied once into a pooled segment, a descriptor over zenoh;
- types the layout cannot describe: an IPC stream.

Consumers announce themselves with a reader token (see `contract.Namespace.reader`); the
pools learn from those tokens and from release messages when a segment is free again.
Every data message's attachment ends with its position stamp (`Delivery.stamp`).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

from dora_api import contract
from dora_api.contract import NodeConfig
from dora_api.shm import SHM_DIR, copy_into, shm_available, shm_domain, unlink_quietly
from dora_api.shm_pool import SegmentPool, Slot
from dora_api.waker import Waker

__all__ = ["Outputs", "SHM_THRESHOLD"]

# Values whose buffers add up to this many bytes or more go through shared memory. Measured
# with benchmarks/latency.py --shm-threshold (shared memory forced on, then off; p50 one-way
# latency / back-to-back msg/s, Arrow uint8, two runs of 3 rounds, busy 2-core machine):
#   64 KiB  inline 136-216 us, 43-59k/s   shm 235-293 us, 16k/s    -> inline
#   256 KiB inline 159-308 us, 17-22k/s   shm 223-272 us, 13-17k/s -> inline (a tie at best)
#   320 KiB inline 341-467 us, 2.7-3.1k/s shm 372-432 us, 8.9-10k/s -> shared memory pays
#   512 KiB inline 586-863 us, 1.8k/s     shm 270-390 us, 11-13k/s -> shared memory
#   1 MiB   inline 1049-1325 us, 0.9-1k/s shm 275-343 us, 4.4-5.4k/s
SHM_THRESHOLD = 320 << 10
RELEASE_DEPTH = 4096  # releases waiting to be taken (<= segments in use x consumers)


class Outputs:
    """Publishers, shared-memory pools and the reader/release bookkeeping of one node."""

    def __init__(self, session, zenoh, ns: contract.Namespace, config: NodeConfig,
                 is_alive, direct, stamp: Callable[[str, bytes | None], bytes]):
        self._ns = ns
        self._stamp = stamp  # every data message carries its position (dora_api.delivery)
        self._is_alive = is_alive
        self._id = config.node_id
        self._declared = list(config.outputs)
        self._consumers = {output: tuple(nodes) for output, nodes in config.consumers.items()}
        self._put_kind = zenoh.SampleKind.PUT
        publish = dict(congestion_control=zenoh.CongestionControl.BLOCK,
                       reliability=zenoh.Reliability.RELIABLE)
        self._all = {output: session.declare_publisher(ns.output(self._id, output), **publish)
                     for output in self._declared}
        # None: declared but consumed by nobody, nothing to publish
        self.publishers = {output: self._all[output] if self._consumers.get(output) else None
                           for output in self._declared}
        self._pools: dict[str, SegmentPool] = {}
        self._readers: dict[str, contract.ReaderToken] = {}  # holder -> token
        self._readers_version = 0  # counts the changes of _readers
        self._holders: dict[str, tuple[str, ...]] = {}  # output -> holders(), until one
        self._lock = threading.Lock()
        self._shm = bool(self._consumers) and shm_available()
        self._handles = []
        if self._shm:
            self._domain = shm_domain()
            self._numbers = itertools.count()
            self._remove_stale_segments(config.dataflow_id)
            self._dataflow_id = config.dataflow_id
            # releases queue up in zenoh's channel, taken by the sending thread when it
            # needs a segment: no GIL handover to a zenoh thread per release
            self._releases = session.declare_subscriber(
                ns.release(self._id), zenoh.handlers.FifoChannel(RELEASE_DEPTH))
            self._handles.append(self._releases)
            release_key, local = ns.release(self._id), zenoh.Locality.SESSION_LOCAL
            self._wake_releases = lambda: session.put(
                release_key, b"", attachment=contract.WAKE_ATTACHMENT,
                allowed_destination=local)
            self._release_waker: Waker | None = None
            self._handles.append(session.liveliness().declare_subscriber(
                ns.reader(), direct(self._on_reader), history=True))

    # -- sending --------------------------------------------------------------------

    def undeclared(self, output_id: str) -> ValueError:
        declared = ", ".join(self._declared) or "none"
        return ValueError(f"node '{self._id}' has no output '{output_id}' in the descriptor "
                          f"(declared: {declared})")

    def send(self, output_id: str, publisher, data: Any, metadata: dict | None) -> None:
        """Publish `data` on a consumed output (`publisher` is its publisher)."""
        stamp = self._stamp
        if type(data) is bytes and not metadata:
            publisher.put(data, attachment=stamp(output_id, None))
            return
        arrow = contract.arrow_layout_of(data)
        if arrow is not None:
            if self._shm and arrow.size >= SHM_THRESHOLD and self._send_shared(
                    output_id, publisher, arrow, metadata):
                return
            payload, attachment = contract.inline_message(arrow, metadata)
            publisher.put(payload, attachment=stamp(output_id, attachment))
            return
        kind, payload, header = contract.encode_value(data)
        attachment = contract.encode_attachment(kind, metadata, header)
        publisher.put(payload, attachment=stamp(output_id, attachment))

    def _send_shared(self, output_id: str, publisher, arrow: contract.ArrowLayout,
                     metadata: dict | None) -> bool:
        """Copy the buffers into a segment and send its descriptor; False: send inline."""
        holders = self.holders(output_id)
        if holders is None:
            return False
        slot = self._acquire(output_id, arrow.size)
        if slot is None:
            return False
        base = slot.segment.address + contract.SEGMENT_DATA_OFFSET
        for position, buffer in arrow.parts:
            copy_into(base + position, buffer)
        self.publish_slot(output_id, publisher, slot, holders, arrow.header, metadata)
        return True

    def raw_sample(self, output_id: str, publisher, data_len: int, metadata: dict | None):
        """A send_output_raw handler (publisher None: nobody consumes the output)."""
        from dora_api.raw_sample import SampleHandler

        return SampleHandler(self, output_id, publisher, data_len, metadata)

    def raw_slot(self, output_id: str, size: int) -> Slot | None:
        """A segment to fill in place, when a sample of `size` bytes will go that way."""
        if not self._shm or size < SHM_THRESHOLD or self.holders(output_id) is None:
            return None
        return self._acquire(output_id, size)

    def _acquire(self, output_id: str, size: int) -> Slot | None:
        """A slot for a value of `size` bytes, its generation word already written (before
        any byte of the value: a reader copying out the old one sees the change)."""
        self._collect_releases()
        slot = self.pool(output_id).acquire(size + contract.SEGMENT_DATA_OFFSET,
                                            wait=self._wait_for_release)
        if slot is not None:
            slot.segment.mark(slot.generation)
        return slot

    def send_raw(self, output_id: str, publisher, slot: Slot | None, memory, length: int,
                 metadata: dict | None) -> None:
        """Send a filled send_output_raw sample: its segment's descriptor, or its bytes."""
        header = contract.uint8_header(length)
        if slot is not None:
            holders = self.holders(output_id)
            if holders is not None:
                self.publish_slot(output_id, publisher, slot, holders, header, metadata)
                return
            memory = bytes(memory)  # a consumer that cannot map our memory came up
            self.pool(output_id).cancel(slot)
        attachment = contract.encode_attachment(contract.KIND_LAYOUT, metadata, header)
        publisher.put(memory, attachment=self._stamp(output_id, attachment))

    def publish_slot(self, output_id: str, publisher, slot: Slot, holders: tuple[str, ...],
                     header: bytes, metadata: dict | None) -> None:
        """Send the descriptor of the value now in `slot`."""
        segment = slot.segment
        self._pools[output_id].publish(slot, holders)  # before the put: releases may be fast
        if metadata:
            attachment = contract.encode_shm_attachment(contract.ShmDescriptor(
                segment.name, segment.capacity, contract.SEGMENT_DATA_OFFSET, slot.index,
                slot.generation, holders), metadata, header)
        else:
            attachment = contract.shm_attachment(segment.name, segment.capacity,
                                                 contract.SEGMENT_DATA_OFFSET, slot.index,
                                                 slot.generation, holders, header)
        publisher.put(b"", attachment=self._stamp(output_id, attachment))

    def holders(self, output_id: str) -> tuple[str, ...] | None:
        """The consumers that will hold a shared value of `output_id`; None when a live
        consumer cannot map our segments (then everything on it goes over zenoh)."""
        if not self._shm:
            return None
        known = self._holders.get(output_id)
        if known is not None:
            return known
        with self._lock:
            readers, version = list(self._readers.values()), self._readers_version
        holders, every_consumer_reads = [], True
        for consumer in self._consumers.get(output_id, ()):
            mine = [r for r in readers if r.node == consumer]
            if mine and all(r.domain == self._domain for r in mine):
                holders += (r.holder for r in mine)
            elif mine or self._is_alive(consumer):
                return None
            else:  # not there (dead, or restarting and not seen yet): if it comes up in
                # time to get this value it copies it out, and the generation word at the
                # segment's start tells it whether we reused the slot meanwhile
                every_consumer_reads = False
        holders = tuple(holders)
        if every_consumer_reads:  # the answer changes only with a reader token
            with self._lock:
                if version == self._readers_version:
                    self._holders[output_id] = holders
        return holders

    def in_use(self, output_id: str) -> int:
        """Segments of `output_id` some consumer still holds (releases applied first)."""
        if not self._shm:
            return 0
        self._collect_releases()
        return self.pool(output_id).in_use()

    def pool(self, output_id: str) -> SegmentPool:
        pool = self._pools.get(output_id)
        if pool is None:
            pool = self._pools[output_id] = SegmentPool(self._segment_name,
                                                        contract.SEGMENT_DATA_OFFSET)
        return pool

    def put_markers(self, marker: bytes) -> None:
        """The end-of-stream marker on every declared output."""
        for publisher in self._all.values():
            publisher.put(b"", attachment=marker)

    def close(self) -> None:
        """Unlink our segments (after the session closed: nothing more is sent)."""
        for pool in list(self._pools.values()):
            pool.close()

    # -- shared-memory bookkeeping (zenoh threads) ----------------------------------

    def _segment_name(self) -> str:
        return contract.shm_segment_name(self._dataflow_id, self._id, os.getpid(),
                                         next(self._numbers))

    def _remove_stale_segments(self, dataflow_id: str) -> None:
        """Segments an earlier incarnation of this node left (it crashed): unlink them."""
        import glob

        mine = f"@{os.getpid()}-"
        for path in glob.glob(os.path.join(SHM_DIR, contract.shm_segment_glob(dataflow_id,
                                                                               self._id))):
            if mine not in os.path.basename(path):
                unlink_quietly(os.path.basename(path))

    def _on_reader(self, sample) -> None:
        try:
            token = self._ns.parse_reader(str(sample.key_expr))
        except contract.ContractError:
            return
        if sample.kind == self._put_kind:
            with self._lock:
                self._readers[token.holder] = token
                self._readers_version += 1
                self._holders.clear()
            return
        with self._lock:
            self._readers.pop(token.holder, None)
            self._readers_version += 1
            self._holders.clear()
        for pool in list(self._pools.values()):
            pool.drop_holder(token.holder)  # a dead consumer releases all it held

    def _collect_releases(self) -> None:
        """Apply every release that arrived (the sending thread, before it takes a slot)."""
        try_recv = self._releases.try_recv
        while (sample := try_recv()) is not None:
            self._apply_release(sample)

    def _wait_for_release(self, deadline: float) -> None:
        """Block (without the GIL) until a release arrives or `deadline` passes."""
        if self._release_waker is None:
            self._release_waker = Waker(self._wake_releases, "dora-release-waker")
        self._release_waker.arm(deadline)
        try:
            self._apply_release(self._releases.recv())
        except Exception:  # the session is closing
            return
        self._collect_releases()

    def _apply_release(self, sample) -> None:
        attachment = sample.attachment
        if attachment is not None and contract.is_wake(attachment.to_bytes()):
            return
        try:
            holder, output, slot, generation = contract.read_release(sample.payload.to_bytes())
        except contract.ContractError:
            return
        pool = self._pools.get(output)
        if pool is not None:
            pool.release(slot, generation, holder)
