"""Request and response models of the registry, used as they are by the HTTP API.

Field names are the `llm_models` column names. Secrets (`api_key`, `auth_headers`) are
write-only: they appear in `ModelCreate` / `ModelUpdate` and never in `ModelPublic`, which shows
`has_api_key`, a 4-character `api_key_hint` and the header names only.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from modelreg.client.netguard import host_name_problem
from modelreg.decimals import plain
from modelreg.model_config import AuthType, Provider
from modelreg.nul import NulFree

__all__ = [
    "FromTemplateRequest",
    "ModelCreate",
    "ModelPublic",
    "ModelUpdate",
    "TemplatePublic",
    "validate_base_url",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# RFC 9110 token characters
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
_MAX_OPTIONS_KEYS = 50


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_control_but_newlines(value: str) -> str:
    if _CONTROL_EXCEPT_NEWLINES.search(value):
        raise ValueError("must not contain control characters")
    return value


def _strip_nonempty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def validate_base_url(value: str) -> str:
    """http(s) with a host; no credentials, query or fragment (they would be shown publicly).
    A trailing slash is dropped so that adapters can append paths uniformly."""
    value = _no_control(value.strip())
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("must name a host")
    problem = host_name_problem(parts.hostname.rstrip(".").lower())
    if problem:
        raise ValueError(problem.removeprefix("the "))
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials; use api_key or auth_headers")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or fragment; use options")
    if port == 0:
        raise ValueError("has an invalid port")
    return value.rstrip("/")


Name = Annotated[
    str,
    Field(min_length=1, max_length=100),
    AfterValidator(_strip_nonempty),
    AfterValidator(_no_control),
]
Description = Annotated[str, Field(max_length=2000), AfterValidator(_no_control_but_newlines)]
BaseUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(validate_base_url)]
RemoteModelId = Annotated[
    str,
    Field(min_length=1, max_length=255),
    AfterValidator(_strip_nonempty),
    AfterValidator(_no_control),
]
ApiKey = Annotated[str, Field(max_length=4096), AfterValidator(_no_control)]
# per single token; NUMERIC(30,15) on PostgreSQL keeps 15 decimal places
Price = Annotated[Decimal, Field(ge=0, le=1000, decimal_places=15, allow_inf_nan=False)]
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
TopP = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


# prices in responses: exact, as a fixed-point string in JSON
PublicPrice = Annotated[Decimal, PlainSerializer(plain, return_type=str, when_used="json")]
TokenCount = Annotated[int, Field(gt=0, le=100_000_000)]
Limit = Annotated[int, Field(gt=0, le=10_000_000)]


def _check_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > 20:
        raise ValueError("at most 20 headers")
    for name, header_value in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"header name {name[:40]!r} is not a valid HTTP header name")
        if _CONTROL.search(header_value) or len(header_value) > 4096:
            # the value is a secret: do not echo it
            raise ValueError(f"value of header {name!r} is invalid")
    return value


def _check_options(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > _MAX_OPTIONS_KEYS:
        raise ValueError(f"at most {_MAX_OPTIONS_KEYS} options")
    if len(repr(value)) > 8192:
        raise ValueError("options are too large")
    return value


AuthHeaders = Annotated[dict[str, str] | None, AfterValidator(_check_headers)]
Options = Annotated[dict[str, Any], AfterValidator(_check_options)]
FallbackIds = Annotated[list[uuid.UUID], Field(max_length=5)]
ModelKind = Literal["chat", "embedding"]
Dimensions = Annotated[int, Field(ge=1, le=16_384)]


class ModelCreate(NulFree):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: Name
    description: Description = ""
    provider: Provider
    base_url: BaseUrl
    model_id: RemoteModelId
    auth_type: AuthType = "bearer"
    api_key: ApiKey | None = Field(default=None, repr=False)
    auth_headers: AuthHeaders = Field(default=None, repr=False)
    supports_streaming: bool = True
    supports_functions: bool = True
    supports_vision: bool = False
    context_length: TokenCount | None = None
    max_output_tokens: TokenCount | None = None
    price_per_input_token: Price = Decimal(0)
    price_per_output_token: Price = Decimal(0)
    default_temperature: Temperature | None = None
    default_top_p: TopP | None = None
    enabled: bool = True
    is_global: bool = False
    fallback_model_ids: FallbackIds = Field(default_factory=list)
    options: Options = Field(default_factory=dict)
    rpm_limit: Limit | None = None
    tpm_limit: Limit | None = None
    # an embedding model serves /v1/embeddings and knowledge collections, never chat
    kind: ModelKind = "chat"
    dimensions: Dimensions | None = None

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_none(cls, value: str | None) -> str | None:
        return value or None


class ModelUpdate(NulFree):
    """Every field optional; only the fields sent are changed.

    `api_key`: absent or null keeps the stored key, "" clears it.
    `auth_headers`: absent or null keeps them, {} clears them.
    Other nullable fields (context_length, default_temperature, ...) are cleared by null.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: Name | None = None
    description: Description | None = None
    provider: Provider | None = None
    base_url: BaseUrl | None = None
    model_id: RemoteModelId | None = None
    auth_type: AuthType | None = None
    api_key: ApiKey | None = Field(default=None, repr=False)
    auth_headers: AuthHeaders = Field(default=None, repr=False)
    supports_streaming: bool | None = None
    supports_functions: bool | None = None
    supports_vision: bool | None = None
    context_length: TokenCount | None = None
    max_output_tokens: TokenCount | None = None
    price_per_input_token: Price | None = None
    price_per_output_token: Price | None = None
    default_temperature: Temperature | None = None
    default_top_p: TopP | None = None
    enabled: bool | None = None
    fallback_model_ids: FallbackIds | None = None
    options: Options | None = None
    rpm_limit: Limit | None = None
    tpm_limit: Limit | None = None
    kind: ModelKind | None = None
    dimensions: Dimensions | None = None


class Capabilities(BaseModel):
    streaming: bool
    functions: bool
    vision: bool


class ModelPublic(BaseModel):
    """A model as anyone allowed to see it may see it: no secrets."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: uuid.UUID
    user_id: uuid.UUID | None
    name: str
    description: str
    provider: str
    base_url: str
    model_id: str
    auth_type: str
    has_api_key: bool
    api_key_hint: str | None
    auth_header_names: list[str]
    supports_streaming: bool
    supports_functions: bool
    supports_vision: bool
    capabilities: Capabilities
    context_length: int | None
    max_output_tokens: int | None
    price_per_input_token: PublicPrice
    price_per_output_token: PublicPrice
    default_temperature: float | None
    default_top_p: float | None
    enabled: bool
    is_global: bool
    fallback_model_ids: list[uuid.UUID]
    options: dict[str, Any]
    rpm_limit: int | None
    tpm_limit: int | None
    kind: str = "chat"
    dimensions: int | None = None
    source: str
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


class TemplatePublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    label: str
    provider: str
    base_url: str
    model_id: str
    auth_type: str
    requires_api_key: bool
    supports_streaming: bool
    supports_functions: bool
    supports_vision: bool
    context_length: int | None
    max_output_tokens: int | None
    price_per_input_token: PublicPrice | None
    price_per_output_token: PublicPrice | None
    prices_as_of: str | None
    price_source: str | None
    options: dict[str, Any]
    notes: str
    kind: str = "chat"
    dimensions: int | None = None


class FromTemplateRequest(NulFree):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    template_id: Annotated[str, Field(min_length=1, max_length=64)]
    api_key: ApiKey | None = Field(default=None, repr=False)
    name: Name | None = None
    model_id: RemoteModelId | None = None
    base_url: BaseUrl | None = None
    # what the caller gives wins over the template's figures
    context_length: TokenCount | None = None
    max_output_tokens: TokenCount | None = None
    price_per_input_token: Price | None = None
    price_per_output_token: Price | None = None
    is_global: bool = False
    enabled: bool = True
