"""A secret never reaches the logs, not even with SQL logging at DEBUG."""

from __future__ import annotations

import logging

import pytest

from modelreg.actor import Actor
from modelreg.errors import UnknownModelError
from modelreg.registry.schemas import ModelUpdate
from modelreg.registry.service import ModelManagerService
from tests.registry.conftest import model_input

KEY = "sk-log-secret-abcdef123456"
HEADER = "hdr-log-secret-987654"


async def test_no_secret_in_logs_or_reprs(
    registry: ModelManagerService, user_a: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # includes sqlalchemy.engine statements and parameters
    model = await registry.create_model(
        user_a, model_input("m", api_key=KEY, auth_headers={"X-Secret": HEADER})
    )
    config = await registry.resolve(user_a, "m")
    await registry.update_model(user_a, model.id, ModelUpdate(api_key=KEY + "x"))
    with pytest.raises(UnknownModelError):
        await registry.resolve(user_a, "missing")
    await registry.rotate_keys()
    logging.getLogger("test").info("config %r public %r", config, model)

    assert caplog.records  # the capture did see the SQL
    assert KEY not in caplog.text
    assert HEADER not in caplog.text
    for text in (repr(config), str(config), repr(model), model.model_dump_json()):
        assert KEY not in text
        assert HEADER not in text
    assert config.api_key is not None
    assert repr(config.api_key) == "Secret('****3456')"
