"""The registry cache: reads served from memory, every write invalidates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from modelreg.actor import Actor
from modelreg.db.engine import Database
from modelreg.registry.cache import TTLCache
from modelreg.registry.schemas import ModelUpdate
from modelreg.registry.service import ModelManagerService
from tests.registry.conftest import model_input


@contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "set_config" not in statement:  # the per-transaction RLS context is not a query
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_reads_are_cached_and_writes_invalidate(
    db: Database, registry: ModelManagerService, admin_actor: Actor, user_a: Actor
) -> None:
    model = await registry.create_model(admin_actor, model_input("m", is_global=True))
    await registry.list_models(user_a)
    await registry.resolve(user_a, "m")
    with count_queries(db) as queries:
        assert len(await registry.list_models(user_a)) == 1
        assert (await registry.resolve(user_a, "m")).enabled
    assert queries == []

    await registry.update_model(admin_actor, model.id, ModelUpdate(description="changed"))
    listed = await registry.list_models(user_a)
    assert listed[0].description == "changed"
    assert (await registry.resolve(user_a, "m")).description == "changed"

    await registry.delete_model(admin_actor, model.id)
    assert await registry.list_models(user_a) == []


async def test_a_thousand_models_list_from_cache(
    db: Database, registry: ModelManagerService, admin_actor: Actor, user_a: Actor
) -> None:
    from sqlalchemy import insert

    from modelreg.actor import SYSTEM
    from modelreg.db.models import LLMModel

    async with db.session(SYSTEM) as session:
        await session.execute(
            insert(LLMModel),
            [
                {
                    "name": f"bulk-{i:04}", "provider": "openai", "base_url": "http://x/v1",
                    "model_id": "m", "is_global": True, "user_id": None,
                }
                for i in range(1000)
            ],
        )  # fmt: skip
    models = await registry.list_models(user_a)
    assert len(models) == 1000
    with count_queries(db) as queries:
        for _ in range(50):
            assert len(await registry.list_models(user_a, enabled=True)) == 1000
    assert queries == []


def test_ttl_expiry_and_generation_guard() -> None:
    now = [0.0]
    cache: TTLCache[str, int] = TTLCache(10, clock=lambda: now[0])
    cache.set("a", 1)
    now[0] = 9.9
    assert cache.get("a") == 1
    now[0] = 10.0
    assert cache.get("a") is None

    generation = cache.generation  # a reader starts...
    cache.invalidate()  # ...a writer invalidates meanwhile...
    cache.set("a", 2, generation=generation)  # ...the reader's stale value is dropped
    assert cache.get("a") is None


def test_zero_ttl_disables_caching() -> None:
    cache: TTLCache[str, int] = TTLCache(0)
    cache.set("a", 1)
    assert cache.get("a") is None
