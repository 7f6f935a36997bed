"""One entry of the run matrix: its index, id, name and resolved config."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict

from .schema import RunConfig

__all__ = ["RunSpec"]


@dataclass(frozen=True)
class RunSpec:
    """One entry of the run matrix."""

    index: int
    run_id: str
    name: str
    config: Dict[str, Any] = field(repr=False, compare=False)

    def run_config(self) -> RunConfig:
        """The typed, validated config of this run."""
        return RunConfig.from_dict(self.config)

    def to_json(self) -> Dict[str, Any]:
        return {"index": self.index, "run_id": self.run_id, "name": self.name, "config": self.config}
