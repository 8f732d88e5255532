"""Hugging Face: the Inference Providers router and self-hosted TGI / TEI (reference §5.4, §10).

Chat is OpenAI-compatible on both, so this is the OpenAI-compatible adapter with a profile
(`stop` as a list, `max_tokens`, no `developer`) and a few quirks handled by the shared code:
TGI errors are `{"error": str, "error_type": ...}` (422 validation, 429 overloaded), tool-call
arguments come as strings with an extra `description`, and `finish_reason` may be
`stop_sequence` (→ stop).

What differs is around chat:
- base URL: the router's is `https://router.huggingface.co/v1`; for TGI the `/v1` is added
  when missing;
- embeddings: on the router, the hf-inference feature-extraction route; elsewhere TEI's
  `/embed`; `options["embeddings_url"]` overrides both;
- connection test: the router's model list needs no auth, so the token is checked with
  `GET https://huggingface.co/api/whoami-v2`; TGI answers `GET /v1/models`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from modelreg.errors import UnexpectedResponseError
from modelreg.model_config import ModelConfig
from modelreg.providers._common import error_from_payload, load_json, unexpected
from modelreg.providers.base import HttpRequest
from modelreg.providers.openai_compat import OpenAICompatAdapter, OpenAIProfile
from modelreg.types import EmbeddingResponse

__all__ = ["ROUTER_BASE_URL", "WHOAMI_URL", "HuggingFaceAdapter"]

ROUTER_HOST = "router.huggingface.co"
ROUTER_BASE_URL = f"https://{ROUTER_HOST}/v1"
FEATURE_EXTRACTION_URL = (
    f"https://{ROUTER_HOST}/hf-inference/models/{{model}}/pipeline/feature-extraction"
)
WHOAMI_URL = "https://huggingface.co/api/whoami-v2"

HF_PROFILE = OpenAIProfile("huggingface", ROUTER_BASE_URL)


class HuggingFaceAdapter(OpenAICompatAdapter):
    name: ClassVar[str] = "huggingface"

    def __init__(self, profile: OpenAIProfile = HF_PROFILE) -> None:
        super().__init__(profile)

    @staticmethod
    def is_router(model: ModelConfig) -> bool:
        if model.options.get("hf_api") in ("router", "tgi"):
            return bool(model.options["hf_api"] == "router")
        return not model.base_url or urlsplit(model.base_url).hostname == ROUTER_HOST

    def base_url(self, model: ModelConfig) -> str:
        base = super().base_url(model)
        return base if base.endswith("/v1") else f"{base}/v1"

    def embeddings_url(self, model: ModelConfig) -> str:
        if model.options.get("embeddings_url"):
            return str(model.options["embeddings_url"])
        if self.is_router(model):
            return FEATURE_EXTRACTION_URL.format(model=quote(model.model_id, safe="/"))
        return f"{self.base_url(model).removesuffix('/v1')}/embed"

    def build_embeddings_request(self, inputs: Sequence[str], model: ModelConfig) -> HttpRequest:
        body: dict[str, Any] = {"inputs": list(inputs)}
        # both take their parameters at the root, not under `parameters`
        for key in ("normalize", "truncate", "truncation_direction", "prompt_name"):
            if key in model.options:
                body[key] = model.options[key]
        return self._post(self.embeddings_url(model), body, model)

    def parse_embeddings(self, body: bytes, model: ModelConfig) -> EmbeddingResponse:
        payload = load_json(body, model)
        if isinstance(payload, dict):
            if "error" in payload:
                raise error_from_payload(payload, model)
            if "data" in payload:  # an OpenAI-style /v1/embeddings URL given as override
                return super().parse_embeddings(body, model)
        return EmbeddingResponse(vectors=_vectors(payload, model), model=model.model_id)

    def build_connection_test(self, model: ModelConfig) -> HttpRequest:
        if self.is_router(model):
            headers = {"Accept": "application/json", **self.auth_headers(model)}
            return HttpRequest("GET", WHOAMI_URL, headers)
        return super().build_connection_test(model)

    def check_connection_response(self, body: bytes, model: ModelConfig) -> None:
        """whoami proves the token; a TGI server serves one model whatever its name."""


def _vectors(payload: Any, model: ModelConfig) -> tuple[tuple[float, ...], ...]:
    """`[[float]]` (one vector per input), or a bare `[float]` for a single input."""
    if not isinstance(payload, list) or not payload:
        raise unexpected(model, "Hugging Face sent embeddings that are not a list of vectors")
    rows = payload if isinstance(payload[0], list) else [payload]
    try:
        return tuple(tuple(float(x) for x in row) for row in rows)
    except (TypeError, ValueError) as e:
        # a list of lists of lists: per-token vectors from a model without pooling
        raise UnexpectedResponseError(
            "Hugging Face sent per-token vectors, not one embedding per input; use a "
            f"sentence-embedding model ({e})",
            provider=model.provider,
            model=model.name,
        ) from e
