"""The official SDKs with an experiment's name, on both databases (tests/gateway covers the
fast path and the route, passed through and translated, on SQLite): the usage rows name the
experiment and the arm the key was assigned to."""

from __future__ import annotations

import uuid

import anthropic
import openai

from modelreg.simulators import Script, SimulatorServer
from tests.experiments.helpers import events_of, keys_for, two_arms
from tests.fixtures.server import LiveServer


def test_both_sdks_book_the_arm(
    server: LiveServer, openai_sim: SimulatorServer, anthropic_sim: SimulatorServer
) -> None:
    user = server.create_user()
    chat_experiment, _ = two_arms(server, user, openai_sim)
    messages_experiment, _ = two_arms(server, user, anthropic_sim)
    openai_sim.enqueue(Script(text="o", usage=(5, 1)))
    anthropic_sim.enqueue(Script(text="a", usage=(6, 2)))
    key = next(keys_for(chat_experiment, 1))
    reply = openai.OpenAI(base_url=server.url + "/v1", api_key=user, max_retries=0)
    answer = reply.chat.completions.create(
        model=chat_experiment["name"], user=key, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "o"
    key = next(keys_for(messages_experiment, 0))
    claude = anthropic.Anthropic(base_url=server.url, api_key=user, max_retries=0)
    message = claude.messages.create(
        model=messages_experiment["name"], max_tokens=10, metadata={"user_id": key},
        messages=[{"role": "user", "content": "hi"}],
    )  # fmt: skip
    assert message.content[0].type == "text"
    for experiment, arm, tokens in ((chat_experiment, 1, 5), (messages_experiment, 0, 6)):
        (event,) = events_of(server, experiment["id"], at_least=1)
        assert event.experiment_arm_id == uuid.UUID(experiment["arms"][arm]["id"])
        assert event.input_tokens == tokens
