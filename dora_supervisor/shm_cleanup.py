"""Remove every shared-memory segment of a dataflow: run when the dataflow ends, so none
outlives it whatever crashed (a node removes its own segments when it closes, and an
incarnation those of the one before it; a SIGKILLed last incarnation leaves them here)."""

from __future__ import annotations

import glob
import os

from dora_api.contract import shm_segment_glob
from dora_api.shm import SHM_DIR, unlink_quietly

__all__ = ["remove_dataflow_segments"]


def remove_dataflow_segments(dataflow_id: str) -> list[str]:
    """Unlink the segments of `dataflow_id` under /dev/shm; the names removed. Processes
    that still map one keep their mapping (the memory goes when they unmap)."""
    names = [os.path.basename(path)
             for path in glob.glob(os.path.join(SHM_DIR, shm_segment_glob(dataflow_id)))]
    for name in names:
        unlink_quietly(name)
    return names
