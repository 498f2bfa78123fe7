"""Logs one record per level through Python `logging` and through `node.log_*`, prints a
line, then exits (its `out` output closes the collectors' data input)."""

import logging

from dora_api import Node

node = Node()
print("printed line", flush=True)
logging.debug("py debug")
logging.info("py info")
logging.warning("py warning")
node.log_trace("api trace")
node.log_debug("api debug")
node.log_info("api info")
node.log("warn", "api warn", target="emitter.part", fields={"k": 1})
node.log_error("api error")
node.send_output("out", b"done")
