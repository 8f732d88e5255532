"""/api/chat with `experiment_id`, on both databases: the experiment picks the model, the
answer (message row) and its usage row name the arm, and a conversation keeps its arm."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from modelreg.actor import SYSTEM
from modelreg.db.models import Message
from modelreg.simulators import SimulatorServer
from tests.api._helpers import assert_error
from tests.experiments.helpers import events_of, two_arms
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import stream_chat


def _answers(server: LiveServer, conversation_id: str) -> list[Any]:
    async def read() -> list[Any]:
        async with server.services.db.session(SYSTEM) as session:
            return list(
                await session.scalars(
                    select(Message)
                    .where(
                        Message.conversation_id == uuid.UUID(conversation_id),
                        Message.role == "assistant",
                    )
                    .order_by(Message.created_at)
                )
            )

    return server.run(read())


@pytest.mark.parametrize("stream", [False, True])
def test_the_arm_is_stored_on_the_message_and_the_conversation_keeps_it(
    server: LiveServer, openai_sim: SimulatorServer, stream: bool
) -> None:
    user = server.create_user()
    experiment, models = two_arms(server, user, openai_sim)
    arm_of_model = {m["id"]: uuid.UUID(a["id"]) for m, a in zip(models, experiment["arms"],
                                                                 strict=True)}  # fmt: skip
    body = {"experiment_id": experiment["id"], "message": "hello"}
    with server.client(user) as http:
        if stream:
            events = stream_chat(http, body)
            first = dict(events)["done"]
        else:
            answer = http.post("/api/chat", json=body)
            assert answer.status_code == 200, answer.text
            first = answer.json()
        conversation = first["conversation_id"]
        for turn in range(3):
            again = http.post("/api/chat", json={
                "experiment_id": experiment["id"], "conversation_id": conversation,
                "message": f"turn {turn}",
            })  # fmt: skip
            assert again.status_code == 200, again.text
            assert again.json()["model"]["id"] == first["model"]["id"]
    arm = arm_of_model[first["model"]["id"]]
    answers = _answers(server, conversation)
    assert len(answers) == 4
    assert {(m.experiment_id, m.experiment_arm_id) for m in answers} == {
        (uuid.UUID(experiment["id"]), arm)
    }
    events = events_of(server, experiment["id"], at_least=4)
    assert {(e.source, e.experiment_arm_id) for e in events} == {("chat", arm)}


def test_chat_refusals_name_experiment_id(server: LiveServer, openai_sim: SimulatorServer) -> None:
    user, other = server.create_user(), server.create_user()
    experiment, models = two_arms(server, user, openai_sim)
    url = f"/api/experiments/{experiment['id']}"
    with server.client(user) as http:
        both = {"experiment_id": experiment["id"], "model_id": models[0]["id"], "message": "x"}
        assert_error(http.post("/api/chat", json=both), 422, "validation_error", "experiment_id")
        assert http.post(f"{url}/pause").status_code == 200
        paused = http.post("/api/chat", json={"experiment_id": experiment["id"], "message": "x"})
        error = assert_error(paused, 422, "validation_error", "experiment_id")
        assert "paused" in error["message"]
        assert http.post(f"{url}/stop").status_code == 200
        stopped = http.post("/api/chat", json={"experiment_id": experiment["id"], "message": "x"})
        assert "stopped" in assert_error(stopped, 422, "validation_error")["message"]
    with server.client(other) as http:
        foreign = http.post("/api/chat", json={"experiment_id": experiment["id"], "message": "x"})
        assert_error(foreign, 404, "not_found")
        unknown = http.post("/api/chat", json={"experiment_id": str(uuid.uuid4()), "message": "x"})
        assert_error(unknown, 404, "not_found")
