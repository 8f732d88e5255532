"""Azure OpenAI: the OpenAI-compatible adapter with Azure's URLs and auth.

Classic API: `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`
(the deployment is `model_id`; `api-version` from `options["api_version"]`, default the GA
version 2024-10-21). v1 API: a base URL ending in `/openai/v1` is used like OpenAI's, with the
deployment name as `model` and no api-version.

Auth: `api-key: <key>`, or `Authorization: Bearer <Entra token>` when auth_type is "bearer".
Azure lists base models rather than deployments, so the connection test is a 1-token chat to
the deployment itself.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from modelreg.model_config import ModelConfig
from modelreg.providers._common import dumps, secret_headers
from modelreg.providers.base import HttpRequest
from modelreg.providers.openai_compat import OpenAICompatAdapter, OpenAIProfile

__all__ = ["DEFAULT_API_VERSION", "AzureOpenAIAdapter"]

DEFAULT_API_VERSION = "2024-10-21"

AZURE_PROFILE = OpenAIProfile("azure", max_tokens_field="max_tokens")


class AzureOpenAIAdapter(OpenAICompatAdapter):
    name: ClassVar[str] = "azure"

    def __init__(self, profile: OpenAIProfile = AZURE_PROFILE) -> None:
        super().__init__(profile)

    @staticmethod
    def is_v1(model: ModelConfig) -> bool:
        return model.base_url.rstrip("/").endswith("/openai/v1")

    def _endpoint(self, model: ModelConfig) -> str:
        """The resource endpoint, whether the user gave it with or without `/openai`."""
        base = model.base_url.rstrip("/")
        return base.removesuffix("/openai")

    def _deployment_url(self, model: ModelConfig, path: str) -> str:
        if self.is_v1(model):
            return f"{model.base_url.rstrip('/')}/{path}"
        version = quote(str(model.options.get("api_version") or DEFAULT_API_VERSION), safe="")
        deployment = quote(model.model_id, safe="")
        return (
            f"{self._endpoint(model)}/openai/deployments/{deployment}/{path}?api-version={version}"
        )

    def chat_url(self, model: ModelConfig) -> str:
        return self._deployment_url(model, "chat/completions")

    def embeddings_url(self, model: ModelConfig) -> str:
        return self._deployment_url(model, "embeddings")

    def auth_headers(self, model: ModelConfig) -> dict[str, str]:
        headers: dict[str, str] = {}
        key = model.api_key.reveal() if model.api_key is not None else ""
        if key and model.auth_type == "bearer":
            headers["Authorization"] = f"Bearer {key}"
        elif key and model.auth_type != "none":
            headers["api-key"] = key
        headers.update(secret_headers(model))
        return headers

    def build_connection_test(self, model: ModelConfig) -> HttpRequest:
        body: dict[str, Any] = {
            "model": model.model_id,
            "messages": [{"role": "user", "content": "ping"}],
            self.max_tokens_field(model): 1,
        }
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.auth_headers(model))
        return HttpRequest("POST", self.chat_url(model), headers, dumps(body))

    def check_connection_response(self, body: bytes, model: ModelConfig) -> None:
        """Any 200 from the deployment proves endpoint, deployment and key."""
