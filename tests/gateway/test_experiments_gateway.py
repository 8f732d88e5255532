"""A/B experiments through the gateway with the official SDKs: the experiment's name works
as a model name on /v1/chat/completions and /v1/messages (passed through and translated,
fast path and route), each request goes to the arm its key assigns (OpenAI `user`,
Anthropic `metadata.user_id`, else the caller), and the usage row names the arm."""

from __future__ import annotations

import uuid
from typing import Any

import anthropic
import httpx
import openai
import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.experiments.helpers import events_of, keys_for, two_arms
from tests.fixtures.server import LiveServer


def openai_sdk(server: LiveServer, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0)


def anthropic_sdk(server: LiveServer, token: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=token, max_retries=0)


@pytest.fixture(params=["openai", "anthropic"])
def upstream(request: pytest.FixtureRequest) -> SimulatorServer:
    """Arms passed through (same wire format) and translated (the other one)."""
    fixture: SimulatorServer = request.getfixturevalue(f"{request.param}_sim")
    return fixture


def _arm_ids(experiment: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(a["id"]) for a in experiment["arms"]]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_routes_by_user_and_books_the_arm(
    live_server: LiveServer, user: str, upstream: SimulatorServer, stream: bool
) -> None:
    experiment, _ = two_arms(live_server, user, upstream)
    client = openai_sdk(live_server, user)
    for arm in (1, 0):
        key = next(keys_for(experiment, arm))
        upstream.enqueue(Script(text=f"arm {arm}", usage=(10 + arm, 3)))
        messages: Any = [{"role": "user", "content": "hi"}]
        if stream:
            chunks = list(client.chat.completions.create(
                model=experiment["name"], messages=messages, user=key, stream=True,
                stream_options={"include_usage": True},
            ))  # fmt: skip
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            reply = client.chat.completions.create(
                model=experiment["name"], messages=messages, user=key
            )
            text = reply.choices[0].message.content or ""
        assert text == f"arm {arm}"
        assert upstream.requests[-1].model == f"sim-{'ab'[arm]}"
    events = events_of(live_server, experiment["id"], at_least=2)
    booked = {(e.experiment_arm_id, e.input_tokens, e.source) for e in events}
    arm_ids = _arm_ids(experiment)
    assert booked == {(arm_ids[1], 11, "openai"), (arm_ids[0], 10, "openai")}


def test_anthropic_sdk_routes_by_metadata_user_id(
    live_server: LiveServer, user: str, upstream: SimulatorServer
) -> None:
    experiment, _ = two_arms(live_server, user, upstream)
    client = anthropic_sdk(live_server, user)
    key = next(keys_for(experiment, 1))
    upstream.enqueue(Script(text="from b", usage=(7, 2)))
    message = client.messages.create(
        model=experiment["name"], max_tokens=20, metadata={"user_id": key},
        messages=[{"role": "user", "content": "hi"}],
    )  # fmt: skip
    assert message.content[0].type == "text"
    assert message.content[0].text == "from b"
    assert upstream.requests[-1].model == "sim-b"
    with client.messages.stream(
        model=experiment["name"], max_tokens=20, metadata={"user_id": key},
        messages=[{"role": "user", "content": "again"}],
    ) as stream:  # fmt: skip
        assert stream.get_final_text()
    assert upstream.requests[-1].model == "sim-b"
    (first, second) = sorted(
        events_of(live_server, experiment["id"], at_least=2), key=lambda e: e.created_at
    )
    assert first.experiment_arm_id == second.experiment_arm_id == _arm_ids(experiment)[1]
    assert (first.source, first.input_tokens) == ("anthropic", 7)


def test_the_same_key_keeps_its_arm_and_no_key_means_the_caller(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user = live_server.create_user()
    experiment, _ = two_arms(live_server, user, openai_sim)
    client = openai_sdk(live_server, user)
    messages: Any = [{"role": "user", "content": "hi"}]
    for key in ("alice", "bob", None):
        seen = set()
        for _ in range(4):
            if key is None:
                client.chat.completions.create(model=experiment["name"], messages=messages)
            else:
                client.chat.completions.create(
                    model=experiment["name"], messages=messages, user=key
                )
            seen.add(openai_sim.requests[-1].model)
        assert len(seen) == 1, (key, seen)


def test_a_paused_experiment_answers_a_clear_error(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    experiment, _ = two_arms(live_server, user, openai_sim)
    with live_server.client(user) as http:
        assert http.post(f"/api/experiments/{experiment['id']}/pause").status_code == 200
    calls = len(openai_sim.requests)
    with pytest.raises(openai.BadRequestError) as raised:
        openai_sdk(live_server, user).chat.completions.create(
            model=experiment["name"], messages=[{"role": "user", "content": "hi"}]
        )
    assert "is paused" in raised.value.message
    assert raised.value.param == "model"
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_sdk(live_server, user).messages.create(
            model=experiment["name"], max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert "is paused" in refused.value.message
    assert len(openai_sim.requests) == calls  # refused before any upstream call


def test_models_lists_running_experiments_and_embeddings_refuse_them(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    running, _ = two_arms(live_server, user, openai_sim)
    draft, _ = two_arms(live_server, user, openai_sim, start=False)
    client = openai_sdk(live_server, user)
    listed = {m.id for m in client.models.list()}
    assert running["name"] in listed
    assert draft["name"] not in listed
    assert client.models.retrieve(running["name"]).id == running["name"]
    anthropic_listed = {m.id for m in anthropic_sdk(live_server, user).models.list(limit=1000)}
    assert running["name"] in anthropic_listed
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model=running["name"], input="hi")
    assert raised.value.param == "model"
    # another user neither lists nor uses it
    other = live_server.create_user()
    assert running["name"] not in {m.id for m in openai_sdk(live_server, other).models.list()}
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {other}"}) as h:
        answer = h.post("/v1/chat/completions", json={
            "model": running["name"], "messages": [{"role": "user", "content": "hi"}],
        })  # fmt: skip
    assert answer.status_code == 404
