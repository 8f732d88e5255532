"""Every /v1 answer carries a request id in the header the official SDKs read (`x-request-id`
for openai-python, `request-id` for anthropic-python): JSON, streams and errors; a new id per
request; the log line of a failed request names it."""

from __future__ import annotations

import logging
import re

import anthropic
import openai
import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, unique

REQUEST_ID = re.compile(r"req_[0-9a-f]{24}")
HI = [{"role": "user", "content": "hi"}]


def openai_sdk(server: LiveServer, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0)


def anthropic_sdk(server: LiveServer, token: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=token, max_retries=0)


def assert_id(value: str | None) -> str:
    assert value is not None
    assert REQUEST_ID.fullmatch(value), value
    return value


def test_openai_surface_translated_json_stream_and_models(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    """A translated model goes through the FastAPI route, whichever the credential."""
    model = create_model(live_server, user, anthropic_sim)
    client = openai_sdk(live_server, user)
    first = client.chat.completions.create(model=model["name"], messages=HI)  # type: ignore[arg-type]
    second = client.chat.completions.create(model=model["name"], messages=HI)  # type: ignore[arg-type]
    assert assert_id(first._request_id) != assert_id(second._request_id)
    raw = client.chat.completions.with_raw_response.create(
        model=model["name"],
        messages=HI,  # type: ignore[arg-type]
        stream=True,
    )
    assert_id(raw.request_id)
    assert [c for c in raw.parse() if c.choices]  # the stream itself is intact
    assert_id(client.models.with_raw_response.list().request_id)
    assert_id(client.models.with_raw_response.retrieve(model["name"]).request_id)


def test_openai_surface_errors(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    client = openai_sdk(live_server, user)
    model = create_model(live_server, user, anthropic_sim)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model=unique("missing"), messages=HI)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError) as bad_token:
        openai_sdk(live_server, "mr-wrong").chat.completions.create(model="x", messages=HI)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as bad_n:
        client.chat.completions.create(model=model["name"], messages=HI, n=2)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError) as no_token_models:
        openai_sdk(live_server, "mr-wrong").models.list()
    with pytest.raises(openai.NotFoundError) as no_route:
        client.get("/no-such-route", cast_to=object)
    errors = (missing, bad_token, bad_n, no_token_models, no_route)
    ids = {assert_id(e.value.request_id) for e in errors}
    assert len(ids) == len(errors)


def test_openai_pass_through_on_the_fast_path(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    """POST /v1/chat/completions with a bearer token to a pass-through model is answered by
    api/fastpath.py, which is to call `new_request_id()` and set `OPENAI_REQUEST_ID_HEADER`."""
    model = create_model(live_server, user, openai_sim)
    client = openai_sdk(live_server, user)
    answer = client.chat.completions.create(model=model["name"], messages=HI)  # type: ignore[arg-type]
    raw = client.chat.completions.with_raw_response.create(
        model=model["name"],
        messages=HI,  # type: ignore[arg-type]
        stream=True,
    )
    assert_id(raw.request_id)
    assert_id(answer._request_id)


def test_openai_pass_through_errors_on_the_fast_path(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    """The fast path renders its refusals with api/errors.render_error, which adds the id."""
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(status=500, repeat=5))
    with pytest.raises(openai.InternalServerError) as failed:
        openai_sdk(live_server, user).chat.completions.create(model=model["name"], messages=HI)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as empty:
        openai_sdk(live_server, user).chat.completions.create(model=model["name"], messages=[])
    assert assert_id(failed.value.request_id) != assert_id(empty.value.request_id)


def test_anthropic_surface_json_stream_count_and_models(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    client = anthropic_sdk(live_server, user)
    first = client.messages.create(model=model["name"], max_tokens=5, messages=HI)  # type: ignore[arg-type]
    second = client.messages.create(model=model["name"], max_tokens=5, messages=HI)  # type: ignore[arg-type]
    assert assert_id(first._request_id) != assert_id(second._request_id)
    with client.messages.stream(model=model["name"], max_tokens=5, messages=HI) as stream:  # type: ignore[arg-type]
        assert_id(stream.request_id)
        assert stream.get_final_message().content
    counted = client.messages.count_tokens(model=model["name"], messages=HI)  # type: ignore[arg-type]
    assert_id(counted._request_id)
    # GET /v1/models answers the anthropic SDK in its shape, and in its header
    assert_id(client.models.with_raw_response.list().request_id)
    assert_id(client.models.retrieve(model["name"])._request_id)


def test_anthropic_surface_errors_carry_the_id_in_header_and_body(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    client = anthropic_sdk(live_server, user)
    model = create_model(live_server, user, anthropic_sim, rpm_limit=1)
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model=unique("missing"), max_tokens=5, messages=HI)  # type: ignore[arg-type]
    with pytest.raises(anthropic.AuthenticationError) as bad_token:
        anthropic_sdk(live_server, "mr-wrong").messages.create(
            model="x",
            max_tokens=5,
            messages=HI,  # type: ignore[arg-type]
        )
    with pytest.raises(anthropic.BadRequestError) as empty:
        client.messages.create(model=model["name"], max_tokens=5, messages=[])
    client.messages.create(model=model["name"], max_tokens=5, messages=HI)  # type: ignore[arg-type]
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model=model["name"], max_tokens=5, messages=HI)  # type: ignore[arg-type]
    errors = (missing, bad_token, empty, limited)
    for error in errors:
        request_id = assert_id(error.value.request_id)
        assert error.value.body["request_id"] == request_id  # type: ignore[index]
    assert len({e.value.request_id for e in errors}) == len(errors)


@pytest.mark.parametrize("surface", ["openai", "anthropic"])
def test_the_log_line_of_a_failed_request_names_its_id(
    live_server: LiveServer,
    user: str,
    anthropic_sim: SimulatorServer,
    surface: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = create_model(live_server, user, anthropic_sim)
    anthropic_sim.enqueue(Script(status=500, repeat=5))
    caplog.set_level(logging.WARNING, logger="modelreg")
    error: openai.APIStatusError | anthropic.APIStatusError
    if surface == "openai":
        with pytest.raises(openai.InternalServerError) as failed_openai:
            openai_sdk(live_server, user).chat.completions.create(
                model=model["name"],
                messages=HI,  # type: ignore[arg-type]
            )
        error = failed_openai.value
    else:
        with pytest.raises(anthropic.InternalServerError) as failed_anthropic:
            anthropic_sdk(live_server, user).messages.create(
                model=model["name"],
                max_tokens=5,
                messages=HI,  # type: ignore[arg-type]
            )
        error = failed_anthropic.value
    request_id = assert_id(error.request_id)
    lines = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert "502" in lines[0]
