"""The delivery part of the contract: position stamps, moved notes, the restart message's
counts and the ledger file, which must survive the SIGKILL of the process writing it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dora_api import contract
from dora_api.contract import (
    ContractError,
    InputTally,
    LedgerLayout,
    MovedNote,
    Position,
    RestartedMessage,
)
from dora_api.ledger import Tally

positions = st.builds(Position, st.integers(1, 2**24 - 1), st.integers(0, 2**40 - 1))


@given(positions | st.builds(Position, st.just(contract.KIND_FLUSH), st.integers(0, 9)),
       st.sampled_from([None, bytes((contract.KIND_ARROW, 0)),
                        contract.encode_attachment(contract.KIND_BYTES, {"k": "v"}),
                        contract.encode_attachment(contract.KIND_ARROW, {"\u00d5": 1}),
                        contract.encode_attachment(contract.KIND_LAYOUT, None, b"\xd5" * 9)]))
def test_a_stamp_rides_at_the_end_of_any_attachment_and_comes_off_whole(position, attachment):
    stamped = contract.stamp_attachment(attachment, position)
    assert contract.split_stamp(stamped) == (position, attachment or b"b")
    kind, metadata, _ = contract.decode_attachment(contract.split_stamp(stamped)[1])
    assert (kind, metadata) == contract.decode_attachment(attachment)[:2]


def test_a_stamped_message_is_never_taken_for_an_end_of_stream_marker():
    """Plain bytes used to have no attachment; stamped, the first byte was the low byte
    of the incarnation: incarnation 70 ('F') would have made every message a marker."""
    stamped = contract.stamp_attachment(None, Position(contract.KIND_FLUSH, 0))
    assert not contract.is_flush_marker(stamped)


@pytest.mark.parametrize("attachment", [b"", b"a", b'b{"k":"v"}', b"x" * 12 + b"\xd4"])
def test_an_attachment_without_a_stamp_is_left_as_it_is(attachment):
    assert contract.split_stamp(attachment) == (None, attachment)


@given(st.integers(0, 2**40), st.sampled_from(["in", "op/x", "a.b-c"]),
       st.none() | positions, positions)
def test_moved_notes_round_trip_as_one_line(incarnation, input_id, expected, came):
    note = MovedNote(incarnation, input_id, expected, came)
    line = contract.encode_note(note)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert contract.decode_note(line) == note


@pytest.mark.parametrize("line", ["M", "M 1 in - ", "M 1 in 1:2", "M x in - 1:2",
                                  "M 1 in 1-2 1:2", "M 1 in - 1:", "M 1 in - 1:2 3:4"])
def test_malformed_moved_notes_are_contract_errors(line):
    with pytest.raises(ContractError):
        contract.decode_note(line)


def test_an_input_id_with_a_space_cannot_be_put_in_a_note():
    with pytest.raises(ValueError):
        contract.encode_note(MovedNote(1, "a b", None, Position(1, 0)))


@pytest.mark.parametrize("message", [RestartedMessage("p"), RestartedMessage("p", 3, {}),
                                     RestartedMessage("p", 3, {"out": 7, "op/x": 0})])
def test_restart_messages_round_trip_with_what_the_ended_incarnation_sent(message):
    assert contract.decode_control(contract.encode_control(message)) == message


@pytest.mark.parametrize("payload", [
    b'{"t": "restarted", "node": "p", "ended": -1}',
    b'{"t": "restarted", "node": "p", "ended": true}',
    b'{"t": "restarted", "node": "p", "ended": 1, "sent": []}',
    b'{"t": "restarted", "node": "p", "ended": 1, "sent": {"out": -2}}',
    b'{"t": "restarted", "node": "p", "ended": 1, "sent": {"out": "7"}}',
])
def test_restart_messages_with_bad_counts_are_contract_errors(payload):
    with pytest.raises(ContractError):
        contract.decode_control(payload)


def test_a_new_ledger_has_every_count_at_zero():
    layout = LedgerLayout(["out", "op/x"], ["in"])
    ledger = contract.read_ledger(layout.initial(5))
    assert ledger.incarnation == 5 and ledger.sent == {"out": 0, "op/x": 0}
    assert ledger.inputs == {"in": InputTally(None, 0, 0, 0)}
    assert ledger.inputs["in"].unread == 0


@pytest.mark.parametrize("data", [b"", b"DLG1", b"XXXX" + bytes(12),
                                  LedgerLayout(["o"], []).initial(1)[:-4]])
def test_what_is_not_a_ledger_is_a_contract_error(data):
    with pytest.raises(ContractError):
        contract.read_ledger(data)


def test_the_counts_a_node_writes_survive_its_sigkill(tmp_path):
    path = tmp_path / "ledger"
    code = textwrap.dedent(f"""
        import os, signal
        from dora_api.contract import LedgerLayout, Position
        from dora_api.ledger import Tally
        tally = Tally(LedgerLayout(["out"], ["in"]), 3, {str(path)!r})
        assert [tally.next_seq("out") for _ in range(5)] == [0, 1, 2, 3, 4]
        for seq in range(7):
            tally.received("in", Position(2, seq))
        tally.taken("in"); tally.taken("in"); tally.dropped("in"); tally.taken("tick")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert result.returncode == -signal.SIGKILL, result.stderr
    ledger = contract.read_ledger(path.read_bytes())
    assert ledger.incarnation == 3 and ledger.sent == {"out": 5}
    assert ledger.inputs == {"in": InputTally(Position(2, 7), 7, 2, 1)}
    assert ledger.inputs["in"].unread == 4


def test_without_a_ledger_file_the_counts_still_number_the_messages():
    tally = Tally(LedgerLayout(["out"], []), 1, None)
    assert [tally.next_seq("out"), tally.next_seq("out")] == [0, 1]
