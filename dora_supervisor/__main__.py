from dora_supervisor.cli import main

raise SystemExit(main())
