"""A node's output lines as records, and the last words a failed run quotes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dora_api import contract
from dora_supervisor.node_output import (
    LastWords,
    LineSplitter,
    OutputLine,
    OutputRecord,
    Stream,
    output_record,
    truncation_mark,
)


def structured(**record) -> str:
    line = json.dumps({"dora_log": 1, **record})
    assert line.startswith(contract.LOG_MARK)
    return line


def test_plain_lines_are_node_output_on_either_stream():
    assert output_record(Stream.STDOUT, "hello") == \
        OutputRecord("node_output", "info", {"stream": Stream.STDOUT, "line": "hello"})
    assert output_record(Stream.STDERR, "oops") == \
        OutputRecord("node_output", "info", {"stream": Stream.STDERR, "line": "oops"})


def test_a_structured_stderr_line_is_a_node_log_record_at_its_level():
    line = structured(level="warning", msg="careful", logger="n.x")
    assert output_record(Stream.STDERR, line) == \
        OutputRecord("node_log", "warning", {"msg": "careful", "logger": "n.x"}, "warn")


def test_dora_rs_levels_and_fields_of_node_log_calls_are_kept():
    line = structured(level="trace", msg="fine", logger=None, fields={"k": 1})
    assert output_record(Stream.STDERR, line) == \
        OutputRecord("node_log", "debug", {"msg": "fine", "logger": None, "fields": {"k": 1}},
                     "trace")
    assert output_record(Stream.STDERR, structured(level="warn", msg="w")).level == "warning"
    assert output_record(Stream.STDERR, structured(level="critical", msg="c")).dora_level == \
        "error"
    assert output_record(Stream.STDOUT, "printed").dora_level == "stdout"


def test_an_unknown_level_is_info_and_the_mark_on_stdout_is_plain_output():
    line = structured(level="shout", msg="hey")
    assert output_record(Stream.STDERR, line).level == "info"
    assert output_record(Stream.STDOUT, line).event == "node_output"


def test_a_broken_structured_line_is_plain_output():
    assert output_record(Stream.STDERR, contract.LOG_MARK + " nope").event == "node_output"


def test_last_words_are_the_last_non_empty_stderr_line_or_its_message():
    words = LastWords()
    assert words.of("a") is None
    words.record("a", Stream.STDERR, "  first  ")
    words.record("a", Stream.STDERR, "   ")
    words.record("a", Stream.STDOUT, "not stderr")
    assert words.of("a") == "first"
    words.record("a", Stream.STDERR, structured(level="error", msg="boom"))
    assert words.of("a") == "boom"
    words.record("b", Stream.STDERR, structured(level="error", msg=""))
    assert words.of("b") == structured(level="error", msg="")
    assert dict(words.by_node) == {"a": "boom", "b": structured(level="error", msg="")}


def split(data: bytes, cuts: list[int], max_bytes: int) -> list[OutputLine]:
    """`data` through a splitter, fed in pieces cut at `cuts`."""
    splitter, lines, start = LineSplitter(max_bytes), [], 0
    for cut in sorted(cuts) + [len(data)]:
        lines += splitter.feed(data[start:cut])
        start = max(start, cut)
    return lines + splitter.end()


def test_lines_are_cut_at_newlines_whatever_the_pieces_and_lose_their_cr():
    assert split(b"one\r\ntwo\n\nlast", [2, 5, 9], 64) == [
        OutputLine("one", 3, 3), OutputLine("two", 3, 3), OutputLine("", 0, 0),
        OutputLine("last", 4, 4)]
    assert split(b"", [], 64) == [] and split(b"\n", [], 64) == [OutputLine("", 0, 0)]


def test_a_long_line_keeps_its_first_bytes_and_counts_the_rest():
    [line, after] = split(b"x" * 100 + b"\nafter\n", [30, 70], 64)
    assert line == OutputLine("x" * 64, 100, 64) and line.truncated
    assert line.shown == "x" * 64 + truncation_mark(100, 64)
    assert after.shown == "after" and not after.truncated


def test_a_cut_never_splits_a_character_and_invalid_utf8_is_replaced():
    [cut] = split("ab€€".encode(), [], 6)  # the second euro sign would be split
    assert (cut.text, cut.kept, cut.size) == ("ab€", 5, 8)
    assert split(b"\xff ok\n\xc3\n", [1], 64) == [OutputLine("\ufffd ok", 4, 4),
                                                   OutputLine("\ufffd", 1, 1)]


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=8),
       st.integers(1, 40))
def test_splitting_matches_the_plain_rule_and_holds_at_most_the_longest_line(
        data, cuts, max_bytes):
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    lines = split(data, cuts, max_bytes)
    assert len(lines) == len(raw_lines)
    for line, raw in zip(lines, raw_lines, strict=True):
        if len(raw) <= max_bytes:
            stripped = raw.rstrip(b"\r")
            assert line == OutputLine(stripped.decode("utf-8", "replace"), len(stripped),
                                      len(stripped))
        else:
            assert line.size == len(raw) and max_bytes - 3 <= line.kept <= max_bytes
            assert line.text == raw[:line.kept].decode("utf-8", "replace")
