"""The unit prices a call was booked with are stored with its message and its usage event, so
a later price change never rewrites history; cached input tokens are priced at the cache
price. Real HTTP against the simulators, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from modelreg.actor import SYSTEM
from modelreg.db.models import UsageEvent
from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE, create_model


def events(server: LiveServer, model_id: str) -> list[UsageEvent]:
    async def read() -> list[UsageEvent]:
        await server.services.usage.flush()
        async with server.services.db.session(SYSTEM) as session:
            query = select(UsageEvent).where(UsageEvent.llm_model_id == uuid.UUID(model_id))
            return list(await session.scalars(query.order_by(UsageEvent.created_at)))

    return server.run(read())


def test_a_price_change_does_not_rewrite_stored_costs(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)
    # 1000 prompt tokens of which 400 read from the cache (OpenAI: half the input price)
    openai_sim.enqueue(
        Script(text="ok", usage=(1000, 100, 400)), Script(text="ok", usage=(1000, 100))
    )
    cache_price = IN_PRICE / 2
    first_cost = IN_PRICE * 600 + cache_price * 400 + OUT_PRICE * 100
    with server.client(token) as http:
        first = http.post("/api/chat", json={"model_id": model["id"], "message": "hi"})
        assert first.status_code == 200, first.text
        conversation = first.json()["conversation_id"]
        assert Decimal(first.json()["cost"]) == first_cost
        changed = http.patch(
            f"/api/models/{model['id']}",
            json={"price_per_input_token": "0.001", "price_per_output_token": "0.002"},
        )
        assert changed.status_code == 200, changed.text
        second = http.post("/api/chat", json={"conversation_id": conversation, "message": "again"})
        assert second.status_code == 200, second.text
        messages: list[dict[str, Any]] = http.get(f"/api/conversations/{conversation}").json()[
            "messages"
        ]
    old, new = [m for m in messages if m["role"] == "assistant"]
    assert Decimal(old["cost"]) == first_cost
    assert {k: Decimal(v) for k, v in old["prices"].items()} == {
        "input": IN_PRICE, "output": OUT_PRICE, "cache_read": cache_price,
        "cache_write": IN_PRICE,
    }  # fmt: skip
    assert Decimal(new["cost"]) == Decimal("0.001") * 1000 + Decimal("0.002") * 100
    assert Decimal(new["prices"]["input"]) == Decimal("0.001")
    before, after = events(server, model["id"])
    assert before.cost == first_cost
    assert (before.cached_tokens, before.price_per_cache_read_token) == (400, cache_price)
    assert (before.price_per_input_token, before.price_per_output_token) == (IN_PRICE, OUT_PRICE)
    assert after.price_per_input_token == Decimal("0.001")
