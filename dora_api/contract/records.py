"""Frozen records for the contract: what `attrs.frozen` gives, at a node's start-up cost.

Every node process imports the contract as it starts. attrs costs it about 19 ms to
import and 0.4 ms per class (a third of a node's start-up CPU); these records cost
about 30 µs per class: one small generated `__init__`, `__eq__`, `__hash__` and (with
`order=True`) ordering, as attrs generates them (so they cost no more per message),
the rest shared. What they offer is the part of attrs the contract uses: slots,
immutability, fields with defaults, factories and converters, `hash=False`,
`fields`, `asdict` and `evolve`.

The supervisor keeps attrs for its own records; the daemon's records (`daemon`), which
validate every field of a network message, keep it too.
"""

from __future__ import annotations

__all__ = ["record", "field", "fields", "asdict", "evolve", "FrozenRecordError"]

_NOTHING = object()  # no default
_HASH_SEED = 0x6D6F6E  # mixed into every record's hash, as attrs mixes its own seed


class FrozenRecordError(AttributeError):
    """A record's fields cannot be assigned (like attrs' FrozenInstanceError)."""


class Field:
    """One field of a record, in definition order."""

    __slots__ = ("name", "default", "factory", "converter", "hash")

    def __init__(self, name: str, default=_NOTHING, factory=None, converter=None,
                 hash: bool = True):
        self.name = name
        self.default = default
        self.factory = factory
        self.converter = converter
        self.hash = hash

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


class _Spec:
    """What `field()` leaves in a class body until `record` reads it."""

    __slots__ = ("default", "factory", "converter", "hash")

    def __init__(self, default, factory, converter, hash):
        self.default, self.factory, self.converter, self.hash = default, factory, converter, hash


def field(*, default=_NOTHING, factory=None, converter=None, hash: bool = True):
    """A field with a `default` (or a `factory` called for each record), a `converter`
    applied on construction, or left out of the hash."""
    return _Spec(default, factory, converter, hash)


def record(cls=None, *, order: bool = False):
    """`@record` or `@record(order=True)`: `cls` rebuilt as a frozen, slotted record whose
    fields are its annotated class attributes."""
    if cls is None:
        return lambda inner: _build(inner, order)
    return _build(cls, order)


def fields(cls) -> tuple[Field, ...]:
    return cls.__record_fields__


def asdict(value) -> dict:
    """A record as a dict, recursively (records in fields, lists, tuples and dicts;
    tuples become lists), as `attrs.asdict` gives it."""
    return {f.name: _plain(getattr(value, f.name)) for f in value.__record_fields__}


def evolve(value, **changes):
    """A copy of `value` with `changes` (through the constructor: converters apply)."""
    for f in value.__record_fields__:
        if f.name not in changes:
            changes[f.name] = getattr(value, f.name)
    return type(value)(**changes)


def _plain(value):
    if hasattr(type(value), "__record_fields__"):
        return asdict(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


def _build(cls, order: bool):
    names = list(cls.__dict__.get("__annotations__", {}))
    body = {key: value for key, value in cls.__dict__.items()
            if key not in ("__dict__", "__weakref__") and key not in names}
    specs = []
    for name in names:
        value = cls.__dict__.get(name, _NOTHING)
        if isinstance(value, _Spec):
            specs.append(Field(name, value.default, value.factory, value.converter, value.hash))
        else:
            specs.append(Field(name, value))
    namespace = {"_setattr": object.__setattr__, "_NOTHING": _NOTHING}
    source = [_init_source(specs, namespace), _order_source(names, "__eq__", "==")]
    if order:
        source += [_order_source(names, op, symbol) for op, symbol in _ORDER]
    hashed = ", ".join(f"self.{f.name}" for f in specs if f.hash)
    source.append(f"def __hash__(self):\n    return hash(({_HASH_SEED}, {hashed}))\n")
    exec(compile("".join(source), f"<record {cls.__qualname__}>", "exec"), namespace)
    body.update({key: namespace[key] for key in namespace if key.startswith("__")})
    body.update(__slots__=(*names, "__weakref__"), __record_fields__=tuple(specs),
                __match_args__=tuple(names), __setattr__=_frozen, __delattr__=_frozen,
                __repr__=_repr, __getstate__=_getstate, __setstate__=_setstate)
    built = type(cls)(cls.__name__, cls.__bases__, body)
    built.__qualname__ = cls.__qualname__
    return built


def _init_source(specs: list[Field], namespace: dict) -> str:
    params, lines = ["self"], []
    for f in specs:
        if f.factory is not None:
            namespace[f"_factory_{f.name}"] = f.factory
            params.append(f"{f.name}=_NOTHING")
            lines.append(f"    if {f.name} is _NOTHING:\n"
                         f"        {f.name} = _factory_{f.name}()\n")
        elif f.default is not _NOTHING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
        value = f.name
        if f.converter is not None:
            namespace[f"_convert_{f.name}"] = f.converter
            value = f"_convert_{f.name}({f.name})"
        lines.append(f"    _setattr(self, {f.name!r}, {value})\n")
    return f"def __init__({', '.join(params)}):\n" + ("".join(lines) or "    pass\n")


_ORDER = (("__lt__", "<"), ("__le__", "<="), ("__gt__", ">"), ("__ge__", ">="))


def _order_source(names: list[str], method: str, symbol: str) -> str:
    mine = "".join(f"self.{name}, " for name in names)
    theirs = "".join(f"other.{name}, " for name in names)
    return (f"def {method}(self, other):\n"
            "    if other.__class__ is not self.__class__:\n"
            "        return NotImplemented\n"
            f"    return ({mine}) {symbol} ({theirs})\n")


def _frozen(self, *args) -> None:
    raise FrozenRecordError(f"{type(self).__name__} is a frozen record")


def _repr(self) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__)
    return f"{type(self).__qualname__}({shown})"


def _getstate(self) -> dict:
    return {f.name: getattr(self, f.name) for f in self.__record_fields__}


def _setstate(self, state: dict) -> None:
    for name, value in state.items():
        object.__setattr__(self, name, value)
