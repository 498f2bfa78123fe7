"""What a consumer sees when its producer restarts, and what is counted when a consumer
restarts under backpressure: the delivery guarantee, on real processes.

The producer stamps every message (stamp.py: pid, restart count, sequence number, CRC);
the consumer reports what it got as `RUN pid restart first last count` stretches and
`RESTARTED node` events, in the order it got them. The books must balance: every message
a producer sent was taken by an incarnation of its consumer or is counted in a
`messages_lost` record."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(90)

# What a consumer restart may cost: what it held, what was on its way to it or sent while
# it restarted, a few messages while zenoh settles the route to its new subscriber, and,
# when its producer finished first, the rest.
RESTART_LOSSES = {"consumer_stopped", "consumer_restarted", "gap", "undelivered"}


def outline(run, node: str = "consumer") -> list[tuple]:
    """The consumer's story: ("RUN", pid, restart, first, last, count) and
    ("RESTARTED", node) in order; nothing else it printed but BAD lines."""
    story = []
    for line in run.lines(node):
        word, *rest = line.split()
        if word == "RUN":
            story.append(("RUN", *map(int, rest)))
        elif word in ("RESTARTED", "BAD"):
            story.append((word, *rest))
    return story


def sent(run, node: str = "producer") -> dict[int, int]:
    """restart count -> messages sent by that incarnation (its `SENT` line)."""
    return {int(line.split()[2]): int(line.split()[3]) for line in run.lines(node)
            if line.startswith("SENT")}


def lost(run) -> list[tuple[str, int]]:
    return [(r["reason"], r["count"]) for r in run.events("messages_lost")]


def test_node_restarted_stands_between_two_incarnations_never_inside_one(dora_run, dataflow):
    """It used to come as soon as the supervisor said so, ahead of the old incarnation's
    messages still in the consumer's channel: `RUN 0..74, RESTARTED, RUN 75..299`."""
    run = dora_run(dataflow("""
        nodes:
          - id: producer
            path: {nodes}/seq_source.py
            args: --crash-after 200 --crash-times 2 --count 500
            outputs: [out]
            restart: {policy: transient, backoff: {initial: 50ms, jitter: 0}}
          - id: consumer
            path: {nodes}/seq_sink.py
            args: --delay 0.002
            inputs: {in: producer/out}
    """))
    assert run.wait(60) == 0, run.text()[-3000:]
    story, counts = outline(run), sent(run)
    assert counts == {0: 200, 1: 200, 2: 500}
    # Incarnation r's messages come after exactly r NODE_RESTARTED, in one stretch from
    # its first message (a crash may lose its tail, even all of it, never the middle).
    restarts, runs = 0, {}
    for entry in story:
        if entry[0] == "RESTARTED":
            restarts += 1
        else:
            _, _, restart, first, last, count = entry
            assert restart == restarts and restart not in runs, story
            assert first == 0 and count == last + 1, story
            runs[restart] = count
    assert restarts == 2 and runs[2] == 500, story  # the last one ended gracefully
    # What the crashed incarnations sent and the consumer never got is counted, exactly.
    assert {reason for reason, _ in lost(run)} <= {"producer_restarted"}
    assert sum(count for _, count in lost(run)) == 400 - runs.get(0, 0) - runs.get(1, 0)


def balanced(run) -> tuple[int, int, list]:
    """(sent, taken + lost, the loss records): the books of one producer -> consumer edge."""
    taken = sum(entry[5] for entry in outline(run) if entry[0] == "RUN")
    losses = lost(run)
    return sum(sent(run).values()), taken + sum(count for _, count in losses), losses


def test_a_consumer_crashing_under_backpressure_loses_nothing_uncounted(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - id: producer
            path: {nodes}/seq_source.py
            args: --count 1500 --size 4096
            inputs: {tick: dora/timer/millis/1}
            outputs: [out]
          - id: consumer
            path: {nodes}/seq_sink.py
            args: --delay 0.002 --crash-after 200 --crash-times 2
            inputs: {in: producer/out}
            restart: {policy: transient, backoff: {initial: 50ms, jitter: 0}}
            shutdown: 20s  # time to drain to the end, so it reports all it took
    """))
    assert run.wait(60) == 0, run.text()[-3000:]
    assert sum(line == "CRASH" for line in run.lines("consumer")) == 2
    total, accounted, losses = balanced(run)
    assert total == 1500 and accounted == total, losses
    # Each crash lost what was on its way to the consumer (its one input is read straight
    # from zenoh's channel, so nothing was queued past it) and what was sent while it
    # restarted, counted when the next incarnation gets its first message.
    assert {reason for reason, _ in losses} <= RESTART_LOSSES
    assert sum(reason == "consumer_restarted" for reason, _ in losses) >= 2, losses


def test_a_consumer_stopped_by_its_supervisor_counts_every_message_it_did_not_take(
        dora_run, dataflow):
    """A graceful path: one_for_all stops the consumer (STOP, then it exits by itself)
    while its producer runs on; it used to drop what came after STOP without a word."""
    run = dora_run(dataflow("""
        groups:
          - {id: pair, strategy: one_for_all, members: [consumer, trigger]}
        nodes:
          - id: producer
            path: {nodes}/seq_source.py
            args: --count 1500 --size 4096
            inputs: {tick: dora/timer/millis/1}
            outputs: [out]
          - id: consumer
            path: {nodes}/seq_sink.py
            args: --delay 0.002
            inputs: {in: producer/out}
            restart: {policy: transient, backoff: {initial: 50ms, jitter: 0}}
            shutdown: 20s
          - id: trigger
            path: {nodes}/worker.py
            args: --crash-after 1.0 --crash-times 1 --exit-after 0.1  # the consumer is up
            restart: {policy: transient, backoff: {initial: 50ms, jitter: 0}}
    """))
    assert run.wait(60) == 0, run.text()[-3000:]
    stopped = [r for r in run.events("node_exited", "consumer") if r["reason"] == "sibling"]
    assert len(stopped) == 1 and stopped[0]["code"] == 0  # it stopped gracefully
    total, accounted, losses = balanced(run)
    assert total == 1500 and accounted == total, losses
    assert {reason for reason, _ in losses} <= RESTART_LOSSES
    assert any(reason == "consumer_stopped" for reason, _ in losses), losses
