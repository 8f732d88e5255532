"""Helpers of the experiments tests: models on a simulator, experiments over them, and
keys that land in a chosen arm."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from sqlalchemy import select

from modelreg.actor import SYSTEM
from modelreg.db.models import UsageEvent
from modelreg.experiments.assignment import cumulative, pick, point
from modelreg.simulators import SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, unique

__all__ = ["create_experiment", "create_model", "events_of", "keys_for", "two_arms", "unique"]


def create_experiment(
    http: httpx.Client, model_ids: list[str], weights: list[float] | None = None, **extra: Any
) -> dict[str, Any]:
    weights = weights or [1.0] * len(model_ids)
    body = {
        "name": unique("exp"),
        "arms": [{"model_id": m, "weight": w} for m, w in zip(model_ids, weights, strict=True)],
        **extra,
    }
    answer = http.post("/api/experiments", json=body)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def two_arms(
    server: LiveServer, token: str, sim: SimulatorServer, *, start: bool = True, **fields: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An experiment over two fresh models on `sim` (upstream ids sim-a and sim-b)."""
    models = [create_model(server, token, sim, model_id=f"sim-{arm}", **fields) for arm in "ab"]
    with server.client(token) as http:
        experiment = create_experiment(http, [m["id"] for m in models])
        if start:
            answer = http.post(f"/api/experiments/{experiment['id']}/start")
            assert answer.status_code == 200, answer.text
            experiment = answer.json()
    return experiment, models


def keys_for(experiment: dict[str, Any], arm: int) -> Iterator[str]:
    """Keys the experiment assigns to arm number `arm` (0-based), computed as a replica
    would: the assignment needs no server state."""
    uppers = cumulative([a["weight"] for a in experiment["arms"]])
    experiment_id = uuid.UUID(experiment["id"])
    n = 0
    while True:
        key = f"key-{n}"
        n += 1
        if pick(uppers, point(experiment_id, key)) == arm:
            yield key


def events_of(server: LiveServer, experiment_id: str, *, at_least: int) -> list[Any]:
    """The experiment's usage events, once at least `at_least` are written (at most 5 s)."""

    async def read() -> list[Any]:
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            await server.services.usage.flush()
            async with server.services.db.session(SYSTEM) as session:
                rows = list(
                    await session.scalars(
                        select(UsageEvent).where(
                            UsageEvent.experiment_id == uuid.UUID(experiment_id)
                        )
                    )
                )
            if len(rows) >= at_least or asyncio.get_running_loop().time() > deadline:
                return rows
            await asyncio.sleep(0.02)

    return server.run(read())
