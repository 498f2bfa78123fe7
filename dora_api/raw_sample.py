"""`send_output_raw`: a node fills an output in place, then sends it.

The contract is dora-rs's (its examples/python-zero-copy-send): the handler gives one
cached buffer (`as_buffer()`, a buffer-protocol exporter counting its views) and one cached
memoryview of it (`as_memoryview()`); `send()` refuses while a view is open, a second
`send()` is an error, a view of the buffer after `send()` or after the handler is dropped
raises BufferError, `as_buffer()`/`as_memoryview()` after `send()` raise RuntimeError, and
`with handler as buffer:` sends on a clean exit only. Receivers get a `pa.UInt8Array`.

Large samples (SHM_THRESHOLD and more, every consumer local) are written straight into a
shared-memory segment: the value reaches consumers with no copy at all. Smaller ones, or
with a consumer that cannot map our memory, are a private buffer sent over zenoh.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from dora_api import contract

__all__ = ["SampleHandler", "sample_buffer_type"]

_OPEN, _SENT, _DROPPED = range(3)


@functools.cache
def sample_buffer_type():
    """The SampleBuffer class: compiled (dora_api._samplebuf), or on Python 3.12+ the pure
    Python one below when the compiled one is missing."""
    try:
        from dora_api._samplebuf import SampleBuffer
    except ImportError:
        if sys.version_info < (3, 12):
            raise RuntimeError("send_output_raw needs dora_api._samplebuf (reinstall "
                               "dora-supervisor with a C compiler) or Python 3.12+") from None
        return _PySampleBuffer
    return SampleBuffer


class _PySampleBuffer:
    """SampleBuffer in Python, for Python 3.12+ (PEP 688)."""

    def __init__(self, memory):
        self._memory = memoryview(memory).cast("B")
        self.valid = True
        self.exports = 0

    def __buffer__(self, flags: int) -> memoryview:
        if not self.valid:
            raise BufferError("this sample was sent or dropped: its buffer cannot be viewed")
        self.exports += 1
        return self._memory[:]

    def __release_buffer__(self, view: memoryview) -> None:
        self.exports -= 1
        view.release()

    def __len__(self) -> int:
        return self._memory.nbytes

    def invalidate(self) -> None:
        self.valid = False


class SampleHandler:
    """What `send_output_raw(output_id, data_len, metadata)` returns."""

    def __init__(self, outputs, output_id: str, publisher, data_len: int,
                 metadata: dict | None):
        if data_len < 0:
            raise ValueError(f"send_output_raw: data_len must be >= 0, not {data_len}")
        self._outputs, self._output_id, self._publisher = outputs, output_id, publisher
        self._metadata, self._length = metadata, data_len
        self._slot = outputs.raw_slot(output_id, data_len) if publisher is not None else None
        self._memory: Any = bytearray(data_len) if self._slot is None else \
            self._slot.segment.view(contract.SEGMENT_DATA_OFFSET, data_len)
        self._buffer = sample_buffer_type()(self._memory)
        self._view: memoryview | None = None
        self._state = _OPEN

    def as_buffer(self):
        """The sample's memory: every view of it (memoryview, numpy) is counted."""
        self._check_open("as_buffer")
        return self._buffer

    def as_memoryview(self) -> memoryview:
        """One cached writable memoryview of the buffer (release it before `send()`)."""
        self._check_open("as_memoryview")
        if self._view is None or _released(self._view):
            self._view = memoryview(self._buffer)
        return self._view

    def send(self) -> None:
        """Publish the sample; no view of it may be open."""
        if self._state == _SENT:
            raise RuntimeError("this sample has already been sent")
        if self._state == _DROPPED:
            raise RuntimeError("this sample was dropped; it cannot be sent")
        open_views = self._buffer.exports
        if open_views:
            raise RuntimeError(f"cannot send: {open_views} buffer view(s) still open (release "
                               "memoryviews and delete numpy arrays of the buffer first)")
        self._state = _SENT
        self._buffer.invalidate()
        self._view = None
        if self._publisher is None:  # nobody consumes this output
            self._let_go()
            return
        try:
            self._outputs.send_raw(self._output_id, self._publisher, self._slot,
                                   self._memory, self._length, self._metadata)
        except BaseException:
            if self._slot is not None:  # not sent after all: the slot is free again
                self._outputs.pool(self._output_id).cancel(self._slot)
            raise
        finally:
            self._slot = None
            self._let_go()

    def __enter__(self):
        return self.as_buffer()

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.send()  # a body that raised does not send its partial buffer

    def __del__(self) -> None:
        if getattr(self, "_state", _SENT) == _OPEN:
            self._state = _DROPPED
            self._buffer.invalidate()
            if self._slot is not None:
                pool = self._outputs.pool(self._output_id)
                if self._buffer.exports:  # a view can still write into it: never reuse
                    pool.retire(self._slot)
                else:
                    pool.cancel(self._slot)
                self._slot = None
            self._let_go()

    def _check_open(self, what: str) -> None:
        if self._state != _OPEN:
            raise RuntimeError(f"{what}() after the sample was "
                               f"{'sent' if self._state == _SENT else 'dropped'}")

    def _let_go(self) -> None:
        """Stop pinning the segment's map (the buffer released its own hold already)."""
        if isinstance(self._memory, memoryview):
            try:
                self._memory.release()
            except BufferError:  # a view taken before send is still alive somewhere
                pass


def _released(view: memoryview) -> bool:
    try:
        return view.nbytes < 0  # never: it raises once released
    except ValueError:
        return True
