"""/api/experiments over real HTTP on both databases: create, read, change, delete, the
lifecycle, who may see and change what, and bad input refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from modelreg.simulators import SimulatorServer
from tests.api._helpers import assert_error
from tests.experiments.helpers import create_experiment, create_model, two_arms, unique
from tests.fixtures.server import LiveServer


def test_create_read_list_update_delete(server: LiveServer, openai_sim: SimulatorServer) -> None:
    user = server.create_user()
    a, b = (create_model(server, user, openai_sim) for _ in range(2))
    with server.client(user) as http:
        made = create_experiment(http, [a["id"], b["name"]], [3, 1], description="which?")
        assert made["status"] == "draft"
        assert made["is_global"] is False
        assert [arm["model_name"] for arm in made["arms"]] == [a["name"], b["name"]]
        assert [arm["share"] for arm in made["arms"]] == [0.75, 0.25]
        assert made["started_at"] is None
        url = f"/api/experiments/{made['id']}"
        assert http.get(url).json() == made
        assert made["id"] in [e["id"] for e in http.get("/api/experiments").json()]

        changed = http.patch(url, json={"description": "changed", "arms": [
            {"model_id": b["id"], "weight": 1}, {"model_id": a["id"], "weight": 1},
        ]})  # fmt: skip
        assert changed.status_code == 200, changed.text
        assert changed.json()["description"] == "changed"
        assert [arm["model_name"] for arm in changed.json()["arms"]] == [b["name"], a["name"]]

        assert http.delete(url).status_code == 204
        assert_error(http.get(url), 404, "not_found")


def test_lifecycle_and_a_stopped_experiment_keeps_its_data(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user = server.create_user()
    experiment, _ = two_arms(server, user, openai_sim, start=False)
    url = f"/api/experiments/{experiment['id']}"
    with server.client(user) as http:
        assert_error(http.post(f"{url}/pause"), 422, "validation_error", "status")
        started = http.post(f"{url}/start").json()
        assert started["status"] == "running"
        assert started["started_at"] is not None
        # arms are fixed once started; the name and description are not
        arms = [{"model_id": a["model_id"], "weight": 2} for a in started["arms"]]
        assert_error(http.patch(url, json={"arms": arms}), 422, "validation_error", "arms")
        assert http.patch(url, json={"name": unique("renamed")}).status_code == 200
        assert http.post(f"{url}/pause").json()["status"] == "paused"
        assert http.post(f"{url}/start").json()["status"] == "running"
        stopped = http.post(f"{url}/stop").json()
        assert stopped["status"] == "stopped"
        assert stopped["stopped_at"] is not None
        assert_error(http.post(f"{url}/start"), 422, "validation_error", "status")
        # still there, with its results
        assert http.get(url).json()["status"] == "stopped"
        results = http.get(f"{url}/results")
        assert results.status_code == 200, results.text
        assert [a["requests"] for a in results.json()["arms"]] == [0, 0]


def test_others_personal_experiments_are_404_and_company_ones_admin_only(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    owner, other = server.create_user(), server.create_user()
    experiment, _ = two_arms(server, owner, openai_sim, start=False)
    url = f"/api/experiments/{experiment['id']}"
    for token in (other, server.admin_token):
        with server.client(token) as http:
            for method, path in (
                ("GET", url), ("PATCH", url), ("DELETE", url), ("POST", f"{url}/start"),
                ("POST", f"{url}/pause"), ("POST", f"{url}/stop"), ("GET", f"{url}/results"),
            ):  # fmt: skip
                body = {"description": "x"} if method == "PATCH" else None
                assert_error(http.request(method, path, json=body), 404, "not_found")
            assert experiment["id"] not in [e["id"] for e in http.get("/api/experiments").json()]

    company = [
        create_model(server, server.admin_token, openai_sim, is_global=True) for _ in range(2)
    ]
    with server.client(other) as http:
        arms = [{"model_id": m["id"], "weight": 1} for m in company]
        refused = http.post("/api/experiments", json={
            "name": unique("exp"), "arms": arms, "is_global": True,
        })  # fmt: skip
        assert_error(refused, 403, "permission_denied")
    with server.client(server.admin_token) as http:
        shared = create_experiment(http, [m["id"] for m in company], is_global=True)
        assert shared["is_global"] is True
    with server.client(other) as http:  # everyone sees it; only admins change it
        assert http.get(f"/api/experiments/{shared['id']}").status_code == 200
        assert_error(http.post(f"/api/experiments/{shared['id']}/start"), 403, "permission_denied")
        assert_error(http.delete(f"/api/experiments/{shared['id']}"), 403, "permission_denied")


def _post(server: LiveServer, token: str, body: dict[str, Any]) -> Any:
    with server.client(token) as http:
        return http.post("/api/experiments", json=body)


def test_bad_arms_are_refused_naming_the_field(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user, other = server.create_user(), server.create_user()
    a, b = (create_model(server, user, openai_sim) for _ in range(2))
    disabled = create_model(server, user, openai_sim, enabled=False)
    embedding = create_model(server, user, openai_sim, model_id="text-embedding-3-small")
    foreign = create_model(server, other, openai_sim)

    def arms(*pairs: tuple[str, float]) -> dict[str, Any]:
        return {"name": unique("exp"), "arms": [{"model_id": m, "weight": w} for m, w in pairs]}

    cases = [
        (arms((a["id"], -1), (b["id"], 1)), "arms.0.weight"),
        (arms((a["id"], 0), (b["id"], 0)), "arms"),
        (arms((a["id"], 1), (disabled["id"], 1)), "arms.1.model_id"),
        (arms((a["id"], 1), (foreign["id"], 1)), "arms.1.model_id"),
        (arms((embedding["id"], 1), (b["id"], 1)), "arms.0.model_id"),
        (arms((a["id"], 1), (a["name"], 1)), "arms.1.model_id"),
        (arms((a["id"], 1)), "arms"),
        (arms((a["id"], 1), ("no-such-model", 1)), "arms.1.model_id"),
    ]
    for body, field in cases:
        assert_error(_post(server, user, body), 422, "validation_error", field)
    refused_names = {body["name"] for body, _ in cases}
    # a company experiment takes company models only
    admin_model = create_model(server, server.admin_token, openai_sim)
    company = create_model(server, server.admin_token, openai_sim, is_global=True)
    body = {**arms((company["id"], 1), (admin_model["id"], 1)), "is_global": True}
    assert_error(
        _post(server, server.admin_token, body), 422, "validation_error", "arms.1.model_id"
    )
    with server.client(user) as http:  # nothing half-written
        assert not refused_names & {e["name"] for e in http.get("/api/experiments").json()}


def test_names_clash_with_models_both_ways(server: LiveServer, openai_sim: SimulatorServer) -> None:
    user = server.create_user()
    a, b = (create_model(server, user, openai_sim) for _ in range(2))
    company = create_model(server, server.admin_token, openai_sim, is_global=True)
    for taken in (a["name"], company["name"]):
        body = {"name": taken, "arms": [{"model_id": m["id"], "weight": 1} for m in (a, b)]}
        assert_error(_post(server, user, body), 422, "validation_error", "name")
    with server.client(user) as http:
        experiment = create_experiment(http, [a["id"], b["id"]])
        # a second experiment of that name, and a rename onto a model's name
        again = {
            "name": experiment["name"],
            "arms": [{"model_id": a["id"], "weight": 1}, {"model_id": b["id"], "weight": 1}],
        }
        assert_error(http.post("/api/experiments", json=again), 422, "validation_error", "name")
        renamed = http.patch(f"/api/experiments/{experiment['id']}", json={"name": a["name"]})
        assert_error(renamed, 422, "validation_error", "name")
    # the other way: a model may not take an experiment's name, personal or company
    taken = {"name": experiment["name"]}
    with server.client(user) as http:
        refused = http.post("/api/models", json={**_model_body(openai_sim), **taken})
        assert_error(refused, 422, "validation_error", "name")
        renamed = http.patch(f"/api/models/{a['id']}", json=taken)
        assert_error(renamed, 422, "validation_error", "name")
    with server.client(server.admin_token) as http:
        body = {**_model_body(openai_sim), **taken, "is_global": True}
        assert_error(http.post("/api/models", json=body), 422, "validation_error", "name")


def _model_body(sim: SimulatorServer) -> dict[str, Any]:
    return {"provider": "openai", "base_url": sim.base_url, "model_id": "m", "api_key": "sk-x"}


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "arms": []},
        {"name": "x", "arms": [{"model_id": "a", "weight": "heavy"}] * 2},
        {"name": "x", "arms": [{"model_id": "a", "weight": 1}] * 2, "extra": 1},
        {"name": "nul\x00", "arms": [{"model_id": "a", "weight": 1}] * 2},
        {"name": "x", "arms": [{"model_id": "a", "weight": 1e9}] * 2},
    ],
)
def test_malformed_bodies_are_422(server: LiveServer, body: dict[str, Any]) -> None:
    user = server.create_user()
    answer = _post(server, user, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"]
