"""The nodes of a run: one energy meter per node, and the run's energy as the sum over its nodes, on rank 0.

On one node rank 0 meters every device of the run, as it always has. Under ``torchrun --nnodes N`` (N > 1) the
first process of each node (``LOCAL_RANK`` 0) meters that node's own devices, and the totals of every node's
meter are gathered to all ranks at each checkpoint, each epoch's target check and the end of training (these
points are collective already): rank 0 writes their sum (:func:`benchmarks.measurement.energy.merge_totals`,
every numeric field of every window added over nodes) to the checkpoint and the record, once. The checkpoint
keeps each node's own totals too (``nodes``), so a resumed run of the same nodes goes on from each node's count.
After training only rank 0 works (the final evaluation, on its own meter); the other nodes' totals are then the
ones gathered when training ended.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from ..measurement.energy import merge_totals
from ..training.distributed import all_gather_object

__all__ = ["NodeEnergy", "node_layout"]

#: the key of the merged totals that keeps each node's own totals, in node order
NODES = "nodes"


def node_layout(dist) -> Dict[str, int]:
    """``{"nodes", "node_rank", "local_rank", "local_world"}`` of this process, from torchrun's variables
    (``GROUP_WORLD_SIZE``, ``GROUP_RANK``, ``LOCAL_WORLD_SIZE``; one node when they are absent)."""
    local_world = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size)))
    nodes = int(os.environ.get("GROUP_WORLD_SIZE", max(1, dist.world_size // local_world)))
    node_rank = int(os.environ.get("GROUP_RANK", dist.rank // local_world))
    return {"nodes": max(1, nodes), "node_rank": node_rank, "local_rank": dist.local_rank,
            "local_world": local_world}


class NodeEnergy:
    """This process's part in metering the run: its node's meter (or None) and the sum over nodes.

    Args:
        dist: the process's :class:`benchmarks.training.DistInfo`.
    """

    def __init__(self, dist):
        self.dist = dist
        layout = node_layout(dist)
        self.nodes, self.node_rank = layout["nodes"], layout["node_rank"]
        self.local_world = layout["local_world"]
        #: whether this process meters (rank 0 on one node; the first process of each node on several)
        self.meters = dist.is_main or (self.nodes > 1 and dist.local_rank == 0)
        self.meter = None
        self._gathered: List[Dict[str, Any]] = []  # every node's totals at the last gather, node order

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1

    def restore_for_this_node(self, previous: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        """What this node's meter adds to its windows from a checkpoint's totals: its own node's part when the
        checkpoint kept one per node for as many nodes, else (another layout) the whole sum on rank 0."""
        if previous is None or not self.meters:
            return None
        per_node = previous.get(NODES)
        if self.multi_node and isinstance(per_node, list) and len(per_node) == self.nodes:
            return per_node[self.node_rank]
        return previous if self.dist.is_main else None

    def gather(self) -> Optional[Dict[str, Any]]:
        """The run's totals summed over nodes (collective on several nodes: every rank must call it)."""
        if not self.multi_node:
            return self.meter.totals() if self.meter is not None else None
        mine = (self.node_rank, self.meter.totals()) if self.meter is not None else None
        got = sorted((item for item in all_gather_object(mine, self.dist) if item is not None), key=lambda i: i[0])
        self._gathered = [totals for _, totals in got]
        return self._merged(self._gathered)

    def run_totals(self) -> Optional[Dict[str, Any]]:
        """Rank 0's totals for the record: its own meter now, the other nodes' as last gathered (no collective)."""
        if self.meter is None:
            return None
        if not self.multi_node:
            return self.meter.totals()
        per_node = [self.meter.totals() if i == self.node_rank else t for i, t in enumerate(self._gathered)]
        return self._merged(per_node or [self.meter.totals()])

    @staticmethod
    def _merged(per_node: List[Dict[str, Any]]) -> Dict[str, Any]:
        merged = merge_totals(per_node)
        merged[NODES] = per_node
        return merged
