"""Sends a random number for every input it receives."""

import random

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        node.send_output("number", str(random.random()).encode())
    elif event["type"] == "STOP":
        break
