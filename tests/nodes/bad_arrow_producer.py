"""Sends a message that claims to be Arrow but is not (stamped like any other) and a good
one: the bad one first, or last with `--bad-last`. `--fail-once`: in its first
incarnation it then closes (everything delivered) and exits with code 1."""

import sys

from dora_api import Node, contract

node = Node()
publisher = node._publishers["out"]


def send_bad() -> None:
    publisher.put(b"not arrow at all",
                  attachment=node._delivery.stamp("out", bytes((contract.KIND_ARROW,))))


if "--bad-last" not in sys.argv:
    send_bad()
node.send_output("out", b"fine")
if "--bad-last" in sys.argv:
    send_bad()
if "--fail-once" in sys.argv and node.restart_count() == 0:
    node.close()
    sys.exit(1)
