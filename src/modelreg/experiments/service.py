"""ExperimentService: A/B experiments' rows (create, read, change, delete, start / pause /
stop) and the routing table the request path reads.

Who may do what: a user creates personal experiments over models they may use (their own
and company models); an admin also company experiments (`is_global`) over company models.
A personal experiment is seen by its owner only (others get 404, as for models); a company
experiment by everyone, changed by admins only (403 for users, as for company models).

Arms are fixed once the experiment has started: the statistics compare arms under one
allocation, and a conversation keeps its arm. A stopped experiment keeps its rows and its
data (messages and usage rows name it); it routes no more and cannot start again. Deleting
one detaches its rows (the columns become NULL), as deleting a model does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import SYSTEM, Actor
from modelreg.audit import write_audit
from modelreg.db.models import Experiment, LLMModel, utcnow
from modelreg.errors import AccessDeniedError, ValidationFailedError
from modelreg.experiments.arms import checked_arms
from modelreg.experiments.errors import ExperimentNotFoundError
from modelreg.experiments.schemas import (
    ArmOut,
    ExperimentCreate,
    ExperimentOut,
    ExperimentUpdate,
)
from modelreg.experiments.table import RoutingTable, route_of
from modelreg.invalidation import EXPERIMENTS, bump

if TYPE_CHECKING:
    from modelreg.db.engine import Database
    from modelreg.registry.service import ModelManagerService

__all__ = ["Action", "ExperimentService"]

log = logging.getLogger(__name__)

Action = Literal["start", "pause", "stop"]
# status after each action, from the statuses it may be taken in
_MOVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "start": ("running", ("draft", "paused", "running")),
    "pause": ("paused", ("running", "paused")),
    "stop": ("stopped", ("draft", "running", "paused", "stopped")),
}


@contextlib.asynccontextmanager
async def _name_race() -> AsyncIterator[None]:
    """A concurrent write took the name between the check and the commit: the unique
    indexes refuse it, answered like the check's refusal."""
    try:
        yield
    except IntegrityError as exc:
        raise ValidationFailedError("an experiment of that name exists", field="name") from exc


def _out(row: Experiment) -> ExperimentOut:
    total = sum(float(a["weight"]) for a in row.arms) or 1.0
    return ExperimentOut(
        id=row.id,
        name=row.name,
        description=row.description,
        is_global=row.user_id is None,
        status=row.status,
        arms=[
            ArmOut(
                id=uuid.UUID(a["id"]),
                model_id=uuid.UUID(a["model_id"]) if a.get("model_id") else None,
                model_name=a["model_name"],
                weight=float(a["weight"]),
                share=float(a["weight"]) / total,
            )
            for a in row.arms
        ],
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
    )


class ExperimentService:
    def __init__(self, db: Database, registry: ModelManagerService) -> None:
        self.db = db
        self.registry = registry
        self.table = RoutingTable()
        self._reloading: asyncio.Task[None] | None = None

    # --- the routing table ---------------------------------------------------------------

    async def reload(self) -> None:
        """Rebuild the routing table from the database (at start, after a change)."""
        async with self.db.session(SYSTEM) as session:
            rows = (await session.scalars(select(Experiment))).all()
            routes = [
                route_of(r.id, r.user_id, r.name, r.status, r.arms, r.created_at) for r in rows
            ]
        self.table.replace(routes)

    def invalidate(self) -> None:
        """Another process changed experiments: reload in the background (the cache poller
        calls this; until the reload is done the request path reads the previous table)."""
        if self._reloading is not None and not self._reloading.done():
            self._reloading.add_done_callback(lambda _: self.invalidate())
            return
        self._reloading = asyncio.get_running_loop().create_task(self._reload_logged())

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception:
            log.warning("reloading the experiments failed; next change retries", exc_info=True)

    # --- reads ---------------------------------------------------------------------------

    async def list_visible(self, actor: Actor) -> list[ExperimentOut]:
        async with self.db.session(actor) as session:
            rows = await session.scalars(
                select(Experiment)
                .where(self._visible(actor))
                .order_by(Experiment.created_at.desc())
            )
            return [_out(r) for r in rows]

    async def get(self, actor: Actor, experiment_id: uuid.UUID) -> ExperimentOut:
        async with self.db.session(actor) as session:
            return _out(await self._row(session, actor, experiment_id))

    async def row(self, actor: Actor, experiment_id: uuid.UUID) -> Experiment:
        """The row, if `actor` may see it (ExperimentNotFoundError otherwise)."""
        async with self.db.session(actor) as session:
            return await self._row(session, actor, experiment_id)

    # --- writes --------------------------------------------------------------------------

    async def create(self, actor: Actor, body: ExperimentCreate) -> ExperimentOut:
        if body.is_global and not actor.is_admin:
            raise AccessDeniedError("only admins may create company experiments")
        owner = None if body.is_global else actor.id
        models = await self.registry.list_models(actor)
        arms = checked_arms(body.arms, models, company=body.is_global)
        async with _name_race(), self.db.session(actor) as session:
            await self._check_name(session, owner, body.name, None)
            row = Experiment(
                user_id=owner, name=body.name, description=body.description,
                status="draft", arms=arms,
            )  # fmt: skip
            session.add(row)
            await session.flush()
            await write_audit(session, actor, "experiment.create", "experiment", row.id,
                              None, {"name": row.name, "arms": arms})  # fmt: skip
            await bump(session, EXPERIMENTS)
            out = _out(row)
        await self.reload()
        return out

    async def update(
        self, actor: Actor, experiment_id: uuid.UUID, body: ExperimentUpdate
    ) -> ExperimentOut:
        async with _name_race(), self.db.session(actor) as session:
            row = await self._writable(session, actor, experiment_id)
            before = {"name": row.name, "description": row.description, "arms": row.arms}
            if body.name is not None and body.name != row.name:
                await self._check_name(session, row.user_id, body.name, row.id)
                row.name = body.name
            if body.description is not None:
                row.description = body.description
            if body.arms is not None:
                if row.status != "draft":
                    raise ValidationFailedError(
                        f"the arms are fixed once an experiment has started (it is "
                        f"{row.status}); create a new experiment to compare other arms",
                        field="arms",
                    )
                models = await self.registry.list_models(actor)
                row.arms = checked_arms(body.arms, models, company=row.user_id is None)
            row.updated_at = utcnow()
            await session.flush()
            await write_audit(session, actor, "experiment.update", "experiment", row.id, before,
                              {"name": row.name, "description": row.description,
                               "arms": row.arms})  # fmt: skip
            await bump(session, EXPERIMENTS)
            out = _out(row)
        await self.reload()
        return out

    async def set_status(
        self, actor: Actor, experiment_id: uuid.UUID, action: Action
    ) -> ExperimentOut:
        status, allowed = _MOVES[action]
        async with self.db.session(actor) as session:
            row = await self._writable(session, actor, experiment_id)
            if row.status not in allowed:
                raise ValidationFailedError(
                    f"a {row.status} experiment cannot {action}"
                    + ("; a stopped experiment keeps its data but never runs again"
                       if row.status == "stopped" else ""),
                    field="status",
                )  # fmt: skip
            before = row.status
            now = utcnow()
            row.status = status
            row.updated_at = now
            if status == "running" and row.started_at is None:
                row.started_at = now
            if status == "stopped" and row.stopped_at is None:
                row.stopped_at = now
            await write_audit(session, actor, f"experiment.{action}", "experiment", row.id,
                              {"status": before}, {"status": status})  # fmt: skip
            await bump(session, EXPERIMENTS)
            out = _out(row)
        await self.reload()
        return out

    async def delete(self, actor: Actor, experiment_id: uuid.UUID) -> None:
        async with self.db.session(actor) as session:
            row = await self._writable(session, actor, experiment_id)
            await write_audit(session, actor, "experiment.delete", "experiment", row.id,
                              {"name": row.name, "status": row.status}, None)  # fmt: skip
            await session.delete(row)
            await bump(session, EXPERIMENTS)
        await self.reload()

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _visible(actor: Actor) -> Any:
        """Company experiments and the caller's own (an admin too: others' are private)."""
        return Experiment.user_id.is_(None) | (Experiment.user_id == actor.id)

    async def _row(
        self, session: AsyncSession, actor: Actor, experiment_id: uuid.UUID
    ) -> Experiment:
        row = await session.scalar(
            select(Experiment).where(Experiment.id == experiment_id, self._visible(actor))
        )
        if row is None:
            raise ExperimentNotFoundError(f"no experiment {experiment_id}")
        return row

    async def _writable(
        self, session: AsyncSession, actor: Actor, experiment_id: uuid.UUID
    ) -> Experiment:
        row = await self._row(session, actor, experiment_id)
        if row.user_id is None and not actor.is_admin:
            raise AccessDeniedError("only admins may change company experiments")
        return row

    async def _check_name(
        self, session: AsyncSession, owner: uuid.UUID | None, name: str, exclude: uuid.UUID | None
    ) -> None:
        """The name is no other experiment's in its scope, and no model's a caller of this
        experiment could mean instead (a company experiment: any model's; a personal one:
        a company model's or the owner's, or a company experiment's)."""
        clash = select(Experiment.id).where(Experiment.name == name)
        if owner is not None:
            clash = clash.where(Experiment.user_id.is_(None) | (Experiment.user_id == owner))
        else:
            clash = clash.where(Experiment.user_id.is_(None))
        if exclude is not None:
            clash = clash.where(Experiment.id != exclude)
        if await session.scalar(clash.limit(1)) is not None:
            raise ValidationFailedError(f"an experiment named {name!r} exists", field="name")
        models = select(LLMModel.id).where(LLMModel.name == name)
        if owner is not None:
            models = models.where(LLMModel.user_id.is_(None) | (LLMModel.user_id == owner))
            found = await session.scalar(models.limit(1))
        else:  # any user's model: RLS hides others' from an admin, so ask as the system
            async with self.db.session(SYSTEM) as system:
                found = await system.scalar(models.limit(1))
        if found is not None:
            raise ValidationFailedError(
                f"a model named {name!r} exists; an experiment's name is used like a model "
                "name, so it must not be one",
                field="name",
            )
