"""Logs as data in the contract: levels, the `dora/logs` inputs, the routed record, its keys."""

from __future__ import annotations

import json

import pytest

from dora_api import contract
from dora_api.contract import ContractError, LogFilter, LogMessage, Namespace


@pytest.mark.parametrize("name, level", [
    ("WARNING", "warn"), ("warn", "warn"), ("CRITICAL", "error"), ("error", "error"),
    ("Info", "info"), ("debug", "debug"), ("trace", "trace"), ("stdout", "stdout"),
    ("NOTSET", "trace"), ("fatal", "error"),
])
def test_python_and_dora_level_names_map_to_dora_levels(name, level):
    assert contract.dora_level(name) == level


def test_an_unknown_level_name_is_a_contract_error():
    with pytest.raises(ContractError, match="unknown log level 'loud'"):
        contract.dora_level("loud")


@pytest.mark.parametrize("level, minimum, ok", [
    ("stdout", "stdout", True), ("stdout", "trace", False), ("info", "stdout", True),
    ("debug", "info", False), ("error", "info", True), ("info", "info", True),
    ("warn", "error", False), ("error", "error", True), ("trace", "debug", False),
])
def test_a_filter_passes_its_level_and_above(level, minimum, ok):
    assert contract.passes(level, minimum) is ok


@pytest.mark.parametrize("source, parsed", [
    ("dora/logs", LogFilter()),
    ("dora/logs/error", LogFilter("error")),
    ("dora/logs/info/sensor", LogFilter("info", "sensor")),
    ("dora/logs/stdout/pipeline.doubler", LogFilter("stdout", "pipeline.doubler")),
    ("dora/timer/secs/1", None), ("sensor/logs", None), ("dora/logsx", None),
])
def test_log_sources(source, parsed):
    assert contract.parse_log_source(source) == parsed


@pytest.mark.parametrize("source, message", [
    ("dora/logs/loud", "unknown level 'loud'"),
    ("dora/logs/", "expected dora/logs, dora/logs/<level> or"),
    ("dora/logs/info/a/b", "expected dora/logs, dora/logs/<level> or"),
    ("dora/logs//a", "expected dora/logs"),
])
def test_malformed_log_sources_are_contract_errors(source, message):
    with pytest.raises(ContractError, match=message):
        contract.parse_log_source(source)


def test_a_log_input_subscribes_to_the_levels_it_passes_of_its_node():
    ns = Namespace("lab", "u")
    assert ns.log_subscriptions(LogFilter("warn", "cam")) == [
        "lab/dora/u/dora/logs/warn/cam", "lab/dora/u/dora/logs/error/cam"]
    assert ns.log_subscriptions(LogFilter()) == [
        f"lab/dora/u/dora/logs/{level}/*" for level in contract.LEVELS]


def test_log_messages_round_trip_with_the_dora_rs_field_names():
    message = LogMessage("warn", "hot: 30C", "sensor", "2024-01-01T00:00:00.000000+00:00",
                         "sensor.py", {"k": 1}, "u")
    text = contract.encode_log_message(message)
    fields = json.loads(text)
    assert {"level", "message", "node_id", "timestamp", "target", "logger", "fields"} <= set(fields)
    assert fields["logger"] == fields["target"] == "sensor.py"
    assert contract.decode_log_message(text) == message
    assert contract.decode_log_message(text.encode()) == message


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"level": "info", "message": "m"}',
                                  '{"level": 1, "message": "m", "node_id": "n", "timestamp": "t"}'])
def test_malformed_log_messages_are_contract_errors(text):
    with pytest.raises(ContractError):
        contract.decode_log_message(text)
