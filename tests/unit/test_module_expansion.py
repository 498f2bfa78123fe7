"""Modules (dora-rs `module:` nodes) expanded into nodes and a group supervisor: wiring,
interface checks, name collisions, nesting, and errors located in both files."""

from __future__ import annotations

import textwrap

import pytest

from dora_supervisor.descriptor import GroupSpec, NodeSpec, SupervisionFlags
from dora_supervisor.graph import mermaid
from dora_supervisor.parse import parse
from dora_supervisor.tree import Tree
from dora_supervisor.validate import check_references, expand_operator_shorthand
from dora_supervisor.yamlsrc import load_yaml

TRANSFORM = """\
    module:
      name: transform_pipeline
      inputs: [raw_data]
      outputs: [filtered]
    nodes:
      - id: doubler
        path: doubler.py
        inputs:
          data: _mod/raw_data
        outputs: [doubled]
      - id: filter
        path: filter_even.py
        inputs:
          data: doubler/doubled
        outputs: [filtered]
"""
DATAFLOW = """\
    nodes:
      - id: sender
        path: sender.py
        outputs: [value]
      - id: pipeline
        module: modules/transform.yml
        inputs:
          raw_data: sender/value
      - id: receiver
        path: receiver.py
        inputs:
          filtered: pipeline/filtered
"""


def load(files: dict[str, str], top: str = "df.yml"):
    """What `dora check` finds, with module files read from `files`: (dataflow, lines)."""
    texts = {name: textwrap.dedent(text) for name, text in files.items()}

    def read(path: str) -> str:
        if path not in texts:
            raise FileNotFoundError(2, "No such file or directory")
        return texts[path]

    data, lines, _ = load_yaml(texts[top])
    df, problems = parse(data, lines, top, "/flow", read)
    df = expand_operator_shorthand(df)
    problems += check_references(df, lines)
    return df, [str(p) for p in sorted(problems, key=lambda p: p.sort_key) if not p.warning]


def ok(files: dict[str, str]):
    df, problems = load(files)
    assert problems == []
    return df


def node(df, node_id: str) -> NodeSpec:
    return df.node(node_id)


def group(df, group_id: str) -> GroupSpec:
    return next(g for g in df.groups if g.id == group_id)


# -- expansion ------------------------------------------------------------------------------

def test_a_module_node_becomes_its_prefixed_nodes_in_its_place_wired_through_its_interface():
    df = ok({"df.yml": DATAFLOW, "modules/transform.yml": TRANSFORM})
    assert [n.id for n in df.nodes] == ["sender", "pipeline.doubler", "pipeline.filter",
                                        "receiver"]
    assert [i.source for i in node(df, "pipeline.doubler").inputs] == ["sender/value"]
    assert [i.source for i in node(df, "pipeline.filter").inputs] == ["pipeline.doubler/doubled"]
    assert [i.source for i in node(df, "receiver").inputs] == ["pipeline.filter/filtered"]
    assert node(df, "pipeline.doubler").path == "modules/doubler.py"  # from the module's folder


def test_a_module_is_a_group_supervisor_with_default_group_flags():
    df = ok({"df.yml": DATAFLOW, "modules/transform.yml": TRANSFORM})
    assert group(df, "pipeline") == GroupSpec(
        "pipeline", ("pipeline.doubler", "pipeline.filter"),
        SupervisionFlags(auto_shutdown="never"), 5, module="modules/transform.yml")
    tree = Tree(df)
    snapshot = tree.snapshot(0.0)
    assert [c["id"] for c in snapshot["children"]] == ["sender", "pipeline", "receiver"]
    module = snapshot["children"][1]
    assert module["kind"] == "supervisor" and module["strategy"] == "one_for_one"
    assert [c["id"] for c in module["children"]] == ["pipeline.doubler", "pipeline.filter"]


def test_the_module_node_overrides_the_headers_supervisor_flags():
    header = TRANSFORM.replace("      outputs: [filtered]\n",
                               "      outputs: [filtered]\n      strategy: one_for_all\n"
                               "      max_restarts: 7\n", 1)
    flow = DATAFLOW.replace("        module: modules/transform.yml\n",
                            "        module: modules/transform.yml\n        max_seconds: 30s\n"
                            "        strategy: rest_for_one\n")
    df = ok({"df.yml": flow, "modules/transform.yml": header})
    assert group(df, "pipeline").flags == SupervisionFlags("rest_for_one", 7, 30.0, "never")


def test_params_become_variables_and_replace_their_placeholders_in_args():
    module = TRANSFORM.replace("        path: doubler.py\n", "        path: doubler.py\n"
                               "        args: --speed ${_param.speed} --mode $PARAM_MODE\n")
    flow = DATAFLOW.replace("        module: modules/transform.yml\n",
                            "        module: modules/transform.yml\n"
                            "        params: {speed: 2.5, mode: turbo}\n")
    doubler = node(ok({"df.yml": flow, "modules/transform.yml": module}), "pipeline.doubler")
    assert doubler.args == ("--speed", "2.5", "--mode", "turbo")
    assert doubler.env["PARAM_SPEED"] == "2.5" and doubler.env["PARAM_MODE"] == "turbo"


def test_an_unwired_optional_input_is_left_out_and_a_wired_one_keeps_its_queue():
    module = TRANSFORM.replace("      inputs: [raw_data]\n", "      inputs: [raw_data]\n"
                               "      inputs_optional: [config, extra]\n").replace(
        "          data: _mod/raw_data\n", "          data: _mod/raw_data\n"
        "          config: _mod/config\n          extra: _mod/extra\n")
    flow = DATAFLOW.replace("          raw_data: sender/value\n", "          raw_data: sender/value\n"
                            "          extra: {source: sender/value, queue_size: 1}\n")
    doubler = node(ok({"df.yml": flow, "modules/transform.yml": module}), "pipeline.doubler")
    assert {i.id: (i.source, i.queue_size) for i in doubler.inputs} == {
        "data": ("sender/value", None), "extra": ("sender/value", 1)}


def test_deploy_and_build_of_the_including_side_reach_every_inner_node():
    module = "build: pip install foo\n" + textwrap.dedent(TRANSFORM)
    flow = DATAFLOW.replace("        module: modules/transform.yml\n",
                            "        module: modules/transform.yml\n"
                            "        deploy: {machine: robot}\n")
    df = ok({"df.yml": flow, "modules/transform.yml": module})
    for inner in ("pipeline.doubler", "pipeline.filter"):
        assert node(df, inner).machine == "robot"
        assert node(df, inner).build == ("pip install foo",)


# -- interface checks ---------------------------------------------------------------------

def test_a_required_input_the_module_node_does_not_wire_is_an_error_at_the_node():
    flow = DATAFLOW.replace("        inputs:\n          raw_data: sender/value\n", "")
    _, problems = load({"df.yml": flow, "modules/transform.yml": TRANSFORM})
    assert problems == ["df.yml:5: nodes[1].inputs: module 'transform_pipeline' needs input "
                        "'raw_data' (declared at modules/transform.yml:1)"]


def test_wiring_an_input_the_module_does_not_declare_is_an_error_with_a_hint():
    flow = DATAFLOW.replace("raw_data: sender/value", "raw_dat: sender/value")
    _, problems = load({"df.yml": flow, "modules/transform.yml": TRANSFORM})
    assert problems == [
        "df.yml:7: nodes[1].inputs: module 'transform_pipeline' needs input 'raw_data' "
        "(declared at modules/transform.yml:1)",
        "df.yml:8: nodes[1].inputs.raw_dat: module 'transform_pipeline' has no input "
        "'raw_dat' (its inputs: raw_data; declared at modules/transform.yml:1) (did you mean "
        "'raw_data'?)"]


def test_an_undeclared_mod_input_is_an_error_in_the_module_file_with_where_it_was_included():
    module = TRANSFORM.replace("data: _mod/raw_data", "data: _mod/raw")
    _, problems = load({"df.yml": DATAFLOW, "modules/transform.yml": module})
    assert problems == [
        "modules/transform.yml:9: nodes[0].inputs.data: module 'transform_pipeline' has no "
        "input 'raw' (its inputs: raw_data) (included from df.yml:5)"]


def test_a_declared_output_no_inner_node_has_and_an_undeclared_one_read_outside():
    module = TRANSFORM.replace("outputs: [filtered]\n", "outputs: [filtered, stats]\n", 1)
    flow = DATAFLOW.replace("filtered: pipeline/filtered", "filtered: pipeline/doubled")
    _, problems = load({"df.yml": flow, "modules/transform.yml": module})
    assert problems == [
        "modules/transform.yml:4: module.outputs[1]: module 'transform_pipeline' declares "
        "output 'stats' but none of its nodes has it (included from df.yml:5)",
        "df.yml:12: nodes[2].inputs.filtered: module 'pipeline' has no output 'doubled' (its "
        "outputs: filtered)"]


def test_a_wrong_source_wired_to_a_module_input_is_reported_where_it_was_written():
    flow = DATAFLOW.replace("raw_data: sender/value", "raw_data: sendr/value")
    _, problems = load({"df.yml": flow, "modules/transform.yml": TRANSFORM})
    assert problems == ["df.yml:8: nodes[1].inputs.raw_data: node 'sendr' does not exist "
                        "(did you mean 'sender'?)"]


# -- name collisions --------------------------------------------------------------------------

def test_a_node_with_an_expanded_id_is_a_duplicate_located_in_both_files():
    flow = DATAFLOW + "      - {id: pipeline.filter, path: other.py}\n"
    _, problems = load({"df.yml": flow, "modules/transform.yml": TRANSFORM})
    assert problems == ["df.yml:13: nodes[3].id: duplicate node id 'pipeline.filter' (first at "
                        "modules/transform.yml:11)"]


def test_a_module_id_used_by_a_node_and_a_node_called_mod_are_errors():
    flow = DATAFLOW + "      - {id: pipeline, path: other.py}\n"
    module = TRANSFORM.replace("id: filter", "id: _mod")
    _, problems = load({"df.yml": flow, "modules/transform.yml": module})
    assert problems == [
        "df.yml:5: nodes[1].id: module id 'pipeline' is already used by a node",
        "modules/transform.yml:11: nodes[1].id: '_mod' names the module's inputs; it cannot "
        "be a node id (included from df.yml:5)"]


def test_two_instances_of_one_module_do_not_collide():
    flow = DATAFLOW.replace("      - id: receiver\n", "      - id: second\n"
                            "        module: modules/transform.yml\n        inputs:\n"
                            "          raw_data: pipeline/filtered\n      - id: receiver\n")
    df = ok({"df.yml": flow, "modules/transform.yml": TRANSFORM})
    assert [i.source for i in node(df, "second.doubler").inputs] == ["pipeline.filter/filtered"]
    assert {g.id for g in df.groups} == {"pipeline", "second"}


# -- nesting ----------------------------------------------------------------------------------

OUTER = """\
    module:
      name: outer
      inputs: [data]
      outputs: [result]
    nodes:
      - id: inner
        module: inner.yml
        inputs:
          raw_data: _mod/data
      - id: post
        path: post.py
        inputs:
          data: inner/filtered
        outputs: [result]
"""


def nested_flow() -> str:
    return DATAFLOW.replace("modules/transform.yml", "modules/outer.yml").replace(
        "raw_data: sender/value", "data: sender/value").replace(
        "pipeline/filtered", "pipeline/result")


def test_nested_modules_expand_to_fully_qualified_ids_and_nested_groups():
    df = ok({"df.yml": nested_flow(), "modules/outer.yml": OUTER,
             "modules/inner.yml": TRANSFORM})
    assert [n.id for n in df.nodes] == ["sender", "pipeline.inner.doubler",
                                        "pipeline.inner.filter", "pipeline.post", "receiver"]
    assert [i.source for i in node(df, "pipeline.inner.doubler").inputs] == ["sender/value"]
    assert [i.source for i in node(df, "pipeline.post").inputs] == [
        "pipeline.inner.filter/filtered"]
    assert [i.source for i in node(df, "receiver").inputs] == ["pipeline.post/result"]
    assert group(df, "pipeline").members == ("pipeline.inner", "pipeline.post")
    assert group(df, "pipeline.inner").members == ("pipeline.inner.doubler",
                                                   "pipeline.inner.filter")
    assert group(df, "pipeline.inner").module == "modules/inner.yml"
    children = Tree(df).snapshot(0.0)["children"][1]["children"]
    assert [c["id"] for c in children] == ["pipeline.inner", "pipeline.post"]


def test_only_a_nested_modules_declared_outputs_are_visible_and_errors_name_both_includes():
    outer = OUTER.replace("inner/filtered", "inner/doubled")
    inner = TRANSFORM.replace("path: filter_even.py", "path: filter_even.py\n        bogus: 1")
    _, problems = load({"df.yml": nested_flow(), "modules/outer.yml": outer,
                        "modules/inner.yml": inner})
    assert problems == [
        "modules/inner.yml:13: nodes[1].bogus: unknown key 'bogus' (included from "
        "modules/outer.yml:6, df.yml:5)",
        "modules/outer.yml:13: nodes[1].inputs.data: module 'pipeline.inner' has no output "
        "'doubled' (its outputs: filtered) (included from df.yml:5)"]


def test_a_module_that_includes_itself_is_an_error_at_the_include():
    loop = OUTER.replace("module: inner.yml", "module: outer.yml")
    _, problems = load({"df.yml": nested_flow(), "modules/outer.yml": loop})
    assert problems == ["modules/outer.yml:7: nodes[0].module: module 'outer.yml' includes "
                        "itself: df.yml -> modules/outer.yml -> modules/outer.yml (included "
                        "from df.yml:5)"]


# -- files that cannot be used ---------------------------------------------------------------

def test_a_missing_module_file_is_an_error_at_the_module_key():
    _, problems = load({"df.yml": DATAFLOW})
    assert problems == ["df.yml:6: nodes[1].module: cannot read module file "
                        "'modules/transform.yml': No such file or directory"]


def test_a_yaml_error_in_a_module_file_names_both_positions():
    _, problems = load({"df.yml": DATAFLOW, "modules/transform.yml": "module: [\n"})
    assert len(problems) == 1
    assert problems[0].startswith("modules/transform.yml:2: invalid YAML")
    assert problems[0].endswith("(included from df.yml:5)")


def test_a_file_without_a_module_header_is_not_a_module():
    _, problems = load({"df.yml": DATAFLOW, "modules/transform.yml": "nodes: []\n"})
    assert problems == ["modules/transform.yml:1: module: a module file starts with a "
                        "'module:' header (name, inputs, outputs) and lists its 'nodes:' "
                        "(included from df.yml:5)"]


def test_keys_of_a_plain_node_on_a_module_node_and_module_keys_on_a_plain_node():
    flow = DATAFLOW.replace("        module: modules/transform.yml\n",
                            "        module: modules/transform.yml\n        path: x.py\n"
                            "        restart_policy: always\n").replace(
        "        path: sender.py\n", "        path: sender.py\n        strategy: one_for_all\n")
    _, problems = load({"df.yml": flow, "modules/transform.yml": TRANSFORM})
    assert problems == [
        "df.yml:4: nodes[0].strategy: 'strategy' applies only to a module node (one with "
        "'module')",
        "df.yml:8: nodes[1].path: node 'pipeline' has both 'path' and 'module'; a module "
        "node's nodes are in its module file",
        "df.yml:9: nodes[1].restart_policy: node 'pipeline' has both 'restart_policy' and "
        "'module'; a module node's nodes are in its module file"]


# -- dora graph -------------------------------------------------------------------------------

def test_dora_graph_draws_each_module_as_a_subgraph_nested_as_the_modules_are():
    df = ok({"df.yml": nested_flow(), "modules/outer.yml": OUTER,
             "modules/inner.yml": TRANSFORM})
    text = mermaid(df)
    assert text.splitlines()[1:9] == [
        '  n_sender["sender"]',
        '  subgraph n_pipeline["pipeline"]',
        '    subgraph n_pipeline_inner["pipeline.inner"]',
        '      n_pipeline_inner_doubler["pipeline.inner.doubler"]',
        '      n_pipeline_inner_filter["pipeline.inner.filter"]',
        "    end",
        '    n_pipeline_post["pipeline.post"]',
        "  end",
    ]
    assert '  n_pipeline_post -->|"result as filtered"| n_receiver' in text


@pytest.mark.parametrize("depth", [9])
def test_modules_nest_at_most_eight_deep(depth):
    files = {"df.yml": DATAFLOW.replace("modules/transform.yml", "m0.yml").replace(
        "pipeline/filtered", "pipeline/out")}
    for level in range(depth):
        files[f"m{level}.yml"] = (f"module: {{name: m{level}, inputs: [raw_data], outputs: "
                                  f"[out]}}\nnodes:\n  - id: n\n    module: m{level + 1}.yml\n"
                                  "    inputs: {raw_data: _mod/raw_data}\n")
    _, problems = load(files)
    assert any("modules nest deeper than 8 levels" in p for p in problems), problems
