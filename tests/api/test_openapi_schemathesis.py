"""Property-based tests of the registry, auth and operations endpoints from /openapi.json:
no 5xx, every answer conforms to the documented status codes, content types and schemas.

Bounded (20 examples per operation) to keep the suite quick; chat and gateway endpoints are
left to their own tests (they call upstream providers)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.fixtures.server import LiveServer

# the operations this module owns; /api/chat, /api/conversations and /v1 are tested elsewhere
OWNED = r"^/(api/(models|users|tokens|audit)|healthz|readyz|metrics)"


@pytest.fixture(scope="module")
def fuzz_server(live_server_factory: Any) -> LiveServer:
    server: LiveServer = live_server_factory()
    return server


def test_registry_endpoints_conform_to_their_schema(fuzz_server: LiveServer) -> None:
    # schemathesis' pytest plugin (from_fixture) does not run on pytest 9; drive each
    # operation's hypothesis strategy directly instead, and report every failing operation
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json").include(
        path_regex=OWNED
    )
    auth = {"Authorization": f"Bearer {fuzz_server.admin_token}"}
    failures: dict[str, str] = {}
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # positive data acceptance is left out: validators check more than JSON Schema can
            # say (URL schemes, control characters), so "schema-valid" inputs may rightly be 422
            case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])

        tested += 1
        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect all, then fail with the list
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:2000]}"
    assert tested >= 12, "the registry operations are in the schema"
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())


def test_every_route_documents_its_errors(fuzz_server: LiveServer) -> None:
    with fuzz_server.client() as http:
        document = http.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        if not path.startswith(("/api/models", "/api/users", "/api/tokens", "/api/audit")):
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "401" in codes, f"{method.upper()} {path} does not document 401"
            for code in codes - {"200", "201", "204"}:
                schema_ref = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema_ref["$ref"].endswith("/ErrorBody"), (method, path, code)
