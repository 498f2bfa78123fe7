"""The one error of the node <-> supervisor contract."""

from __future__ import annotations

__all__ = ["ContractError"]


class ContractError(ValueError):
    """Input that breaks the contract: a malformed key, message, note, config or timer.

    A ValueError, so descriptor checks that catch ValueError report it like any bad value;
    callers in zenoh callbacks turn it into an ERROR event or a warning, never re-raise."""
