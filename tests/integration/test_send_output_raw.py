"""send_output_raw: the dora-rs contract case by case, what reaches the receiver (exactly
the samples sent, in order, the large one through shared memory), and a dataflow shaped like
dora-rs's examples/python-zero-copy-send."""

from __future__ import annotations

import re


def sent_and_received(run):
    sent = next(line for line in run.lines("contract") if line.startswith("SENT "))
    got = [line.split() for line in run.lines("sink") if line.startswith("GOT ")]
    return [int(n) for n in re.findall(r"\d+", sent)], got


def test_every_contract_case_holds_and_exactly_the_sent_samples_arrive(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: contract, path: {nodes}/raw_contract.py, args: --big, outputs: [out]}
          - {id: sink, path: {nodes}/raw_receiver.py, inputs: {out: contract/out}}
    """))
    assert run.wait(60) == 0, run.text()
    results = [line for line in run.lines("contract") if line.startswith(("PASS", "FAIL"))]
    assert len(results) == 12 and all(line.startswith("PASS") for line in results), results
    sent, got = sent_and_received(run)
    assert sent == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]  # 9 was dropped unsent
    assert [int(g[1]) for g in got] == sent  # no partial write (99) ever arrived
    assert all(g[2] == "64" and g[3] == "uint8" for g in got[:-1])
    assert got[-1][2:5] == [str(1 << 20), "uint8", "shared=True"]  # in place, no copy
    assert "[('case', 1)]" in " ".join(run.lines("sink")[0].split()[5:])


def test_the_contract_holds_when_nobody_consumes_the_output(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: contract, path: {nodes}/raw_contract.py, args: --output test_data,
             outputs: [test_data]}
    """))
    assert run.wait(60) == 0, run.text()
    assert sum(line.startswith("PASS") for line in run.lines("contract")) == 11, run.text()


def test_a_zero_copy_sender_and_its_receiver_like_the_dora_rs_example(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - id: zero_copy_sender
            path: {nodes}/zero_copy_sender.py
            inputs: {tick: dora/timer/millis/50}
            outputs: [frame, image]
          - id: receiver
            path: {nodes}/zero_copy_receiver.py
            inputs: {frame: zero_copy_sender/frame, image: zero_copy_sender/image}
    """))
    assert run.wait(60) == 0, run.text()
    out = run.lines("receiver")
    assert "received 10 frames and 10 images" in out, out
    assert not [line for line in out if "BAD" in line], out
