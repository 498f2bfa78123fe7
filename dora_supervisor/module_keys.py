"""A module file's vocabulary (dora-rs 1.x modules): its `module:` header (the interface,
and here the flags of the group supervisor the module becomes) and its top-level keys.

A module file is not a dataflow: `dora schema` describes dataflows only; `modules` parses
module files with these sections.
"""

from __future__ import annotations

from dora_supervisor.keys import FLAGS, GROUP, NODE
from dora_supervisor.keytable import Key, Section, ref

__all__ = ["MODULE_HEADER", "MODULE_FILE", "MODULE_HEADER_KEYS", "MODULE_FILE_KEYS"]

MODULE_HEADER = Section(
    "A module file's interface (dora-rs 1.x) and, here, its group supervisor's flags.", {
        "name": Key("The module's name (messages and `dora graph` show it).",
                    {"type": "string", "minLength": 1}, nullable=False),
        "inputs": Key("Inputs the including node must wire; inner nodes read them as "
                      "`_mod/<input>`.", ref("names")),
        "inputs_optional": Key("Inputs the including node may wire; an inner input reading "
                               "an unwired one is left out.", ref("names")),
        "outputs": Key("Outputs of inner nodes that the including dataflow may read, as "
                       "`<module node>/<output>`.", ref("names")),
        **{name: FLAGS.keys[name] for name in ("strategy", "max_restarts", "max_seconds")},
        "auto_shutdown": GROUP.keys["auto_shutdown"],
    }, required=("name",), nullable=False)
MODULE_FILE = Section("A module file (dora-rs 1.x): its interface and its nodes.", {
    "module": Key(MODULE_HEADER.doc, MODULE_HEADER, nullable=False),
    "nodes": Key("The module's nodes, in start order; ids are local to the module.",
                 {"type": "array", "minItems": 1}, nullable=False),
    "build": Key("Build step(s) run before each inner node's own `build`.", NODE.keys["build"].value),
}, required=("module", "nodes"), nullable=False)

MODULE_HEADER_KEYS = MODULE_HEADER.names
MODULE_FILE_KEYS = MODULE_FILE.names
