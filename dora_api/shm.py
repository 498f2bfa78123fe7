"""POSIX shared-memory segments under /dev/shm: create, map, copy into, unlink.

A segment is a file of /dev/shm named by the contract (`contract.shm_segment_name`: the
dataflow id, the node, its pid and a counter), so the supervisor can remove every segment
of a dataflow with one glob when it ends, whatever crashed. Only the writer maps a
segment writable; readers map it read-only. Space is reserved with posix_fallocate, so a
full /dev/shm is an OSError here (the caller falls back to zenoh), never a SIGBUS later.
"""

from __future__ import annotations

import functools
import mmap
import os

from dora_api import contract

__all__ = ["SHM_DIR", "Segment", "shm_available", "shm_domain", "copy_into", "map_readonly",
           "unlink_quietly"]

SHM_DIR = "/dev/shm"


@functools.cache  # asked by the inputs and the outputs at every node's start
def shm_available() -> bool:
    return os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK)


@functools.cache
def shm_domain() -> str:
    """Who can map our segments: same boot and the same /dev/shm mount (containers with
    their own /dev/shm differ). Readers announce theirs; a writer shares memory only with
    readers of its own domain."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip().replace("-", "")[:12]
    except OSError:
        boot = "noboot"
    try:
        device = os.stat(SHM_DIR).st_dev
    except OSError:
        return "none"
    return f"{boot}.{device:x}"


class Segment:
    """A segment this process created and maps read-write: `address` of its `capacity`
    bytes. `close()` unmaps and unlinks it (readers' mappings stay valid)."""

    __slots__ = ("name", "capacity", "address", "_map", "_anchor")

    def __init__(self, name: str, capacity: int):
        path = os.path.join(SHM_DIR, name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(fd, 0, capacity)
            self._map = mmap.mmap(fd, capacity, flags=mmap.MAP_SHARED | _POPULATE)
        except BaseException:
            os.close(fd)
            unlink_quietly(name)
            raise
        os.close(fd)
        import ctypes  # not at a node's start: only once it shares memory

        self.name, self.capacity = name, capacity
        self._anchor = ctypes.c_char.from_buffer(self._map)  # pins the map while we use it
        self.address = ctypes.addressof(self._anchor)

    def mark(self, generation: int) -> None:
        """Write the generation of the value about to be written (the segment's header)."""
        contract.SEGMENT_GENERATION.pack_into(self._map, 0, generation)

    def view(self, offset: int, size: int) -> memoryview:
        """A writable view of `size` bytes at `offset` (for send_output_raw)."""
        return memoryview(self._map)[offset:offset + size]

    def unlink(self) -> None:
        """No new reader can open it; every mapping (ours too) stays valid."""
        unlink_quietly(self.name)

    def close(self) -> None:
        unlink_quietly(self.name)
        self._anchor = None
        try:
            self._map.close()
        except BufferError:  # a view is still out (send_output_raw): the GC unmaps it
            pass


_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # fault the pages in once, at creation


def copy_into(address: int, source) -> None:
    """memcpy `source` (a pyarrow Buffer, or bytes) to `address`, without the GIL."""
    import ctypes

    if type(source) is bytes:
        ctypes.memmove(address, source, len(source))
    else:
        ctypes.memmove(address, source.address, source.size)


def map_readonly(name: str, capacity: int) -> mmap.mmap:
    """Map a segment another process wrote, read-only. Raises OSError."""
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDONLY)
    try:
        if os.fstat(fd).st_size < capacity:
            raise OSError(f"shared-memory segment {name} is smaller than announced")
        return mmap.mmap(fd, capacity, flags=mmap.MAP_SHARED | _POPULATE,
                         prot=mmap.PROT_READ)
    finally:
        os.close(fd)


def unlink_quietly(name: str) -> None:
    try:
        os.unlink(os.path.join(SHM_DIR, name))
    except OSError:
        pass
