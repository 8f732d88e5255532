"""Request and response models of the experiments API (`/api/experiments`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from modelreg.nul import NulFree
from modelreg.registry.schemas import Description, Name

__all__ = [
    "ArmIn",
    "ArmOut",
    "ExperimentCreate",
    "ExperimentOut",
    "ExperimentUpdate",
    "Status",
]

Status = Literal["draft", "running", "paused", "stopped"]


class ArmIn(NulFree):
    model_config = ConfigDict(extra="forbid")

    model_id: StrictStr = Field(
        min_length=1, max_length=255, description="The arm's model: its registry id or name"
    )
    weight: float = Field(
        ge=0, le=1_000_000, allow_inf_nan=False,
        description="Relative share of traffic (weights need not add up to anything)",
    )  # fmt: skip


class ExperimentCreate(NulFree):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="Callers use it like a model name; must not be one")
    arms: list[ArmIn] = Field(
        min_length=2, max_length=8, description="Two to eight arms; the first is the baseline"
    )
    description: Description = ""
    is_global: bool = Field(
        default=False, description="A company experiment over company models (admins only)"
    )


class ExperimentUpdate(NulFree):
    """Name and description any time; arms only before the experiment first starts."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    arms: list[ArmIn] | None = Field(default=None, min_length=2, max_length=8)


class ArmOut(BaseModel):
    id: uuid.UUID
    model_id: uuid.UUID | None = Field(description="None once the model has been deleted")
    model_name: str
    weight: float
    share: float = Field(description="The weight as a share of all weights (0 to 1)")


class ExperimentOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    is_global: bool
    status: Status
    arms: list[ArmOut]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
