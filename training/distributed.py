"""The process layout of a run under torchrun (one process without it)."""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """Process layout read from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); one process without."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> DistributedContext:
        return cls(
            rank=int(os.environ.get("RANK", 0)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
        )

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0
