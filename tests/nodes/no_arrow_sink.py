"""A consumer on a machine without pyarrow (an import hook makes `import pyarrow` fail):
prints how many inputs it took and every ERROR, until STOP."""

import sys


class _NoArrow:
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ModuleNotFoundError("No module named 'pyarrow' (hidden by the test)")
        return None


sys.meta_path.insert(0, _NoArrow())

from dora_api import Node  # noqa: E402

node = Node()
taken = 0
for event in node:
    if event["type"] == "INPUT":
        assert isinstance(event["value"], bytes)
        taken += 1
    elif event["type"] == "ERROR":
        print(f"ERROR {event['error']}", flush=True)
    elif event["type"] == "STOP":
        break
print(f"TAKEN {taken}", flush=True)
