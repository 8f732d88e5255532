"""MODELREG_CONTEXT_ENHANCER plugs another retrieval service into every chat turn, and a
setting that names nothing usable stops the start with a clear message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modelreg.errors import ConfigError
from modelreg.knowledge.plugin import load_enhancer
from modelreg.simulators import SimulatorServer
from tests.api._helpers import create_model
from tests.knowledge.plugin_example import MARK


def test_a_configured_enhancer_adds_its_context(
    live_server_factory: Callable[..., Any], openai_sim: SimulatorServer
) -> None:
    server = live_server_factory(context_enhancer="tests.knowledge.plugin_example:build")
    with server.client(server.create_user()) as http:
        chat = create_model(http, openai_sim)
        answer = http.post("/api/chat", json={"model_id": chat["name"], "message": "moon?"})
        assert answer.status_code == 200, answer.text
    system = [m for m in openai_sim.requests[-1].json["messages"] if m["role"] == "system"]
    assert system[0]["content"] == MARK


@pytest.mark.parametrize(
    "spec", ["no_colon", "tests.knowledge.plugin_example:missing", "no.such.module:build"]
)
def test_a_bad_setting_is_a_clear_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="MODELREG_CONTEXT_ENHANCER"):
        load_enhancer(spec)
