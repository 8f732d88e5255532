"""The blind arena over real HTTP on SQLite and PostgreSQL: names hidden until the vote, one
vote per battle, someone else's battle not found, the leaderboard per scope."""

from __future__ import annotations

from typing import Any

import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import assert_error
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, parse_sse


@pytest.fixture(scope="module")
def arena_server(live_server_factory: Any) -> LiveServer:
    """A server of its own: the models to draw from and the votes are this module's only."""
    server: LiveServer = live_server_factory()
    return server


def _visible(server: LiveServer, token: str) -> dict[str, dict[str, Any]]:
    with server.client(token) as http:
        return {m["id"]: m for m in http.get("/api/models").json()}


def _hidden(raw: bytes | str, models: dict[str, dict[str, Any]]) -> None:
    text = raw if isinstance(raw, str) else raw.decode()
    for model in models.values():
        assert model["id"] not in text
        assert model["name"] not in text
        assert model["model_id"] not in text


def test_json_battle_hides_names_until_the_vote_and_votes_once(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token, other = server.create_user(), server.create_user()
    for i in range(2):
        create_model(server, token, openai_sim, model_id=f"arena-up-{i}-{token[-6:]}")
    visible = _visible(server, token)
    with server.client(token) as http:
        answer = http.post("/api/arena/battles", json={"message": "Which is better?"})
        assert answer.status_code == 200, answer.text
        battle = answer.json()
        _hidden(answer.text, visible)
        assert [a["label"] for a in battle["answers"]] == ["A", "B"]
        assert all(a["status"] in ("complete", "error") for a in battle["answers"])

        url = f"/api/arena/battles/{battle['battle_id']}/vote"
        with server.client(other) as intruder:
            assert_error(intruder.post(url, json={"vote": "a"}), 404, "not_found")
        assert_error(http.post(url, json={"vote": "maybe"}), 422, "validation_error", "vote")
        voted = http.post(url, json={"vote": "a"})
        assert voted.status_code == 200, voted.text
        revealed = voted.json()
        assert [m["label"] for m in revealed["models"]] == ["A", "B"]
        ids = [m["model_id"] for m in revealed["models"]]
        assert len(set(ids)) == 2
        assert set(ids) <= set(visible)
        assert [m["name"] for m in revealed["models"]] == [visible[i]["name"] for i in ids]
        assert_error(http.post(url, json={"vote": "b"}), 409, "conflict")

        board = http.get("/api/arena/leaderboard", params={"scope": "mine"}).json()
    assert board["votes"] == 1
    assert board["scope"] == "mine"
    rows = {r["model_id"]: r for r in board["models"]}
    assert rows[ids[0]]["wins"] == 1
    assert rows[ids[1]]["losses"] == 1
    assert rows[ids[0]]["rank"] == 1
    # one vote says little: both ranks stay possible for both models
    assert all((r["rank_best"], r["rank_worst"]) == (1, 2) for r in rows.values())
    assert all(r["rating_low"] <= r["rating"] <= r["rating_high"] for r in rows.values())


def test_streamed_battle_tags_columns_by_label_and_never_names_a_model(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    for i in range(2):
        create_model(server, token, openai_sim, model_id=f"arena-sse-{i}-{token[-6:]}")
    visible = _visible(server, token)
    openai_sim.enqueue(Script(chunks=["a ", "b ", "c"], chunk_delay=0.03, repeat=2))
    with (
        server.client(token) as http,
        http.stream("POST", "/api/arena/battles", json={"message": "x", "stream": True}) as answer,
    ):
        assert answer.status_code == 200
        raw = answer.read()
    _hidden(raw, visible)
    events = parse_sse(raw)
    assert events[0][0] == "battle"
    assert events[-1][0] == "end"
    body = events[1:-1]
    assert {n for n, _ in body} <= {"meta", "text_delta", "done"}
    for label, column in (("A", 0), ("B", 1)):
        mine = [(n, d) for n, d in body if d["column"] == column]
        assert all(d["label"] == label for _, d in mine)
        assert "".join(d["text"] for n, d in mine if n == "text_delta") == "a b c"
        assert mine[-1][0] == "done"


def test_the_arena_needs_two_chat_models(live_server_factory: Any) -> None:
    lonely: LiveServer = live_server_factory()  # no company models at all
    token = lonely.create_user()
    with lonely.client(token) as http:
        answer = http.post("/api/arena/battles", json={"message": "hi"})
    assert_error(answer, 409, "not_enough_models")


def test_leaderboard_scopes_company_and_mine(
    arena_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    admin = arena_server.admin_token
    company = [
        create_model(arena_server, admin, openai_sim, is_global=True, model_id=f"co-{i}")
        for i in range(2)
    ]
    alice, bob = arena_server.create_user(), arena_server.create_user()
    create_model(arena_server, bob, openai_sim, model_id="text-embedding-3-small")  # never drawn
    votes = {"alice": 0, "bob": 0}
    for who, token, choice in (("alice", alice, "a"), ("alice", alice, "tie"),
                               ("bob", bob, "both_bad")):  # fmt: skip
        with arena_server.client(token) as http:
            battle = http.post("/api/arena/battles", json={"message": "hi"}).json()
            url = f"/api/arena/battles/{battle['battle_id']}/vote"
            revealed = http.post(url, json={"vote": choice}).json()
        assert {m["model_id"] for m in revealed["models"]} == {m["id"] for m in company}
        votes[who] += 1
    with arena_server.client(alice) as http:
        mine = http.get("/api/arena/leaderboard", params={"scope": "mine"}).json()
        everyone = http.get("/api/arena/leaderboard").json()
        bad = http.get("/api/arena/leaderboard", params={"scope": "team"})
    assert_error(bad, 422, "validation_error", "scope")
    assert mine["votes"] == 2
    assert everyone["votes"] == 3
    assert everyone["both_bad"] == 1
    assert everyone["resamples"] >= 200
    assert {r["model_id"] for r in everyone["models"]} == {m["id"] for m in company}
    assert sum(r["ties"] for r in everyone["models"]) == 4  # tie + both_bad, on both sides
    # a private model's battles never reach the company board
    with arena_server.client(bob) as http:
        create_model(arena_server, bob, openai_sim, model_id="bobs-own")
        for _ in range(6):  # bob's own model is drawn in some of these
            battle = http.post("/api/arena/battles", json={"message": "hi"}).json()
            http.post(f"/api/arena/battles/{battle['battle_id']}/vote", json={"vote": "b"})
        names = {r["name"] for r in http.get("/api/arena/leaderboard").json()["models"]}
    assert names == {m["name"] for m in company}
