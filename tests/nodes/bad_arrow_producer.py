"""Sends a message that claims to be Arrow but is not, then a good one."""

from dora_api import Node, contract

node = Node()
publisher = node._publishers["out"]
publisher.put(b"not arrow at all", attachment=bytes((contract.KIND_ARROW,)))
node.send_output("out", b"fine")
