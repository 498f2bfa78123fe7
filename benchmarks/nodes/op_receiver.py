"""dora operator: the benchmark's receiver, in a runtime node next to op_sender.py.

Input `data` (the sender operator's output, delivered in-process), output `ack`; the
plan file is $BENCH_PLAN. Feeds bench_proto.Receiver from on_event, the receive time
taken first thing, and prints bench_proto.RESULT_MARK + one JSON line with the results."""

import json
import os

import bench_proto

from dora_api import DoraStatus

_now = bench_proto._now


class Operator:
    def __init__(self):
        plan = bench_proto.load_plan(os.environ["BENCH_PLAN"])
        self._send_output = None
        self.receiver = bench_proto.Receiver(plan, self._ack, self._report)

    def _ack(self, control: bytes) -> None:
        self._send_output("ack", control)

    @staticmethod
    def _report(result: dict) -> None:
        print(bench_proto.RESULT_MARK + json.dumps(result), flush=True)

    def on_event(self, event, send_output):
        now = _now()
        if event["type"] != "INPUT":
            return DoraStatus.CONTINUE
        self._send_output = send_output
        if self.receiver.on_message(event["value"], now):
            return DoraStatus.STOP
        return DoraStatus.CONTINUE
