"""Facts about the dataflow graph: who feeds whom, sources, significance, drains, mermaid."""

from __future__ import annotations

import re
from collections.abc import Iterable

from dora_supervisor.descriptor import Dataflow, NodeSpec, RestartPolicy

__all__ = ["upstream_nodes", "downstream_nodes", "is_significant", "will_drain", "mermaid"]


def upstream_nodes(node: NodeSpec) -> frozenset[str]:
    """Nodes feeding `node` through non-timer inputs.

    A runtime node whose operators feed each other is not its own upstream: those edges
    stay inside the process. Any other node can feed itself (a real cycle)."""
    ups = frozenset(i.source_node for i in node.inputs if not i.is_timer)
    return ups - {node.id} if node.operators else ups


def downstream_nodes(df: Dataflow, node_id: str) -> list[str]:
    """Nodes with at least one input fed by `node_id`, in descriptor order."""
    return [n.id for n in df.nodes if node_id in upstream_nodes(n)]


def is_significant(node: NodeSpec) -> bool:
    """OTP's `significant` flag; by default a non-permanent source is significant."""
    if node.significant is not None:
        return node.significant
    return node.is_source and node.restart.policy is not RestartPolicy.PERMANENT


def will_drain(df: Dataflow, finished: Iterable[str], stopping: Iterable[str]) -> set[str]:
    """Nodes that will finish by the cascade alone, given finished and STOPped nodes.

    A node drains when every node upstream of it has finished or will drain; nodes left
    out (cycles and what hangs off them) need an explicit STOP."""
    done = set(finished) | set(stopping)
    changed = True
    while changed:
        changed = False
        for node in df.nodes:
            ups = upstream_nodes(node)
            if node.id not in done and ups and ups <= done:
                done.add(node.id)
                changed = True
    return done - set(finished)


def mermaid(df: Dataflow) -> str:
    """The dataflow as a mermaid flowchart; modules and runtime nodes (of operators) become
    subgraphs.

    Identifiers are sanitised (mermaid ids cannot hold `/` or `-` safely); the names users
    wrote appear as quoted labels."""
    lines = ["flowchart TB"]
    timers: dict[str, str] = {}
    producers = {n.id: n for n in df.nodes}
    opened: list[str] = []  # the module subgraphs around the current node, outermost first
    for node in df.nodes:
        around = _modules_around(df, node.id)
        while opened and opened != around[:len(opened)]:
            opened.pop()
            lines.append("  " * (len(opened) + 1) + "end")
        for module in around[len(opened):]:
            lines.append("  " * (len(opened) + 1) + f'subgraph {_mid(module)}["{module}"]')
            opened.append(module)
        indent = "  " * (len(opened) + 1)
        if node.operators:
            lines.append(f'{indent}subgraph {_mid(node.id)}["{node.id}"]')
            lines += [f'{indent}  {_mid(node.id, op.id)}["{op.id}"]' for op in node.operators]
            lines.append(f"{indent}end")
        else:
            lines.append(f'{indent}{_mid(node.id)}["{node.id}"]')
    while opened:
        opened.pop()
        lines.append("  " * (len(opened) + 1) + "end")
    edges = []
    for node in df.nodes:
        for spec in node.inputs:
            target, label = _mid(node.id), spec.id
            if node.operators and "/" in spec.id:
                op_id, label = spec.id.split("/", 1)
                target = _mid(node.id, op_id)
            if spec.is_timer:
                source = timers.setdefault(spec.source, f"timer{len(timers)}")
                output = ""
            else:
                source, output = _mid(spec.source_node), spec.source_output
                producer = producers.get(spec.source_node)
                if producer is not None and producer.operators and "/" in output:
                    op_id, output = output.split("/", 1)  # the operator is the source box
                    source = _mid(spec.source_node, op_id)
            text = f"{output} as {label}" if output and output != label else label
            edges.append(f'  {source} -->|"{text}"| {target}')
    lines[1:1] = [f'  {name}(["{source}"])' for source, name in timers.items()]
    return "\n".join(lines + edges) + "\n"


def _modules_around(df: Dataflow, member: str) -> list[str]:
    """The module groups `member` is in, outermost first (other groups are not drawn)."""
    owner = {m: g for g in df.groups for m in g.members}
    around = []
    group = owner.get(member)
    while group is not None:
        if group.module:
            around.insert(0, group.id)
        group = owner.get(group.id)
    return around


def _mid(*names: str) -> str:
    return "n_" + "__".join(re.sub(r"[^A-Za-z0-9_]", "_", name) for name in names)
