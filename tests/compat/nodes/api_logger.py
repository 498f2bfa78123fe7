"""On every tick: sends the tick number as bytes and logs with node.log_info, plus
node.log_warn every 2nd tick (log-aggregator's sensor)."""

from dora_api import Node

node = Node()
tick = 0
for event in node:
    if event["type"] == "INPUT" and event["id"] == "tick":
        tick += 1
        node.send_output("reading", str(tick).encode())
        if tick % 2 == 0:
            node.log_warn(f"even tick {tick}")
        else:
            node.log_info(f"odd tick {tick}")
