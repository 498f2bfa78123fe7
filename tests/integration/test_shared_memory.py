"""Large Arrow values between local nodes go through shared memory: exact content in order,
the receiver's buffers point into the segment, a held value never changes, a dead holder
releases what it held, and no segment outlives the dataflow (even after a SIGKILL)."""

from __future__ import annotations

import glob
import os

from dora_api.contract import shm_segment_glob
from dora_api.shm import SHM_DIR
from tests.conftest import wait_until


def segments(run) -> list[str]:
    dataflow_id = run.wait_for(lambda r: next(
        (rec["dataflow"] for rec in r.records() if rec.get("event") == "dataflow_started"),
        None), 20, "the dataflow to start")
    return glob.glob(os.path.join(SHM_DIR, shm_segment_glob(dataflow_id)))


def test_every_size_and_type_arrives_exactly_in_order_backed_by_shared_memory(
        dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: producer, path: {nodes}/shm_producer.py, args: --count 40 --report-pool,
             outputs: [data]}
          - {id: consumer, path: {nodes}/shm_consumer.py, inputs: {data: producer/data}}
    """))
    assert run.wait(120) == 0, run.text()
    out = run.lines("consumer")
    assert not [line for line in out if line.startswith("BAD")], out
    assert "OK 40" in out
    # frames of 1 .. 8 MiB, structs of lists and big string arrays: 26 of the 40 (frames of
    # 3 and 64 KiB and small int64 arrays go inline)
    assert "SHARED 26 of 26" in out, out
    assert "IN_USE 0" in run.lines("producer")
    assert segments(run) == []


def test_a_held_value_does_not_change_while_1000_more_are_sent(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: producer, path: {nodes}/shm_producer.py,
             args: --count 1001 --frames 524288 --report-pool --held 1, outputs: [data]}
          - {id: consumer, path: {nodes}/shm_consumer.py, args: --frames 524288 --hold 1,
             inputs: {data: producer/data}}
    """))
    assert run.wait(120) == 0, run.text()
    out = run.lines("consumer")
    assert "OK 1001" in out and "SHARED 1001 of 1001" in out, out
    assert "HELD INTACT" in out, out
    assert "IN_USE 1" in run.lines("producer")  # the held value only: the rest was reused


def test_a_consumer_killed_while_holding_values_releases_them(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: producer, path: {nodes}/shm_producer.py,
             args: --count 300 --frames 524288 --report-pool --pace 0.002, outputs: [data]}
          - {id: keeper, path: {nodes}/shm_consumer.py,
             args: --frames 524288 --hold 1000 --die-after 20, inputs: {data: producer/data},
             restart: {policy: temporary}}
          - {id: checker, path: {nodes}/shm_consumer.py, args: --frames 524288,
             inputs: {data: producer/data}}
    """))
    run.wait(120)
    assert "DYING holding 20" in run.lines("keeper"), run.text()
    assert "SENT 300" in run.lines("producer"), run.text()
    assert "IN_USE 0" in run.lines("producer"), run.text()  # the dead keeper's 20 too
    out = run.lines("checker")
    assert "OK 300" in out and "SHARED 300 of 300" in out, out
    assert segments(run) == []


def test_no_segment_outlives_the_dataflow_after_a_sigkill(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: producer, path: {nodes}/shm_producer.py,
             args: --count 100 --frames 1048576 --die-after 5, outputs: [data],
             restart: {policy: temporary}}
          - {id: consumer, path: {nodes}/shm_consumer.py, args: --frames 1048576 --hold 5,
             inputs: {data: producer/data}}
    """))
    run.wait_for(lambda r: any(line.startswith("DYING") for line in r.lines("producer")), 60,
                 "the producer to kill itself")
    # while it runs, the dead producer's segments are still there (the consumer holds them)
    assert segments(run), "the test needs segments to exist before the end"
    run.wait(60)
    assert "OK 5" in run.lines("consumer"), run.text()
    wait_until(lambda: not segments(run), 5, "the segments to be removed")
