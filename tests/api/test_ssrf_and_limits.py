"""SSRF refusals of personal models (before any socket opens) and rate limits (429).

The SSRF server runs with `allow_private_base_urls=False` and a stub resolver for the
connection-test check, so no test here resolves a public name or connects anywhere but
loopback; `socket_watch` makes sure of it by refusing and recording any other connect.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from modelreg.actor import Actor
from modelreg.errors import RateLimitedError
from modelreg.model_config import ModelConfig
from modelreg.ratelimit import RateLimiter
from modelreg.settings import Settings
from tests.api._helpers import NOWHERE, assert_error, create_model, model_payload
from tests.fixtures.network import SocketWatch
from tests.fixtures.server import LiveServer

STUB_NAMES = {"internal.test": ["10.0.0.7"], "metadata.test": ["169.254.169.254"]}


def _stub_resolve(host: str) -> list[str]:
    if host in STUB_NAMES:
        return STUB_NAMES[host]
    raise AssertionError(f"unexpected lookup of {host!r}")


@pytest.fixture(scope="module")
def strict_server(live_server_factory: Any) -> LiveServer:
    server: LiveServer = live_server_factory(
        allow_private_base_urls=False, url_resolver=_stub_resolve
    )
    return server


@pytest.mark.parametrize(
    "base_url",
    [
        "http://10.0.0.1/v1",
        "http://169.254.169.254/latest",
        "http://[::1]:11434",
        "http://127.0.0.1:11434",
        "http://localhost:11434",  # a name resolving to loopback (/etc/hosts, no DNS)
        "http://[::ffff:10.0.0.1]/v1",
    ],
)
def test_personal_models_may_not_point_at_internal_addresses(
    strict_server: LiveServer, socket_watch: SocketWatch, base_url: str
) -> None:
    with strict_server.client(strict_server.create_user()) as http:
        created = http.post("/api/models", json=model_payload(base_url=base_url))
        assert_error(created, 422, "unsafe_url", field="base_url")
        draft = model_payload(base_url=base_url)
        tested = http.post("/api/models/test-connection", json=draft)
        assert_error(tested, 422, "unsafe_url", field="base_url")
    assert socket_watch.refused == []


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9101/v1", "http://internal.test/v1"])
def test_a_private_address_refusal_says_why_and_what_to_do(
    strict_server: LiveServer, socket_watch: SocketWatch, base_url: str
) -> None:
    """The README's first steps point a model at a simulator on loopback: the refusal must
    tell a member why (personal models could probe the internal network) and the ways out
    (a company-wide model, added by an admin; or the operator's setting)."""
    with strict_server.client(strict_server.create_user()) as http:
        answers = [http.post("/api/models/test-connection", json=model_payload(base_url=base_url))]
        if base_url.startswith("http://127."):  # saving resolves with the system resolver
            answers.append(http.post("/api/models", json=model_payload(base_url=base_url)))
        for answer in answers:
            assert_error(answer, 422, "unsafe_url", field="base_url")
            message = answer.json()["error"]["message"]
            assert "personal model" in message
            assert "company-wide" in message
            assert "MODELREG_ALLOW_PRIVATE_BASE_URLS" in message
    with strict_server.client(strict_server.admin_token) as http:
        # an admin's personal draft: the hint offers the company-wide box, not "ask an admin"
        answer = http.post("/api/models/test-connection", json=model_payload(base_url=base_url))
        message = answer.json()["error"]["message"]
        assert "tick Company-wide" in message
    assert socket_watch.refused == []


def test_a_metadata_address_gets_no_hint_that_it_could_be_allowed(
    strict_server: LiveServer,
) -> None:
    with strict_server.client(strict_server.admin_token) as http:
        body = model_payload(base_url="http://169.254.169.254/latest") | {"is_global": True}
        answer = http.post("/api/models", json=body)
    assert_error(answer, 422, "unsafe_url", field="base_url")
    assert "MODELREG_ALLOW_PRIVATE_BASE_URLS" not in answer.json()["error"]["message"]


@pytest.mark.parametrize("host", sorted(STUB_NAMES))
def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    strict_server: LiveServer, socket_watch: SocketWatch, host: str
) -> None:
    with strict_server.client(strict_server.create_user()) as http:
        draft = model_payload(base_url=f"http://{host}/v1")
        tested = http.post("/api/models/test-connection", json=draft)
        assert_error(tested, 422, "unsafe_url", field="base_url")
    assert socket_watch.refused == []


def test_updating_a_personal_model_to_an_internal_address_is_refused(
    live_server_factory: Any, socket_watch: SocketWatch
) -> None:
    server: LiveServer = live_server_factory(allow_private_base_urls=False)
    with server.client(server.create_user()) as http:
        # a public literal: saving checks the address but contacts nothing (socket_watch)
        model = create_model(http, base_url="http://8.8.8.8/v1")
        patched = http.patch(f"/api/models/{model['id']}", json={"base_url": "http://10.1.2.3"})
        assert_error(patched, 422, "unsafe_url", field="base_url")
        assert http.get(f"/api/models/{model['id']}").json()["base_url"] == model["base_url"]
    assert socket_watch.refused == []


def test_admins_may_point_global_models_at_local_servers(strict_server: LiveServer) -> None:
    with strict_server.client(strict_server.admin_token) as http:
        created = http.post("/api/models", json=model_payload(base_url=NOWHERE, is_global=True))
        assert created.status_code == 201, created.text


# --- rate limits ---------------------------------------------------------------------------


def _actor() -> Actor:
    return Actor(id=uuid.uuid4(), username="u", role="user")


def _model(**limits: int) -> ModelConfig:
    return ModelConfig(
        id=str(uuid.uuid4()), name="m", provider="openai", base_url=NOWHERE, model_id="x", **limits
    )


async def test_per_user_requests_per_minute() -> None:
    limiter = RateLimiter(Settings(user_rpm_limit=2))
    actor, model = _actor(), _model()
    await limiter.check_request(actor, model)
    await limiter.check_request(actor, model)
    with pytest.raises(RateLimitedError) as refused:
        await limiter.check_request(actor, model)
    assert refused.value.retry_after is not None
    assert 0 < refused.value.retry_after <= 60
    await limiter.check_request(_actor(), model)  # another user has their own budget
    await limiter.aclose()


async def test_per_model_requests_per_minute_and_refusals_do_not_count() -> None:
    limiter = RateLimiter(Settings(user_rpm_limit=5))
    actor, model = _actor(), _model(rpm_limit=1)
    await limiter.check_request(actor, model)
    for _ in range(6):  # refused by the model's limit: never booked against the user
        with pytest.raises(RateLimitedError):
            await limiter.check_request(actor, model)
    for _ in range(4):
        await limiter.check_request(actor, _model())  # the user's budget is intact
    await limiter.aclose()


async def test_tokens_per_minute() -> None:
    limiter = RateLimiter(Settings(user_tpm_limit=100))
    actor, model = _actor(), _model(tpm_limit=1000)
    await limiter.check_tokens(actor, model)
    await limiter.add_tokens(actor, model, 150)  # booked even past the limit
    with pytest.raises(RateLimitedError) as refused:
        await limiter.check_tokens(actor, model)
    assert refused.value.retry_after is not None
    other = _actor()
    await limiter.check_tokens(other, model)
    await limiter.add_tokens(other, model, 900)
    with pytest.raises(RateLimitedError):  # the model's 1000 are used up by the two users
        await limiter.check_tokens(_actor(), model)
    await limiter.aclose()


@pytest.mark.redis
async def test_replicas_sharing_redis_share_the_limit(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, user_rpm_limit=3)
    prefix = f"modelreg-test-{uuid.uuid4().hex[:8]}"
    first = RateLimiter(settings, key_prefix=prefix)
    second = RateLimiter(settings, key_prefix=prefix)
    actor, model = _actor(), _model()
    try:
        await first.check_request(actor, model)
        await second.check_request(actor, model)
        await first.check_request(actor, model)
        with pytest.raises(RateLimitedError):
            await second.check_request(actor, model)
        await second.add_tokens(actor, _model(tpm_limit=10), 0)
    finally:
        await first.aclose()
        await second.aclose()


def test_over_the_limit_is_429_with_retry_after(live_server_factory: Any, openai_sim: Any) -> None:
    server: LiveServer = live_server_factory(user_rpm_limit=1)
    with server.client(server.create_user()) as http:
        model = create_model(http, openai_sim)
        body = {"model_id": model["id"], "message": "hi"}
        first = http.post("/api/chat", json=body)
        assert first.status_code == 200, first.text
        second = http.post("/api/chat", json=body)
        error = assert_error(second, 429, "rate_limited")
        assert "limit" in error["message"]
        assert 1 <= int(second.headers["retry-after"]) <= 60
