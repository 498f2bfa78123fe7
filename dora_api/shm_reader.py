"""The receiving side of shared memory: map a producer's segment once, hand the node an
Arrow array whose buffers point into it, and release the value when it is collected.

The array's memory is a `pa.foreign_buffer` whose base is a `_Hold`: when the last view of
the value (the array, a slice, a numpy view of it) is gone, the hold's `__del__` lets go.
The producer knows one holder per process, so when several inputs of this process get
the same output (two operators of one runtime node), the release goes out once every one
of them has had the value and let it go. A receiver the descriptor does not name as a
holder copies the value out instead of holding it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from dora_api import contract
from dora_api.shm import SHM_DIR, map_readonly

__all__ = ["SegmentReader", "MAX_MAPPINGS"]

MAX_MAPPINGS = 256  # segments kept mapped; the producer reuses a few per output


class _Mapping:
    __slots__ = ("name", "map", "whole", "__weakref__")

    def __init__(self, name: str, capacity: int):
        import pyarrow as pa

        self.name = name
        self.map = map_readonly(name, capacity)
        self.whole = pa.py_buffer(self.map)  # its address; pins the map while referenced


class _Hold:
    """Keeps a mapping alive for one received value; its end lets go of the value (not
    while `message` is None: an array built ahead that was never handed out)."""

    __slots__ = ("reader", "key", "message", "mapping")

    def __init__(self, reader: SegmentReader, key: str, message: bytes | None,
                 mapping: _Mapping):
        self.reader, self.key, self.message, self.mapping = reader, key, message, mapping

    def __del__(self) -> None:
        if self.message is not None:
            self.reader._let_go(self.key, self.message)


class SegmentReader:
    """Maps the segments named in descriptors; `holder` is how descriptors name us.
    `put(key, message)` sends a release."""

    def __init__(self, put: Callable[[str, bytes], None], ns: contract.Namespace,
                 holder: str):
        self._put = put  # (key, message): a reliable put that never drops
        self._ns = ns
        self._holder = holder
        self._maps: dict[str, _Mapping] = {}
        self._lock = threading.Lock()
        self._inputs: dict[tuple[str, str], int] = {}  # release key, output -> our inputs
        # (release key, message) -> [inputs yet to get the value, holds not yet let go]
        self._held: dict[tuple[str, bytes], list[int]] = {}

    def value_for(self, producer: str, output: str) -> _InputValues:
        """The `shm_value` of an input fed by `producer`'s `output` (see inputs)."""
        key = self._ns.release(producer)
        with self._lock:
            self._inputs[key, output] = self._inputs.get((key, output), 0) + 1
        return _InputValues(self, key, output)

    def _holding(self, key: str, output: str, message: bytes) -> None:
        """One of our inputs got the value `message` releases."""
        with self._lock:
            entry = self._held.get((key, message))
            if entry is None:
                entry = self._held[key, message] = [self._inputs.get((key, output), 1), 0]
            entry[0] -= 1
            entry[1] += 1

    def _let_go(self, key: str, message: bytes) -> None:
        """A hold ended: release once every input of ours got the value and let it go.
        (An input that never gets it, because it closed first, keeps the slot until our
        reader token ends: the producer then frees all we held.)"""
        with self._lock:
            entry = self._held.get((key, message))
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0 or entry[0] > 0:
                return
            del self._held[key, message]
        try:
            self._put(key, message)
        except Exception:  # our session is closed: the producer sees our token end instead
            pass

    def _mapping(self, name: str, capacity: int) -> _Mapping:
        with self._lock:
            mapping = self._maps.get(name)
            if mapping is not None and len(mapping.map) >= capacity:
                return mapping
            self._sweep()
            mapping = self._maps[name] = _Mapping(name, capacity)
            return mapping

    def _sweep(self) -> None:
        """Forget mappings of segments their producer unlinked (retired or exited): values
        still held keep theirs until collected; nothing else keeps the memory."""
        for name in [n for n in self._maps if not os.path.exists(os.path.join(SHM_DIR, n))]:
            del self._maps[name]
        while len(self._maps) >= MAX_MAPPINGS:
            del self._maps[next(iter(self._maps))]


class _InputValues:
    """The values of one input that arrive in shared memory: `self(attachment, start,
    metadata)` gives the array a descriptor names. `prepare()` (while the node waits)
    builds ahead, for the segments the last values came in, the array the next one will
    most likely be: a producer cycles through few segments, and pyarrow's calls are the
    costly part of a value's arrival on a busy machine (see inputs.SampleDecoder)."""

    _AHEAD = 2  # segments to build ahead for

    def __init__(self, reader: SegmentReader, release_key: str, output: str):
        self._reader, self._key, self._output = reader, release_key, output
        self._release = contract.release_encoder(reader._holder, output)
        self._recent: list[tuple[str, int, int]] = []  # (segment, capacity, offset)
        self._header = b""  # the last layout header
        self._ready: dict[tuple[str, int, int], tuple[bytes, _Hold, Any]] = {}
        self._unbuildable = b""  # a header whose array did not build ahead: do not retry

    def prepare(self) -> None:
        if self._header == self._unbuildable:
            return
        for place in self._recent:
            if place not in self._ready:
                mapping = self._reader._maps.get(place[0])
                if mapping is None:
                    continue
                hold = _Hold(self._reader, self._key, None, mapping)
                try:  # over what the segment holds now: it may not validate as this type
                    array = self._build(mapping, place, hold, self._header, 0)
                except Exception:
                    self._unbuildable = self._header
                    return
                self._ready[place] = (self._header, hold, array)

    def __call__(self, attachment: bytes, start: int, metadata: dict) -> Any:
        reader = self._reader
        descriptor, generation, header_start = contract.read_shm_descriptor(attachment, start)
        place = (descriptor.segment, descriptor.capacity, descriptor.offset)
        held = reader._holder in descriptor.holders
        message = self._release(descriptor.slot, generation)
        header = attachment[header_start:]
        ready = self._ready.pop(place, None)
        if held:
            reader._holding(self._key, self._output, message)
        if held and ready is not None and ready[0] == header:
            ready[1].message = message  # from now on, collecting it lets go of the value
            value = ready[2]
        else:
            try:
                mapping = reader._mapping(descriptor.segment, descriptor.capacity)
            except OSError as exc:
                if held:
                    reader._let_go(self._key, message)  # we cannot hold what we cannot map
                if isinstance(exc, FileNotFoundError):
                    raise contract.ContractError(
                        "the shared-memory segment of this value is gone: its producer "
                        "ended (restarted) before this node read it") from None
                raise
            if held:
                hold = _Hold(reader, self._key, message, mapping)
                value = self._build(mapping, place, hold, attachment, header_start)
            else:
                value = self._copy(mapping, place, generation, attachment,
                                   header_start)
        if header != self._header:
            self._header, self._ready = header, {}
        recent = self._recent
        if not recent or recent[0] != place:
            if place in recent:
                recent.remove(place)
            recent.insert(0, place)
            del recent[self._AHEAD:]
            for stale in [p for p in self._ready if p not in recent]:
                del self._ready[stale]  # it may pin a segment its producer let go
        return value

    @staticmethod
    def _build(mapping: _Mapping, place, hold: _Hold | None, header: bytes, start: int):
        import pyarrow as pa

        _, capacity, offset = place
        size = capacity - offset
        region = pa.foreign_buffer(mapping.whole.address + offset, size, base=hold)
        return contract.decode_array(header, start, region)

    @staticmethod
    def _copy(mapping: _Mapping, place, generation: int, header: bytes, start: int):
        """A value we do not hold (we came up after it was sent): copied out, and valid
        only if its producer did not reuse the slot meanwhile (the generation word, which
        it writes before the value, is the same after the copy as before)."""
        import pyarrow as pa

        _, capacity, offset = place
        before = contract.SEGMENT_GENERATION.unpack_from(mapping.map, 0)[0]
        region = pa.py_buffer(mapping.whole.slice(offset, capacity - offset).to_pybytes())
        after = contract.SEGMENT_GENERATION.unpack_from(mapping.map, 0)[0]
        if not before == after == generation:
            raise contract.ContractError(
                "a shared-memory value was reused by its producer before this node could "
                "copy it (it started while the value was on its way)")
        return contract.decode_array(header, start, region)
