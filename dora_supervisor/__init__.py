"""dora-supervisor: a dataflow runtime built as an Erlang/OTP-style supervision tree."""

__version__ = "0.1.0"
__all__ = ["__version__"]
