"""Two threads on one node: one reads with node.next() until the stream ends, a daemon
thread publishes every 0.2s (python-concurrent-rw, run as a two-node cycle)."""

import logging
import threading
import time

import numpy as np
import pyarrow as pa

from dora_api import Node


def read(node: Node) -> None:
    while (event := node.next()) is not None:
        if event["type"] == "INPUT":
            print(f"got {event['value'].to_numpy().dtype}", flush=True)
    logging.info("reader done")


def publish(node: Node) -> None:
    while True:
        time.sleep(0.2)
        node.send_output("data", pa.array([np.uint64(time.perf_counter_ns())]))


node = Node()
reader = threading.Thread(target=read, args=(node,))
reader.start()
threading.Thread(target=publish, args=(node,), daemon=True).start()
reader.join()
logging.info("main done")
