"""The adapter interface: unified request → provider HTTP request; provider bytes → unified
response, events and errors. Adapters hold no global state and know nothing of the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, runtime_checkable

from modelreg.errors import ProviderError
from modelreg.model_config import ModelConfig
from modelreg.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamEvent

__all__ = ["ConnectionChecker", "HttpRequest", "ProviderAdapter", "StreamFormat"]

StreamFormat = Literal["sse", "ndjson"]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # already-serialised JSON

    def __repr__(self) -> str:  # headers carry keys: never print them
        return f"HttpRequest({self.method} {self.url})"


class ProviderAdapter(Protocol):
    name: ClassVar[str]
    stream_format: ClassVar[StreamFormat]

    def build_request(self, req: ChatRequest, model: ModelConfig) -> HttpRequest: ...

    def parse_response(self, body: bytes, model: ModelConfig) -> ChatResponse:
        """Parse a whole (non-streamed) answer; a 200 with an error body raises."""
        ...

    def parse_stream(
        self, chunks: AsyncIterator[bytes], model: ModelConfig
    ) -> AsyncIterator[StreamEvent]:
        """`chunks` are raw body bytes split anywhere; errors inside the stream raise."""
        ...

    def map_error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: ModelConfig
    ) -> ProviderError: ...

    def build_embeddings_request(self, inputs: Sequence[str], model: ModelConfig) -> HttpRequest:
        """Raises ConfigError when the provider has no embeddings."""
        ...

    def parse_embeddings(self, body: bytes, model: ModelConfig) -> EmbeddingResponse: ...

    def build_connection_test(self, model: ModelConfig) -> HttpRequest:
        """The cheapest request that proves reachability and credentials."""
        ...


@runtime_checkable
class ConnectionChecker(Protocol):
    """Optional second half of the connection test, for adapters whose test request can
    succeed while the model is still unusable (Ollama: server up, model not pulled). After a
    2xx answer to `build_connection_test`, the client calls this with the body; it raises a
    ProviderError (e.g. NotFoundError) with a clear reason. All built-in adapters have it."""

    def check_connection_response(self, body: bytes, model: ModelConfig) -> None: ...
