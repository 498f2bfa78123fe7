"""send_output_raw's contract, case by case (the dora-rs contract, our own checks).

Every sample sent carries its case number in every byte, so the receiver can tell exactly
which were sent and in what order. Prints `PASS n name` / `FAIL n name: why`, then
`SENT [case numbers in the order they were sent]`. --big sends case 12 as a 1 MiB sample
(through shared memory when a local node consumes the output)."""

import argparse
import sys
import traceback

import numpy as np

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--output", default="out")
parser.add_argument("--big", action="store_true")
args = parser.parse_args()
node = Node()
OUT, SIZE = args.output, 64
sent = []


def fill(target, case: int) -> None:
    np.asarray(target, dtype=np.uint8)[:] = case


def expect(error, check, what: str):
    try:
        check()
    except error as exc:
        return exc
    raise AssertionError(f"{what}: no {error.__name__}")


def with_block_sends(case):
    with node.send_output_raw(OUT, SIZE, metadata={"case": case}) as buffer:
        fill(buffer, case)  # the numpy view dies with the statement
    sent.append(case)


def manual_form_sends(case):
    sample = node.send_output_raw(OUT, SIZE)
    view = sample.as_memoryview()
    array = np.asarray(view, dtype=np.uint8)
    array[:] = case
    del array
    view.release()
    sample.send()
    sent.append(case)


def send_refuses_while_a_view_is_open(case):
    sample = node.send_output_raw(OUT, SIZE)
    view = sample.as_memoryview()
    fill(view, case)
    error = expect(RuntimeError, sample.send, "send() with an open view")
    assert "still open" in str(error) and "view" in str(error), error
    view.release()
    sample.send()  # the refusal changed nothing
    sent.append(case)


def a_kept_buffer_refuses_views_after_send(case):
    sample = node.send_output_raw(OUT, SIZE)
    buffer = sample.as_buffer()
    fill(buffer, case)
    sample.send()
    sent.append(case)
    expect(BufferError, lambda: memoryview(buffer), "a view after send()")


def a_second_send_is_an_error(case):
    sample = node.send_output_raw(OUT, SIZE)
    fill(sample.as_buffer(), case)
    sample.send()
    sent.append(case)
    error = expect(RuntimeError, sample.send, "a second send()")
    assert "already" in str(error) and "sent" in str(error), error


def as_buffer_is_cached(case):
    sample = node.send_output_raw(OUT, SIZE)
    assert sample.as_buffer() is sample.as_buffer()
    fill(sample.as_buffer(), case)
    sample.send()
    sent.append(case)


def as_memoryview_is_cached_and_one_release_is_enough(case):
    sample = node.send_output_raw(OUT, SIZE)
    first, second = sample.as_memoryview(), sample.as_memoryview()
    assert first is second
    fill(first, case)
    first.release()
    sample.send()
    sent.append(case)


def access_after_send_is_a_runtime_error(case):
    sample = node.send_output_raw(OUT, SIZE)
    fill(sample.as_buffer(), case)
    sample.send()
    sent.append(case)
    expect(RuntimeError, sample.as_memoryview, "as_memoryview() after send()")
    expect(RuntimeError, sample.as_buffer, "as_buffer() after send()")


def a_buffer_outliving_its_dropped_handler_refuses_views(case):
    sample = node.send_output_raw(OUT, SIZE)
    buffer = sample.as_buffer()
    fill(buffer, case)
    del sample  # dropped unsent: nothing goes out
    expect(BufferError, lambda: memoryview(buffer), "a view after the handler was dropped")


def a_with_block_that_raises_does_not_send(case):
    sample = node.send_output_raw(OUT, SIZE)
    boom = ValueError("boom")
    try:
        with sample as buffer:
            fill(buffer, 99)  # a partial write that must never arrive
            raise boom
    except ValueError as exc:
        assert exc is boom
    fill(sample.as_buffer(), case)
    sample.send()  # still sendable: the with block did not send it
    sent.append(case)


def a_with_block_leaking_a_view_refuses_to_send(case):
    sample = node.send_output_raw(OUT, SIZE)

    def leak():
        with sample as buffer:
            leak.array = np.asarray(buffer, dtype=np.uint8)
            leak.array[:] = case

    error = expect(RuntimeError, leak, "leaving a with block with a view alive")
    assert "still open" in str(error), error
    del leak.array
    sample.send()
    sent.append(case)


def a_big_sample(case):
    sample = node.send_output_raw(OUT, 1 << 20, metadata={"big": True})
    fill(sample.as_buffer(), case)
    sample.send()
    sent.append(case)


CASES = [with_block_sends, manual_form_sends, send_refuses_while_a_view_is_open,
         a_kept_buffer_refuses_views_after_send, a_second_send_is_an_error,
         as_buffer_is_cached, as_memoryview_is_cached_and_one_release_is_enough,
         access_after_send_is_a_runtime_error,
         a_buffer_outliving_its_dropped_handler_refuses_views,
         a_with_block_that_raises_does_not_send, a_with_block_leaking_a_view_refuses_to_send]
if args.big:
    CASES.append(a_big_sample)
failures = 0
for number, case in enumerate(CASES, start=1):
    try:
        case(number)
    except Exception:
        failures += 1
        print(f"FAIL {number} {case.__name__}: {traceback.format_exc(limit=3)}", flush=True)
    else:
        print(f"PASS {number} {case.__name__}", flush=True)
print(f"SENT {sent}", flush=True)
sys.exit(1 if failures else 0)
