"""The receiving side of shared memory: map a producer's segment once, hand the node an
Arrow array whose buffers point into it, and release the value when it is collected.

The array's memory is a `pa.foreign_buffer` whose base is a `_Hold`: when the last view of
the value (the array, a slice, a numpy view of it) is gone, the hold's `__del__` puts a
release message for the producer. A receiver the descriptor does not name as a holder
(it appeared after the value was sent) copies the value out instead of holding it.
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
    """Keeps a mapping alive for one received value; its end releases the value."""

    __slots__ = ("put", "key", "message", "mapping")

    def __init__(self, put, key: str, message: bytes, mapping: _Mapping):
        self.put, self.key, self.message, self.mapping = put, key, message, mapping

    def __del__(self) -> None:
        try:
            self.put(self.key, self.message)
        except Exception:  # our session is closed: the producer sees our token end instead
            pass


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

    def value_for(self, producer: str, output: str) -> Callable[[bytes, int, dict], Any]:
        """The `shm_value` of an input fed by `producer`'s `output` (see inputs)."""
        release_key = self._ns.release(producer)

        def value(attachment: bytes, start: int, metadata: dict) -> Any:
            import pyarrow as pa

            descriptor, header_start = contract.decode_shm_descriptor(attachment, start)
            held = self._holder in descriptor.holders
            message = contract.encode_release(contract.ReleaseMessage(
                self._holder, output, descriptor.slot, descriptor.generation))
            try:
                mapping = self._mapping(descriptor.segment, descriptor.capacity)
            except OSError:
                if held:
                    self._put(release_key, message)  # we cannot hold what we cannot map
                raise
            size = descriptor.capacity - descriptor.offset
            address = mapping.whole.address + descriptor.offset
            if held:
                hold = _Hold(self._put, release_key, message, mapping)
                region = pa.foreign_buffer(address, size, base=hold)
            else:
                region = pa.py_buffer(mapping.whole.slice(descriptor.offset, size).to_pybytes())
            return contract.decode_array(attachment, header_start, region)

        return value

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
