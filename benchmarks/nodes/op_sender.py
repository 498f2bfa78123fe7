"""dora operator: the benchmark's sender, in a runtime node next to op_receiver.py.

Inputs `tick` (a fast `dora/timer/...`: paces the latency phases) and `ack` (the receiver
operator's ack, delivered in-process); output `data`. The plan file is $BENCH_PLAN.
Runs bench_proto.Sender (the push-style twin of the nodes' run_sender)."""

import os

import bench_proto

from dora_api import DoraStatus


class Operator:
    def __init__(self):
        plan = bench_proto.load_plan(os.environ["BENCH_PLAN"])
        tick_s = float(os.environ.get("BENCH_TICK_S", "0.001"))
        self._send_output = None
        self.sender = bench_proto.Sender(plan, self._send, tick_s=tick_s)

    def _send(self, payload) -> None:
        self._send_output("data", payload)

    def on_event(self, event, send_output):
        self._send_output = send_output
        if event["type"] == "INPUT":
            if event["id"] == "tick":
                done = self.sender.on_tick()
            elif event["id"] == "ack":
                done = self.sender.on_ack(event["value"])
            else:
                done = False
            if done:
                print("sender: done", flush=True)
                return DoraStatus.STOP
        elif event["type"] == "STOP" and not self.sender.done:
            print(f"sender: stopped early ({event['id']})", flush=True)
        return DoraStatus.CONTINUE
