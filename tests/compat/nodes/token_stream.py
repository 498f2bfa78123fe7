"""Streams each prompt back word by word with session/seq/fin metadata
(streaming-example's generator)."""

import uuid

import pyarrow as pa

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        words = event["value"].to_pylist()[0].split()
        session = str(uuid.uuid4())
        for seq, word in enumerate(words):
            node.send_output("tokens", pa.array([word]), metadata={
                "session_id": session, "segment_id": "0", "seq": str(seq),
                "fin": str(seq == len(words) - 1).lower()})
    elif event["type"] == "STOP":
        break
