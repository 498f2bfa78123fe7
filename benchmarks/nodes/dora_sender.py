"""dora node: the benchmark's sender (output `data`, input `ack` from the receiver)."""

import argparse
import sys

import bench_proto

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--plan", required=True)
args = parser.parse_args()
plan = bench_proto.load_plan(args.plan)

node = Node()
send_output = node.send_output


def send(payload) -> None:
    send_output("data", payload)


def wait_ack(timeout: float):
    event = node.next(timeout)
    if event is None:
        return None
    if event["type"] == "INPUT" and event["id"] == "ack":
        return event["value"]
    if event["type"] == "STOP":
        sys.exit(f"sender: stopped early ({event['id']})")
    return None


bench_proto.run_sender(plan, send, wait_ack)
print("sender: done", flush=True)
