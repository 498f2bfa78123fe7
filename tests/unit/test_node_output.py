"""A node's output lines as records, and the last words a failed run quotes."""

from __future__ import annotations

import json

from dora_api import contract
from dora_supervisor.node_output import LastWords, OutputRecord, Stream, output_record


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
