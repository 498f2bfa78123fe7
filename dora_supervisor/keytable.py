"""The building blocks of the descriptor's key table (`keys`, `module_keys`): a key, a
section of keys, and the JSON Schema fragments their values are described with."""

from __future__ import annotations

import attrs

__all__ = ["Key", "Section", "ref", "choice", "dora_rs", "NO_EFFECT"]

NO_EFFECT = ("Accepted for dora-rs 1.x compatibility; has no effect here (`dora check` prints a "
             "warning).")


@attrs.frozen
class Key:
    """One key: what it means, and the JSON Schema of its value (None: anything)."""

    doc: str
    value: dict | Section | None = None
    nullable: bool = True  # `key:` with no value means its default
    no_effect: bool = False  # a dora-rs key accepted with a warning (doc gets NO_EFFECT)
    default: object = None  # shown by editors; None: none given


@attrs.frozen
class Section:
    """A mapping of the descriptor: its keys, and which of them must be given."""

    doc: str
    keys: dict[str, Key]
    required: tuple[str, ...] = ()
    nullable: bool = True  # `section:` with nothing under it means all defaults
    exactly_one: tuple[str, ...] = ()  # give exactly one of these keys

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.keys)

    @property
    def no_effect(self) -> frozenset[str]:
        """dora-rs keys that are accepted with a warning."""
        return frozenset(name for name, key in self.keys.items() if key.no_effect)


def ref(name: str) -> dict:
    """The value type `name` of the schema's `$defs`."""
    return {"$ref": f"#/$defs/{name}"}


def choice(values, docs: dict[str, str]) -> dict:
    """One of `values` (in the model's order), each with its own one-line meaning."""
    return {"enum": list(values), "markdownEnumDescriptions": [docs[v] for v in values]}


def dora_rs(doc: str) -> Key:
    """A dora-rs key accepted with a warning: it has no effect here."""
    return Key(doc, no_effect=True)
