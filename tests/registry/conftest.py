"""Helpers for registry tests."""

from __future__ import annotations

from typing import Any

from modelreg.registry.schemas import ModelCreate


def model_input(name: str = "m1", **overrides: Any) -> ModelCreate:
    values: dict[str, Any] = {
        "name": name,
        "provider": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "model_id": "gpt-test",
        "api_key": "sk-test-key-" + name,
    }
    values.update(overrides)
    return ModelCreate(**values)
