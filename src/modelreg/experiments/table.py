"""The in-memory routing table: every experiment by (owner, name), for the request path.

The gateway looks a model name up here before the registry: a set lookup when the name is
no experiment's. The table is rebuilt from the database at start and after every change
(`ExperimentService.reload`): at once in the process that made the change, and in every
other process when the `experiments` cache generation moves (modelreg.invalidation).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from modelreg.experiments.assignment import cumulative, pick, point

__all__ = ["Route", "RoutingTable"]


@dataclass(frozen=True, slots=True)
class Route:
    """One experiment as the request path needs it."""

    id: uuid.UUID
    owner: uuid.UUID | None  # None: a company experiment
    name: str
    status: str
    arm_ids: tuple[uuid.UUID, ...]
    model_ids: tuple[str | None, ...]  # None: the arm's model was deleted
    uppers: tuple[float, ...]  # assignment.cumulative of the weights
    created_at: datetime

    @property
    def is_global(self) -> bool:  # the shape /v1/models lists (gateway/models_wire.py)
        return self.owner is None

    def arm(self, key: str) -> int:
        """The index of the arm `key` is assigned to."""
        return pick(self.uppers, point(self.id, key))


def route_of(
    id: uuid.UUID,
    owner: uuid.UUID | None,
    name: str,
    status: str,
    arms: list[dict[str, object]],
    created_at: datetime,
) -> Route:
    weights = [float(str(a["weight"])) for a in arms]
    return Route(
        id=id,
        owner=owner,
        name=name,
        status=status,
        arm_ids=tuple(uuid.UUID(str(a["id"])) for a in arms),
        model_ids=tuple(str(a["model_id"]) if a.get("model_id") else None for a in arms),
        uppers=cumulative(weights),
        created_at=created_at,
    )


class RoutingTable:
    def __init__(self) -> None:
        self._by_name: dict[tuple[uuid.UUID | None, str], Route] = {}
        self._by_id: dict[uuid.UUID, Route] = {}
        self._names: frozenset[str] = frozenset()
        self.version = 0  # moves with every replace: a key for what is rendered from it

    def replace(self, routes: Iterable[Route]) -> None:
        by_name = {(r.owner, r.name): r for r in routes}
        # built aside and swapped in whole: a reader never sees half a table
        self._by_id = {r.id: r for r in by_name.values()}
        self._names = frozenset(name for _, name in by_name)
        self._by_name = by_name
        self.version += 1

    def lookup(self, owner: uuid.UUID | None, name: str) -> Route | None:
        """The caller's own experiment of that name, else the company's; None if neither."""
        if name not in self._names:
            return None
        by_name = self._by_name
        return by_name.get((owner, name)) or by_name.get((None, name))

    def running(self, owner: uuid.UUID | None) -> list[Route]:
        """The running experiments a caller may use by name, as /v1/models lists them."""
        return sorted(
            (r for r in self._by_id.values()
             if r.status == "running" and r.owner in (None, owner)),
            key=lambda r: r.name,
        )  # fmt: skip

    def by_id(self, experiment_id: uuid.UUID) -> Route | None:
        return self._by_id.get(experiment_id)

    def __len__(self) -> int:
        return len(self._by_id)
