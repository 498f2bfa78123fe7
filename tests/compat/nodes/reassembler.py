"""Collects tokens per session_id and prints the sentence when fin is "true"
(streaming-example's sink)."""

from dora_api import Node

node = Node()
sessions: dict[str, list[str]] = {}
for event in node:
    if event["type"] == "INPUT":
        metadata = event["metadata"]
        words = sessions.setdefault(metadata["session_id"], [])
        words.append(event["value"].to_pylist()[0])
        assert metadata["seq"] == str(len(words) - 1)
        if metadata["fin"] == "true":
            print("complete:", " ".join(sessions.pop(metadata["session_id"])), flush=True)
    elif event["type"] == "STOP":
        break
