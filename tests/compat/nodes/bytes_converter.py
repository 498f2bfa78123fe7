"""Reads bytes as a number with float(bytes(value)) and logs a debug record through
node.log_debug (log-aggregator's processor)."""

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        number = float(bytes(event["value"]))
        node.log_debug(f"converted {number:.0f}")
