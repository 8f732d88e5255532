"""A/B experiments (modelreg.experiments): create, list, read, change, delete; start, pause,
stop; results. Someone else's personal experiment answers 404, exactly like a missing one;
a company experiment is read by everyone and changed by admins only (403 for users)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import error_responses
from modelreg.experiments.results import ExperimentResults, results
from modelreg.experiments.schemas import ExperimentCreate, ExperimentOut, ExperimentUpdate

__all__ = ["router"]

router = APIRouter(prefix="/api/experiments", tags=["experiments"])

_READ = error_responses(401, 404, 422)
_WRITE = error_responses(400, 401, 403, 404, 413, 422)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an experiment (a draft: start it to route requests)",
    responses=error_responses(400, 401, 403, 413, 422),
)
async def create_experiment(
    body: ExperimentCreate, actor: CurrentActor, services: ServicesDep
) -> ExperimentOut:
    return await services.experiments.create(actor, body)


@router.get("", summary="The caller's experiments and the company's", responses=_READ)
async def list_experiments(actor: CurrentActor, services: ServicesDep) -> list[ExperimentOut]:
    return await services.experiments.list_visible(actor)


@router.get("/{experiment_id}", summary="One experiment", responses=_READ)
async def get_experiment(
    experiment_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> ExperimentOut:
    return await services.experiments.get(actor, experiment_id)


@router.patch(
    "/{experiment_id}",
    summary="Rename, describe, or (before the first start) change the arms",
    responses=_WRITE,
)
async def update_experiment(
    experiment_id: uuid.UUID, body: ExperimentUpdate, actor: CurrentActor, services: ServicesDep
) -> ExperimentOut:
    return await services.experiments.update(actor, experiment_id, body)


@router.delete(
    "/{experiment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an experiment (its messages and usage rows stay, detached)",
    responses=_WRITE,
    response_class=Response,
)
async def delete_experiment(
    experiment_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> None:
    await services.experiments.delete(actor, experiment_id)


@router.post(
    "/{experiment_id}/start", summary="Start (or resume) routing requests", responses=_WRITE
)
async def start_experiment(
    experiment_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> ExperimentOut:
    return await services.experiments.set_status(actor, experiment_id, "start")


@router.post(
    "/{experiment_id}/pause",
    summary="Pause: requests naming it are refused until it starts again",
    responses=_WRITE,
)
async def pause_experiment(
    experiment_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> ExperimentOut:
    return await services.experiments.set_status(actor, experiment_id, "pause")


@router.post(
    "/{experiment_id}/stop",
    summary="Stop for good (its data and results stay)",
    responses=_WRITE,
)
async def stop_experiment(
    experiment_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> ExperimentOut:
    return await services.experiments.set_status(actor, experiment_id, "stop")


@router.get(
    "/{experiment_id}/results",
    summary="Per arm figures, differences to the first arm with intervals, and the verdict",
    responses=_READ,
)
async def experiment_results(
    experiment_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> ExperimentResults:
    row = await services.experiments.row(actor, experiment_id)
    return await results(services.db, row)
