"""Connection tests: what a probe's outcome means, as a stable reason code for UIs and APIs."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from modelreg import errors as E
from modelreg.config import ModelConfig

__all__ = ["ConnectionResult", "connection_reason", "listed_model_names", "model_is_listed"]


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    ok: bool
    latency_ms: float
    reason: str | None = None  # None when ok; else a stable code, see `connection_reason`
    message: str = ""
    status: int | None = None


def connection_reason(error: E.ModelregError) -> str:
    checks: list[tuple[type[E.ModelregError], str]] = [
        (E.UnsafeURLError, "unsafe_url"),
        (E.ValidationFailedError, "invalid_url"),
        (E.MissingCredentialsError, "missing_key"),
        (E.ProviderTimeoutError, "timeout"),
        (E.AuthenticationError, "bad_key"),
        (E.PermissionDeniedError, "permission_denied"),
        (E.NotFoundError, "unknown_model"),
        (E.RateLimitError, "rate_limited"),
        (E.ServerError, "upstream_error"),
        (E.BadRequestError, "bad_request"),
        (E.UnexpectedResponseError, "unexpected_response"),
        (E.ConfigError, "config_error"),
    ]
    if isinstance(error, E.ProviderConnectionError) and error.reason == "tls":
        return "tls_error"
    for kind, reason in checks:
        if isinstance(error, kind):
            return reason
    if isinstance(error, E.ProviderConnectionError):
        return "unreachable"
    if isinstance(error, E.ProviderStatusError):
        return "upstream_error"
    return "error"


def listed_model_names(body: bytes) -> set[str] | None:
    """Model names from a list-models answer (OpenAI `data[].id`, Ollama `models[].name`);
    None when the body is not such a list (e.g. a 1-token completion)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    names: set[str] = set()
    for key, fields in (("data", ("id",)), ("models", ("name", "model", "id"))):
        items = data.get(key)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    names.update(str(item[f]) for f in fields if isinstance(item.get(f), str))
    return names or None


def model_is_listed(model: ModelConfig, listed: set[str]) -> bool:
    if model.provider == "azure":  # Azure lists base models, not the deployments we call
        return True
    wanted = model.model_id
    if wanted.endswith("-latest"):  # Anthropic-style aliases are not listed
        return True
    candidates = {wanted, f"{wanted}:latest", wanted.removeprefix("models/")}
    if model.provider == "huggingface":  # the router's ":provider" / ":fastest" suffixes
        candidates.add(wanted.split(":", 1)[0])
    return bool(candidates & listed) or any(n.removeprefix("models/") == wanted for n in listed)
