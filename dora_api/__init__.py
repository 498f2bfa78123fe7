"""What a dataflow node or operator imports: `Node` and `DoraStatus`."""

from __future__ import annotations

import enum

from dora_api.node import Node

__all__ = ["Node", "DoraStatus"]


class DoraStatus(enum.Enum):
    """What an operator's `on_event` returns, as in dora-rs."""

    CONTINUE = 0
    STOP = 1
    STOP_ALL = 2
