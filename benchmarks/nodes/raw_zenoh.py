"""Baseline: the benchmark over raw zenoh-python between two plain processes.

Same zenoh settings as dora_api (`dora_api.contract.zenoh_config`: peer mode, no multicast
scouting, Unix socket endpoints; publishers RELIABLE with congestion control BLOCK), and the
receiver of the data-path issue's harness (../shared/bench/zenoh_node.py): a bounded FIFO
channel (backpressure) read by the main thread, `payload.to_bytes()`: the cheapest way to
get bytes out of zenoh-python.

    raw_zenoh.py receiver --plan P --listen EP
    raw_zenoh.py sender --plan P --listen EP --connect EP
"""

import argparse
import ctypes
import json
import queue
import signal
import sys

import bench_proto
import zenoh

from dora_api import contract
from dora_api.events import DEFAULT_BACKPRESSURE_DEPTH

DATA_KEY = "bench/raw/data"
ACK_KEY = "bench/raw/ack"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["sender", "receiver"])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--listen", action="append", default=[])
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--lease", type=float, default=None,
                        help="zenoh link lease in seconds, as dora_api sets it from health.lease")
    parser.add_argument("--zenoh", action="append", default=[], metavar="KEY=JSON5",
                        help="override one zenoh config key (for experiments only: the "
                             "baseline proper uses dora_api's settings unchanged)")
    args = parser.parse_args()
    plan = bench_proto.load_plan(args.plan)
    _die_with_parent()

    config = contract.zenoh_config(args.listen, args.connect, args.lease)
    for override in args.zenoh:
        key, _, value = override.partition("=")
        config.insert_json5(key, value)
    session = zenoh.open(config)
    try:
        if args.role == "sender":
            sender(session, plan)
        else:
            receiver(session, plan)
    finally:
        session.close()


def _publisher(session, key: str):
    return session.declare_publisher(key, congestion_control=zenoh.CongestionControl.BLOCK,
                                     reliability=zenoh.Reliability.RELIABLE)


def sender(session, plan: dict) -> None:
    acks: queue.Queue = queue.Queue()
    session.declare_subscriber(
        ACK_KEY, zenoh.handlers.Callback(lambda s: acks.put(s.payload.to_bytes()),
                                         indirect=False))
    publisher = _publisher(session, DATA_KEY)

    def wait_ack(timeout: float):
        try:
            return acks.get(timeout=timeout)
        except queue.Empty:
            return None

    bench_proto.run_sender(plan, publisher.put, wait_ack)
    print("sender: done", flush=True)


def receiver(session, plan: dict) -> None:
    subscriber = session.declare_subscriber(
        DATA_KEY, zenoh.handlers.FifoChannel(DEFAULT_BACKPRESSURE_DEPTH))
    next_sample = subscriber.recv

    def recv() -> bytes:
        return next_sample().payload.to_bytes()

    publisher = _publisher(session, ACK_KEY)

    def report(result: dict) -> None:
        print(bench_proto.RESULT_MARK + json.dumps(result), flush=True)

    bench_proto.run_receiver(plan, recv, publisher.put, report)


def _die_with_parent() -> None:
    """SIGKILL us when the benchmark script dies, whatever the path (Linux only)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


if __name__ == "__main__":
    main()
