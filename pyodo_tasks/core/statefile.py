"""The per-target state file beside the file index: what pyodo last did to which container.

``<state_dir>/state-<key>.json`` records the container instance the index was synced into, the
digest that was last built and the instance whose ``postStart`` events ran. Written atomically
(temp file and rename) so a killed push never leaves half a file; an unreadable file reads as
empty, which only costs a full sync.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["StateFile"]


class StateFile:
    """A small JSON dict on disk, updated key by key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> Any:
        return self.read().get(key)

    def update(self, **values: Any) -> None:
        state = self.read()
        state.update(values)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def unlink(self) -> None:
        self.path.unlink(missing_ok=True)
