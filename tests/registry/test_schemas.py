"""Bad input gets an error naming the field; secrets never show in reprs or errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from modelreg.registry.schemas import ModelCreate, ModelUpdate

VALID: dict[str, Any] = {
    "name": "ok",
    "provider": "openai",
    "base_url": "https://api.example.com/v1",
    "model_id": "m",
}


def _field_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        ModelCreate(**{**VALID, **data})
    (error,) = info.value.errors()
    return str(error["loc"][0])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "https://"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"base_url": "https://user:pass@example.com/v1"}, "base_url"),
        ({"base_url": "https://example.com/v1?key=abc"}, "base_url"),
        ({"base_url": "https://example.com:99999/v1"}, "base_url"),
        ({"base_url": "https://example.com/" + "a" * 2100}, "base_url"),
        ({"provider": "skynet"}, "provider"),
        ({"auth_type": "basic"}, "auth_type"),
        ({"price_per_input_token": "-0.000001"}, "price_per_input_token"),
        ({"price_per_output_token": "NaN"}, "price_per_output_token"),
        ({"price_per_output_token": "0.0000000000000001"}, "price_per_output_token"),
        ({"default_temperature": 2.5}, "default_temperature"),
        ({"default_temperature": -0.1}, "default_temperature"),
        ({"default_top_p": 1.01}, "default_top_p"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "bad\nname"}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"model_id": "m" * 256}, "model_id"),
        ({"context_length": 0}, "context_length"),
        ({"auth_headers": {"Bad Header": "v"}}, "auth_headers"),
        ({"auth_headers": {"X-Ok": "line\r\nInjected: 1"}}, "auth_headers"),
        ({"fallback_model_ids": ["not-a-uuid"]}, "fallback_model_ids"),
        ({"options": {str(i): i for i in range(51)}}, "options"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_input_names_the_field(data: dict[str, Any], field: str) -> None:
    assert _field_of(data) == field


def test_normalisation() -> None:
    model = ModelCreate(**{**VALID, "name": "  spaced  ", "base_url": "http://h:8080/v1/"})
    assert model.name == "spaced"
    assert model.base_url == "http://h:8080/v1"
    assert model.price_per_input_token == Decimal(0)
    assert ModelCreate(**{**VALID, "api_key": ""}).api_key is None


def test_update_distinguishes_absent_from_null() -> None:
    update = ModelUpdate(context_length=None)
    assert update.model_dump(exclude_unset=True) == {"context_length": None}
    assert ModelUpdate().model_dump(exclude_unset=True) == {}


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    model = ModelCreate(
        **VALID, api_key="sk-repr-secret-1234", auth_headers={"X-Key": "hdr-secret-5678"}
    )
    for text in (repr(model), str(model), repr(ModelUpdate(api_key="sk-repr-secret-1234"))):
        assert "sk-repr-secret" not in text
        assert "hdr-secret" not in text
    with pytest.raises(ValidationError) as info:
        ModelCreate(**VALID, auth_headers={"X-Key": "hdr-secret-5678\n"})
    assert "hdr-secret" not in str(info.value)
    with pytest.raises(ValidationError) as info:
        ModelCreate(**{**VALID, "provider": "nope", "api_key": "sk-bad-secret\x00"})
    assert "sk-bad-secret" not in str(info.value)
