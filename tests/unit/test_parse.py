"""YAML text -> the descriptor model: both spellings, dora-rs keys, defaults, problems."""

from __future__ import annotations

import posixpath
import textwrap

import attrs
import pytest

from dora_supervisor.descriptor import (
    BRUTAL_KILL,
    Backoff,
    CpuMode,
    Dataflow,
    Health,
    Limits,
    RestartSpec,
    SupervisionFlags,
    parse_timer,
)
from dora_supervisor.errors import Problem
from dora_supervisor.parse import parse
from dora_supervisor.validate import check_references, resolve_command
from dora_supervisor.yamlsrc import load_yaml

BASE = "/flows"


def parse_text(text: str) -> tuple[Dataflow | None, list[Problem]]:
    data, lines, duplicates = load_yaml(textwrap.dedent(text))
    assert not duplicates
    return parse(data, lines, "t.yml", BASE)


def model(text: str) -> Dataflow:
    """The model of `text`, which must have no errors (warnings are fine)."""
    dataflow, problems = parse_text(text)
    errors = [str(p) for p in problems if not p.warning]
    assert not errors
    assert dataflow is not None
    return dataflow


def errors(text: str) -> list[str]:
    """The error lines of `text`, in file order (as `dora check` prints them)."""
    problems = sorted(parse_text(text)[1], key=lambda p: (p.line, p.path))
    return [str(p) for p in problems if not p.warning]


def warnings(text: str) -> list[str]:
    problems = sorted(parse_text(text)[1], key=lambda p: (p.line, p.path))
    return [str(p) for p in problems if p.warning]


def node(text: str, index: int = 0):
    return model(text).nodes[index]


def comparable(df: Dataflow) -> Dataflow:
    """The dataflow without source line numbers, which differ between two files."""
    return attrs.evolve(df, nodes=tuple(attrs.evolve(n, line=0) for n in df.nodes),
                        groups=tuple(attrs.evolve(g, line=0) for g in df.groups))


MINI_ORIGINAL = """
    communication:
      zenoh:
        prefix: /foo
    nodes:
      - id: timer
        custom:
          source: timer.py
          args: --count 100
          outputs:
            - time
      - id: rate-limited-timer
        custom:
          source: rate_limited_timer.py
          args: --seconds 0.1
          inputs:
            time: timer/time
          outputs:
            - rate-limited
      - id: random
        custom:
          source: random_node.py
          inputs:
            time: rate-limited-timer/rate-limited
          outputs:
            - number
      - id: logger
        custom:
          source: logger.py
          inputs:
            random: random/number
            time: timer/time
"""

MINI_1X = """
    communication:
      zenoh:
        prefix: /foo
    nodes:
      - id: timer
        path: timer.py
        args: --count 100
        outputs: [time]
      - id: rate-limited-timer
        path: rate_limited_timer.py
        args: --seconds 0.1
        inputs:
          time: timer/time
        outputs: [rate-limited]
      - id: random
        path: random_node.py
        inputs:
          time: rate-limited-timer/rate-limited
        outputs: [number]
      - id: logger
        path: logger.py
        inputs:
          random: random/number
          time: timer/time
"""

MINI_RUN = """
    nodes:
      - id: timer
        custom:
          run: python timer.py --count 100
          outputs: [time]
      - id: logger
        custom:
          run: python logger.py
          inputs:
            time: timer/time
"""

MINI_RUN_1X = """
    nodes:
      - id: timer
        path: timer.py
        args: [--count, "100"]
        outputs: [time]
      - id: logger
        path: logger.py
        inputs:
          time: timer/time
"""


# -- both spellings ----------------------------------------------------------------------------


def test_original_and_1x_spellings_of_the_mini_dataflow_give_the_same_model():
    original, new = model(MINI_ORIGINAL), model(MINI_1X)
    assert comparable(original) == comparable(new)
    assert original.prefix == "foo"
    assert [n.id for n in new.nodes] == ["timer", "rate-limited-timer", "random", "logger"]
    assert new.node("timer").args == ("--count", "100")
    assert new.node("logger").inputs[0].source == "random/number"


def test_custom_run_with_python_starts_the_same_command_as_a_py_path():
    run, path = model(MINI_RUN), model(MINI_RUN_1X)
    for a, b in zip(run.nodes, path.nodes, strict=True):
        # `run` is relative to the working directory, which defaults to the descriptor's
        # folder; a `path` is resolved against that folder up front.
        assert a.working_dir is None
        python, unbuffered, script, *args = resolve_command(a, BASE, "/venv/python")
        assert [python, unbuffered, posixpath.join(BASE, script), *args] == resolve_command(
            b, BASE, "/venv/python")
        assert (a.inputs, a.outputs) == (b.inputs, b.outputs)
    assert resolve_command(path.nodes[0], BASE, "/venv/python") == [
        "/venv/python", "-u", "/flows/timer.py", "--count", "100"]


def test_line_numbers_locate_nodes_but_do_not_affect_equality():
    df = model(MINI_1X)
    assert [n.line for n in df.nodes] == [6, 10, 16, 21]


# -- dora-rs fault-tolerance keys ----------------------------------------------------------------


@pytest.mark.parametrize("policy, expected", [
    ("never", "temporary"), ("on-failure", "transient"), ("always", "permanent"),
    ("temporary", "temporary"), ("transient", "transient"), ("permanent", "permanent"),
])
def test_restart_policy_aliases_map_onto_otp_restart_types(policy: str, expected: str):
    flat = node(f"""
        nodes:
          - id: a
            path: a.py
            restart_policy: {policy}
    """)
    nested = node(f"""
        nodes:
          - id: a
            path: a.py
            restart:
              policy: {policy}
    """)
    assert flat.restart.policy == nested.restart.policy == expected


def test_dora_rs_fault_tolerance_keys_map_onto_the_child_spec():
    spec = node("""
        nodes:
          - id: a
            path: a.py
            restart_policy: on-failure
            max_restarts: 4
            restart_delay: 0.5
            max_restart_delay: 30
            restart_window: 60
            health_check_timeout: 3
            finish_grace_secs: 12
    """)
    assert spec.restart == RestartSpec(policy="transient",
                                       backoff=Backoff(initial=0.5, max=30.0),
                                       max_restarts=4, window=60.0)
    assert spec.health.lease == 3.0
    assert spec.shutdown == 12.0


def test_dora_rs_keys_and_nested_keys_give_the_same_model():
    flat = node("""
        nodes:
          - id: a
            path: a.py
            restart_policy: always
            max_restarts: 4
            restart_delay: 500ms
            max_restart_delay: 30s
            restart_window: 1m
            health_check_timeout: 3s
            finish_grace_secs: 12s
    """)
    nested = node("""
        nodes:
          - id: a
            path: a.py
            restart:
              policy: permanent
              backoff: {initial: 500ms, max: 30s}
              max_restarts: 4
              window: 1m
            health:
              lease: 3s
            shutdown: 12s
    """)
    assert attrs.evolve(flat, line=0) == attrs.evolve(nested, line=0)


def test_dora_rs_max_restarts_zero_means_unlimited():
    assert node("""
        nodes:
          - {id: a, path: a.py, max_restarts: 0}
    """).restart.max_restarts is None


def test_a_long_restart_delay_alone_raises_the_default_backoff_cap():
    spec = node("""
        nodes:
          - {id: a, path: a.py, restart_policy: always, restart_delay: 20}
    """)
    assert spec.restart.backoff.initial == 20.0
    assert spec.restart.backoff.max == 20.0


def test_backoff_cap_below_the_initial_delay_is_an_error_at_the_cap():
    assert errors("""
        nodes:
          - id: a
            path: a.py
            restart_delay: 10
            max_restart_delay: 1
    """) == ["t.yml:6: nodes[0].max_restart_delay: the maximum delay is smaller than the "
             "initial one"]


@pytest.mark.parametrize("flat, nested", [
    ("restart_policy: always", "restart: {policy: permanent}"),
    ("restart_delay: 1", "restart: {backoff: {initial: 1s}}"),
    ("max_restart_delay: 1", "restart: {backoff: {max: 1s}}"),
    ("max_restarts: 1", "restart: {max_restarts: 1}"),
    ("restart_window: 1", "restart: {window: 1s}"),
    ("health_check_timeout: 1", "health: {lease: 1s}"),
    ("finish_grace_secs: 1", "shutdown: 1s"),
])
def test_giving_both_spellings_of_one_setting_is_an_error(flat: str, nested: str):
    problems = errors(f"""
        nodes:
          - id: a
            path: a.py
            {nested}
            {flat}
    """)
    assert len(problems) == 1
    assert problems[0].startswith(f"t.yml:6: nodes[0].{flat.split(':')[0]}: ")
    assert "mean the same; give only one" in problems[0]


def test_errors_in_dora_rs_keys_point_at_those_keys():
    assert errors("""
        nodes:
          - id: a
            path: a.py
            restart_delay: soon
            health_check_timeout: 0
            restart_window: later
    """) == [
        "t.yml:5: nodes[0].restart_delay: invalid duration 'soon' (expected e.g. 250ms, "
        "1.5s, 5m)",
        "t.yml:6: nodes[0].health_check_timeout: expected a positive duration, got 0",
        "t.yml:7: nodes[0].restart_window: invalid duration 'later' (expected e.g. 250ms, "
        "1.5s, 5m)",
    ]


# -- shutdown, defaults ------------------------------------------------------------------------


def test_brutal_kill_is_a_zero_grace():
    spec = node("""
        nodes:
          - {id: a, path: a.py, shutdown: brutal_kill}
    """)
    assert spec.shutdown == BRUTAL_KILL == 0.0


def test_defaults_follow_the_spec():
    df = model("""
        groups:
          - {id: g, members: [a]}
        nodes:
          - {id: a, path: a.py}
    """)
    spec = df.nodes[0]
    assert spec.restart == RestartSpec(policy="transient", backoff=Backoff(
        initial=0.1, max=10.0, multiplier=2.0, jitter=0.1), max_restarts=None, window=None)
    assert spec.shutdown == 5.0
    assert spec.health == Health(lease=2.0, watchdog=None)
    assert spec.limits == Limits()
    assert spec.significant is None
    assert spec.machine is None
    assert df.supervision == SupervisionFlags(strategy="one_for_one", max_restarts=3,
                                              max_seconds=5.0, auto_shutdown="all_significant")
    assert df.groups[0].flags.auto_shutdown == "never"
    assert df.prefix == ""


def test_supervision_limits_and_health_sections():
    df = model("""
        supervision: {strategy: rest_for_one, max_restarts: 7, max_seconds: 1m,
                      auto_shutdown: any_significant}
        nodes:
          - id: a
            path: a.py
            limits: {memory: 256MiB, cpu: 80%, cpu_time: 10m, open_files: 1024}
            health: {lease: 1s, watchdog: 5s}
            deploy: {machine: robot-a}
    """)
    assert df.supervision == SupervisionFlags("rest_for_one", 7, 60.0, "any_significant")
    spec = df.nodes[0]
    assert spec.limits == Limits(memory=256 * 2**20, cpu=80.0, cpu_time=600.0,
                                 open_files=1024)
    assert spec.health == Health(lease=1.0, watchdog=5.0)
    assert spec.machine == "robot-a"


def test_cpu_mode_defaults_to_kill_and_takes_throttle():
    df = model("""
        nodes:
          - {id: a, path: a.py, limits: {cpu: 30%}}
          - {id: b, path: a.py, limits: {cpu: 30%, cpu_mode: throttle}}
    """)
    assert [n.limits.cpu_mode for n in df.nodes] == [CpuMode.KILL, CpuMode.THROTTLE]


# -- inputs ------------------------------------------------------------------------------------


def test_queue_size_alone_implies_drop_oldest():
    inputs = node("""
        nodes:
          - id: a
            path: a.py
            inputs:
              short: x/out
              newest: {source: x/out, queue_size: 1}
              kept: {source: x/out, queue_size: 5, queue_policy: backpressure}
              long: {source: x/out}
    """).inputs
    by_id = {i.id: i for i in inputs}
    assert (by_id["short"].queue_size, by_id["short"].queue_policy) == (None, "backpressure")
    assert (by_id["newest"].queue_size, by_id["newest"].queue_policy) == (1, "drop_oldest")
    assert (by_id["kept"].queue_size, by_id["kept"].queue_policy) == (5, "backpressure")
    assert (by_id["long"].queue_size, by_id["long"].queue_policy) == (None, "backpressure")


def test_input_timeout_is_accepted_with_a_warning():
    text = """
        nodes:
          - id: a
            path: a.py
            inputs:
              x: {source: dora/timer/secs/1, input_timeout: 5}
    """
    assert node(text).inputs[0].input_timeout == 5.0
    assert warnings(text) == ["t.yml:6: warning: nodes[0].inputs.x.input_timeout: "
                              "'input_timeout' is accepted but has no effect here"]


@pytest.mark.parametrize("source, interval", [
    ("dora/timer/secs/2", 2.0), ("dora/timer/millis/100", 0.1), ("dora/timer/micros/50", 5e-5),
    ("dora/timer/nanos/10", 1e-8), ("dora/timer/hz/4", 0.25), ("dora/timer/hz/2.5", 0.4),
])
def test_timers(source: str, interval: float):
    spec = node(f"""
        nodes:
          - {{id: a, path: a.py, inputs: {{tick: {source}}}}}
    """)
    assert spec.inputs[0].is_timer
    assert spec.inputs[0].timer_interval == pytest.approx(interval)
    assert parse_timer(source) == pytest.approx(interval)
    assert spec.is_source


@pytest.mark.parametrize("source, message", [
    ("dora/timer/millis/abc", "'abc' is not a whole number"),
    ("dora/timer/hz/0", "the frequency must be a positive, finite number"),
    ("dora/timer/hz/inf", "the frequency must be a positive, finite number"),
    ("dora/timer/hz/nan", "the frequency must be a positive, finite number"),
    ("dora/timer/secs/0", "the interval must be a positive, finite number"),
    ("dora/timer/minutes/1", "expected dora/timer/"),
])
def test_malformed_timers_are_errors(source: str, message: str):
    problems = errors(f"""
        nodes:
          - {{id: a, path: a.py, inputs: {{tick: {source}}}}}
    """)
    assert len(problems) == 1 and message in problems[0]


# -- operators ---------------------------------------------------------------------------------


def test_operators_produce_operator_qualified_outputs_and_inputs():
    spec = node("""
        nodes:
          - id: runtime
            operators:
              - id: op-c
                shared-library: c/operator.so
                inputs: {time: timer/time}
                outputs: [counter]
              - id: op-py
                python: py/op.py
                inputs: {time: timer/time, counter: runtime/op-c/counter}
                outputs: [status]
    """)
    assert spec.outputs == ("op-c/counter", "op-py/status")
    assert [i.id for i in spec.inputs] == ["op-c/time", "op-py/time", "op-py/counter"]
    assert [(op.id, op.kind, op.path) for op in spec.operators] == [
        ("op-c", "shared-library", "c/operator.so"), ("op-py", "python", "py/op.py")]
    assert spec.operators[1].outputs == ("status",)


def test_a_single_operator_takes_the_node_id():
    spec = node("""
        nodes:
          - id: runtime
            operator:
              python: {source: op.py}
              outputs: [status]
    """)
    assert spec.operators[0].id == "runtime"
    assert spec.outputs == ("runtime/status",)


def test_an_operator_with_both_python_and_shared_library_is_an_error():
    assert errors("""
        nodes:
          - id: runtime
            operators:
              - id: op
                python: op.py
                shared-library: op.so
    """) == ["t.yml:7: nodes[0].operators[0].shared-library: operator 'op' has both "
             "'python' and 'shared-library'; give only one"]


# -- environment and arguments -------------------------------------------------------------------


def test_global_env_is_merged_under_the_node_env():
    spec = node("""
        env: {A: global, B: global}
        nodes:
          - id: a
            path: a.py
            env: {B: node, C: 3, D: true}
    """)
    assert spec.env == {"A": "global", "B": "node", "C": "3", "D": "true"}


def test_args_are_split_like_a_shell_or_taken_as_a_list():
    assert node("""
        nodes:
          - {id: a, path: a.py, args: "--name 'two words' -v"}
    """).args == ("--name", "two words", "-v")
    assert node("""
        nodes:
          - {id: a, path: a.py, args: [--count, 3]}
    """).args == ("--count", "3")


# -- problems --------------------------------------------------------------------------------


def test_unknown_keys_are_errors_with_a_did_you_mean():
    assert errors("""
        nodes:
          - id: a
            path: a.py
            ouputs: [x]
    """) == ["t.yml:5: nodes[0].ouputs: unknown key 'ouputs' (did you mean 'outputs'?)"]


def test_dora_rs_keys_without_effect_are_warnings():
    text = """
        nodes:
          - id: a
            path: a.py
            cpu_affinity: [0]
            output_types: {x: std/core/v1/String}
            outputs: [x]
    """
    assert not errors(text)
    assert warnings(text) == [
        "t.yml:5: warning: nodes[0].cpu_affinity: 'cpu_affinity' is accepted but has no "
        "effect here",
        "t.yml:6: warning: nodes[0].output_types: 'output_types' is accepted but has no "
        "effect here",
    ]


def test_build_steps_are_one_command_per_line():
    assert node("""
        nodes:
          - id: a
            path: a.py
            build: |
              make -C lib
              pip install -e .
    """).build == ("make -C lib", "pip install -e .")
    assert node("nodes:\n  - {id: a, path: a.py, build: [make, make install]}").build == \
        ("make", "make install")
    assert "expected a command" in errors("nodes:\n  - {id: a, path: a.py, build: 5}")[0]


@pytest.mark.parametrize("text, message", [
    ("nodes: []", "the dataflow needs a non-empty 'nodes' list"),
    ("nodes:\n  - {id: a}", "node 'a' has nothing to run"),
    ("nodes:\n  - {id: a, path: a.py, operator: {python: o.py}}",
     "node 'a' has both 'path' and 'operator'"),
    ("nodes:\n  - {id: dora, path: a.py}", "missing or invalid node id 'dora'"),
    ("nodes:\n  - {id: a, path: 5}", "nodes[0].path: expected a non-empty string"),
    ("nodes:\n  - {id: a, path: a.py, significant: maybe}", "expected true or false"),
    ("nodes:\n  - {id: a, path: a.py, restart: {policy: sometimes}}", "unknown value"),
    ("nodes:\n  - {id: a, path: a.py, limits: {memory: 256 megs}}", "invalid size"),
    ("nodes:\n  - {id: a, path: a.py, limits: {cpu_mode: throtle}}",
     "nodes[0].limits.cpu_mode: unknown value 'throtle'; expected one of kill, throttle "
     "(did you mean 'throttle'?)"),
    ("supervision: {strategy: one_for_none}\nnodes:\n  - {id: a, path: a.py}",
     "did you mean 'one_for_one'?"),
])
def test_problems_are_reported_not_raised(text: str, message: str):
    problems = errors(text)
    assert problems
    assert any(message in p for p in problems), problems


def test_significant_on_a_permanent_node_is_rejected_by_the_reference_check():
    data, lines, _ = load_yaml(textwrap.dedent("""
        nodes:
          - {id: a, path: a.py, restart_policy: always, significant: true}
    """))
    dataflow, problems = parse(data, lines, "t.yml", BASE)
    assert not problems
    assert [p.message for p in check_references(dataflow, lines)] == [
        "a permanent node cannot be significant (it never finishes by itself)"]


def test_a_document_that_is_not_a_mapping_gives_no_model():
    dataflow, problems = parse_text("- just\n- a list\n")
    assert dataflow is None
    assert [p.message for p in problems] == ["the descriptor must be a mapping with a "
                                             "'nodes' list"]


def test_env_values_may_name_a_host_variable_as_in_dora_rs():
    env = node("""
        nodes:
          - id: a
            path: a.py
            env: {TOKEN: {__dora_env: HOST_TOKEN}, GREETING: "hi $USER", N: 3, FLAG: true}
    """).env
    assert env == {"TOKEN": "${HOST_TOKEN}", "GREETING": "hi $USER", "N": "3", "FLAG": "true"}
    assert "expected a string, number, boolean" in errors(
        "nodes:\n  - {id: a, path: a.py, env: {X: {other: 1}}}")[0]
