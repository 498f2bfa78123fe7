"""The values the shared-memory test nodes send and check: value(i) is known to both sides.

Kinds by i % 4: a uint8 frame (sizes cycle, from just under to well above the shared-memory
threshold, odd sizes included), a struct of lists, a small int64 array (inline), a sliced
large_string array."""

import pyarrow as pa

SIZES = [64 << 10, (1 << 20) + 123, 4 << 20, 8 << 20, 3 << 10]


def frame(i: int, size: int) -> pa.Array:
    data = bytearray(bytes((i % 251,)) * size)
    data[:8] = i.to_bytes(8, "little")
    return pa.Array.from_buffers(pa.uint8(), size, [None, pa.py_buffer(data)])


def value(i: int, only_frames_of: int | None = None) -> pa.Array:
    if only_frames_of:
        return frame(i, only_frames_of)
    kind = i % 4
    if kind == 0:
        return frame(i, SIZES[(i // 4) % len(SIZES)])
    if kind == 1:
        rows = 40000 + i
        return pa.StructArray.from_arrays(
            [pa.ListArray.from_arrays(pa.array(range(0, 2 * rows + 1, 2), pa.int32()),
                                      pa.array(range(2 * rows), pa.float64())),
             pa.array([None if r % 7 == 0 else f"r{i}-{r}" for r in range(rows)])],
            names=["points", "label"])
    if kind == 2:
        return pa.array([i, -i, None], pa.int64())
    strings = pa.array([f"{i}:{j}" * 3 for j in range(60000)], pa.large_string())
    return strings.slice(17, 50000)


def in_shared_memory(array: pa.Array) -> bool:
    """Every buffer of `array` lies in a mapped /dev/shm/dora-* segment (this process)."""
    spans = []
    with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
        for line in maps:
            if "/dev/shm/dora-" in line:
                start, end = line.split()[0].split("-")
                spans.append((int(start, 16), int(end, 16)))
    buffers = [b for b in array.buffers() if b is not None and b.size]
    return bool(buffers) and all(
        any(start <= b.address and b.address + b.size <= end for start, end in spans)
        for b in buffers)
