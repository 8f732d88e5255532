"""Embeddings pass-through for OpenAI-compatible upstreams: the body is forwarded with only
`model` replaced (and the model's default `dimensions` where the caller gave none), so token
ids (`input=[[15339, 1917]]`, what LangChain's OpenAIEmbeddings sends), `user`,
`encoding_format` and `dimensions` reach the upstream as sent, and its JSON comes back
unchanged but for masked credentials. The upstream call is the client's (`send_raw`: breaker,
retries, status mapping); the usage is booked from the answer's `usage.prompt_tokens`.

Other providers (Ollama's native API, Hugging Face TEI/TGI) take texts only: their embeddings
are translated through the unified client (api/routes/gateway_openai.py).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from modelreg.actor import Actor
from modelreg.client.scrub import credential_bytes, scrub_bytes, scrub_credentials
from modelreg.errors import ProviderError, UnexpectedResponseError
from modelreg.gateway.core import account
from modelreg.model_config import ModelConfig
from modelreg.providers.base import HttpRequest
from modelreg.providers.lookup import get_adapter
from modelreg.providers.openai_compat import OpenAICompatAdapter
from modelreg.services import Services
from modelreg.types import Usage

__all__ = ["forward_embeddings"]


async def forward_embeddings(
    services: Services, actor: Actor, model: ModelConfig, data: dict[str, Any]
) -> bytes | None:
    """The upstream's embeddings JSON, or None when the model is not OpenAI-compatible."""
    adapter = get_adapter(model)
    if not isinstance(adapter, OpenAICompatAdapter):
        return None
    body = {**data, "model": model.model_id}
    if model.options.get("dimensions") and body.get("dimensions") is None:
        body["dimensions"] = model.options["dimensions"]
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(adapter.auth_headers(model))
    http = HttpRequest("POST", adapter.embeddings_url(model), headers, orjson.dumps(body))
    started = time.perf_counter()
    try:
        raw = await services.client.send_raw(adapter, model, http)
        async with raw.stack:
            answer = scrub_bytes(await raw.response.read(), credential_bytes(model))
        usage = _usage(answer, adapter, model, raw.response.headers)
    except ProviderError as e:
        account(services, actor, model, source="embeddings", usage=None, status="error",
                latency_ms=(time.perf_counter() - started) * 1000, error=e)  # fmt: skip
        raise
    account(services, actor, model, source="embeddings", usage=usage,
            latency_ms=(time.perf_counter() - started) * 1000)  # fmt: skip
    return answer


def _usage(answer: bytes, adapter: OpenAICompatAdapter, model: ModelConfig, headers: Any) -> Usage:
    """The answer's usage, after checking that a 200 is a list of embeddings (an error object
    in a 200 is raised as the error it describes, anything else is the upstream's fault)."""
    try:
        payload = orjson.loads(answer)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        usage = payload.get("usage")
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return Usage(input_tokens=int(tokens or 0))
    if isinstance(payload, dict) and payload.get("error"):
        raise scrub_credentials(adapter.map_error(502, headers, answer, model), model)
    raise UnexpectedResponseError(
        f"{model.name}: the upstream answered 200 with a body that is not embeddings",
        provider=model.provider,
        model=model.name,
    )
