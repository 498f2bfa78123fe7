"""dora node: the benchmark's receiver (input `data`, output `ack`).

Prints bench_proto.RESULT_MARK + one JSON line with the results."""

import argparse
import json

import bench_proto

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--plan", required=True)
args = parser.parse_args()
plan = bench_proto.load_plan(args.plan)

node = Node()
next_event = node.next


def recv():
    while True:
        event = next_event()
        if event is None or event["type"] == "STOP":
            return None
        if event["type"] == "INPUT":
            return event["value"]


def ack(control: bytes) -> None:
    node.send_output("ack", control)


def report(result: dict) -> None:
    print(bench_proto.RESULT_MARK + json.dumps(result), flush=True)


bench_proto.run_receiver(plan, recv, ack, report)
