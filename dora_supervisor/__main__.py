"""`python -m dora_supervisor`: the `dora` command."""

from dora_supervisor.cli import main

__all__: list[str] = []

raise SystemExit(main())
