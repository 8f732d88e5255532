"""Property-based tests of every operation in /openapi.json: no 5xx, and every answer conforms to
the documented status codes, content types and schemas.

The server has models on the provider simulators, so generated requests that are valid reach a
real upstream and succeed: the generated `model` / `model_id` / `llm_model_id` and the path's
`conversation_id` are sometimes replaced by a real one (a working model, a disabled one, one
without a key; a real conversation), otherwise kept as generated (unknown names). Bounded
(EXAMPLES per operation) to keep the suite quick; `make fuzz` runs the same tests with a larger
budget (MODELREG_FUZZ_EXAMPLES, MODELREG_FUZZ_NEGATIVE_EXAMPLES)."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from modelreg.simulators import SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model

EXAMPLES = int(os.environ.get("MODELREG_FUZZ_EXAMPLES", "20"))
NEGATIVE_EXAMPLES = int(os.environ.get("MODELREG_FUZZ_NEGATIVE_EXAMPLES", "10"))

# every operation of the API; a new route must be added here (test_every_operation_is_fuzzed)
OPERATIONS = [
    "GET /api/models",
    "POST /api/models",
    "GET /api/models/templates",
    "POST /api/models/from-template",
    "POST /api/models/test-connection",
    "GET /api/models/{model_id}",
    "PATCH /api/models/{model_id}",
    "DELETE /api/models/{model_id}",
    "GET /api/users",
    "POST /api/users",
    "GET /api/users/me",
    "PATCH /api/users/me",
    "POST /api/users/me/password",
    "PATCH /api/users/{user_id}",
    "POST /api/users/{user_id}/password",
    "DELETE /api/users/{user_id}",
    "GET /api/personal-models",
    "GET /api/tokens",
    "POST /api/tokens",
    "DELETE /api/tokens/{token_id}",
    "GET /api/audit",
    "GET /api/usage",
    "GET /api/budgets",
    "POST /api/budgets",
    "GET /api/budgets/{budget_id}",
    "PATCH /api/budgets/{budget_id}",
    "DELETE /api/budgets/{budget_id}",
    "GET /api/analytics/models",
    "GET /api/analytics/models.csv",
    "POST /api/messages/{message_id}/feedback",
    "DELETE /api/messages/{message_id}/feedback",
    "GET /api/conversations/{conversation_id}/feedback",
    "POST /api/responses/{response_id}/feedback",
    "DELETE /api/responses/{response_id}/feedback",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "POST /api/chat",
    "POST /api/chat/compare",
    "POST /api/arena/battles",
    "POST /api/arena/battles/{battle_id}/vote",
    "GET /api/arena/leaderboard",
    "GET /api/conversations",
    "POST /api/conversations",
    "GET /api/conversations/{conversation_id}",
    "PATCH /api/conversations/{conversation_id}",
    "DELETE /api/conversations/{conversation_id}",
    "GET /api/experiments",
    "POST /api/experiments",
    "GET /api/experiments/{experiment_id}",
    "PATCH /api/experiments/{experiment_id}",
    "DELETE /api/experiments/{experiment_id}",
    "POST /api/experiments/{experiment_id}/start",
    "POST /api/experiments/{experiment_id}/pause",
    "POST /api/experiments/{experiment_id}/stop",
    "GET /api/experiments/{experiment_id}/results",
    "GET /api/conversations/{conversation_id}/settings",
    "PUT /api/conversations/{conversation_id}/settings",
    "GET /api/conversations/{conversation_id}/export",
    "GET /api/conversations/{conversation_id}/images/{image_id}",
    "POST /api/conversations/{conversation_id}/messages/{message_id}/regenerate",
    "POST /api/conversations/{conversation_id}/messages/{message_id}/edit",
    "PUT /api/conversations/{conversation_id}/messages/{message_id}/selected",
    "GET /api/collections",
    "POST /api/collections",
    "GET /api/collections/{collection_id}",
    "PATCH /api/collections/{collection_id}",
    "DELETE /api/collections/{collection_id}",
    "GET /api/collections/{collection_id}/documents",
    "POST /api/collections/{collection_id}/documents",
    "POST /api/collections/{collection_id}/query",
    "GET /api/documents/{document_id}",
    "DELETE /api/documents/{document_id}",
    "GET /v1/models",
    "GET /v1/models/{model}",
    "POST /v1/chat/completions",
    "POST /v1/embeddings",
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
]


@dataclass(frozen=True)
class Targets:
    """Real things for generated requests to aim at; None keeps the generated value. And valid
    bodies per operation, mixed into the generated ones: random data rarely gets past the
    validators, and the success answers (JSON and streams) are the ones to check most."""

    model_names: tuple[str | None, ...]
    model_ids: tuple[str | None, ...]
    conversation_ids: tuple[str | None, ...]
    valid_bodies: dict[str, list[dict[str, Any]]]


def _valid_bodies(names: list[str], conversation_id: str) -> dict[str, list[dict[str, Any]]]:
    chat = [{"role": "user", "content": "Hello"}]
    openai = [{"model": n, "messages": chat} for n in names]
    anthropic = [{"model": n, "max_tokens": 32, "messages": chat} for n in names]
    return {
        "POST /v1/chat/completions": [
            *openai,
            *({**b, "stream": True, "stream_options": {"include_usage": True}} for b in openai),
        ],
        "POST /v1/messages": [*anthropic, *({**b, "stream": True} for b in anthropic)],
        "POST /v1/embeddings": [
            {"model": names[0], "input": "Hello"},
            {"model": names[0], "input": ["a", "b"], "encoding_format": "base64"},
        ],
        "POST /api/chat/compare": [
            {"model_ids": names[:2], "message": "Hello"},
            {"model_ids": names[:2], "message": "Hello", "stream": True},
        ],
        "POST /api/arena/battles": [{"message": "Hello"}, {"message": "Hello", "stream": True}],
        "POST /api/chat": [
            {"model_id": names[0], "message": "Hello"},
            {"model_id": names[1], "message": "Hello", "stream": True},
            {"conversation_id": conversation_id, "message": "Hello again"},
        ],
    }


@pytest.fixture(scope="module")
def fuzz_server(live_server_factory: Any) -> LiveServer:
    server: LiveServer = live_server_factory()
    return server


@pytest.fixture(scope="module")
def targets(
    fuzz_server: LiveServer,
    _openai_sim_server: SimulatorServer,
    _anthropic_sim_server: SimulatorServer,
) -> Targets:
    # the session's simulators, not the per-test `openai_sim`: its reset between tests must
    # not matter here, and no script is queued (the default answer echoes the last message)
    token = fuzz_server.admin_token
    passthrough = create_model(fuzz_server, token, _openai_sim_server, is_global=True)
    translated = create_model(fuzz_server, token, _anthropic_sim_server, is_global=True)
    disabled = create_model(fuzz_server, token, _openai_sim_server, enabled=False)
    keyless = create_model(fuzz_server, token, _openai_sim_server, api_key=None)
    models = (passthrough, translated, disabled, keyless)
    with fuzz_server.client(token) as http:
        answer = http.post(
            "/api/conversations", json={"title": "fuzz", "llm_model_id": passthrough["id"]}
        )
        assert answer.status_code == 201, answer.text
        conversation_id = answer.json()["id"]
    return Targets(
        model_names=(None, *(m["name"] for m in models)),
        model_ids=(None, *(m["id"] for m in models)),
        conversation_ids=(None, conversation_id, conversation_id),
        valid_bodies=_valid_bodies([passthrough["name"], translated["name"]], conversation_id),
    )


@pytest.fixture(scope="module")
def schema(fuzz_server: LiveServer, targets: Targets) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


def _aim(case: Any, name: str | None, model_id: str | None, conv_id: str | None) -> Any:
    body = case.body
    if isinstance(body, dict):
        if name is not None and "model" in body:
            body["model"] = name
        if name is not None and "model_id" in body and case.path.startswith("/api/chat"):
            body["model_id"] = name
        if model_id is not None and "llm_model_id" in body:
            body["llm_model_id"] = model_id
    params = case.path_parameters
    if name is not None and params and "model" in params:
        params["model"] = name
    if conv_id is not None and params and "conversation_id" in params:
        params["conversation_id"] = conv_id
    return case


def _strategy(operation: Any, label: str, targets: Targets, mode: GenerationMode) -> Any:
    if mode is GenerationMode.NEGATIVE:  # aiming would repair the invalid part
        return operation.as_strategy(generation_mode=mode)
    generated = st.builds(
        _aim,
        operation.as_strategy(generation_mode=mode),
        st.sampled_from(targets.model_names),
        st.sampled_from(targets.model_ids),
        st.sampled_from(targets.conversation_ids),
    )
    valid = targets.valid_bodies.get(label)
    if mode is not GenerationMode.POSITIVE or not valid:
        return generated
    known = st.sampled_from(valid).map(
        lambda body: operation.Case(body=copy.deepcopy(body), media_type="application/json")
    )
    return st.one_of(generated, known)


def _run(schema: Any, label: str, token: str, targets: Targets, mode: GenerationMode) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    auth = {"Authorization": f"Bearer {token}"}
    examples = EXAMPLES if mode is GenerationMode.POSITIVE else NEGATIVE_EXAMPLES

    @given(case=_strategy(operation, label, targets, mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        # positive data acceptance is left out: validators check more than JSON Schema can
        # say (URL schemes, control characters, unknown model names), so "schema-valid"
        # inputs may rightly be 4xx
        excluded = [positive_data_acceptance]
        response = case.call(headers=auth)
        if response.status_code == 413:
            # an invalid body over the size cap is refused for its size first: a documented
            # rejection, which schemathesis's list of rejection codes lacks (found by make fuzz)
            excluded.append(negative_data_rejection)
        case.validate_response(response, excluded_checks=excluded)

    check()


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms_to_its_schema(
    fuzz_server: LiveServer, schema: Any, targets: Targets, label: str
) -> None:
    _run(schema, label, fuzz_server.admin_token, targets, GenerationMode.POSITIVE)


def test_every_operation_is_fuzzed(schema: Any) -> None:
    labels = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    assert labels == set(OPERATIONS)


def test_every_route_documents_its_errors(fuzz_server: LiveServer) -> None:
    with fuzz_server.client() as http:
        document = http.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        if path in ("/healthz", "/readyz", "/metrics"):
            continue
        expected = _error_model(path)
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "401" in codes, f"{method.upper()} {path} does not document 401"
            for code in codes - {"200", "201", "204"}:
                content = operation["responses"][code].get("content", {})
                schema_ref = content.get("application/json", {}).get("schema", {})
                assert schema_ref.get("$ref", "").endswith(expected), (method, path, code)


def _error_model(path: str) -> str:
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return "/AnthropicErrorBody"
    if path.startswith("/v1/"):
        return "/OpenAIErrorBody"
    return "/ErrorBody"


# operations without parameters or a body have no invalid input to send
NO_INPUT = {
    "GET /api/models",
    "GET /api/models/templates",
    "GET /api/users",
    "GET /api/users/me",
    "GET /api/personal-models",
    "GET /api/tokens",
    "GET /api/budgets",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /v1/models",
    "GET /api/collections",
}


@pytest.mark.parametrize("label", [op for op in OPERATIONS if op not in NO_INPUT])
def test_invalid_input_is_refused_with_a_documented_4xx(
    fuzz_server: LiveServer, schema: Any, targets: Targets, label: str
) -> None:
    _run(schema, label, fuzz_server.admin_token, targets, GenerationMode.NEGATIVE)
