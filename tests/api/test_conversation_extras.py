"""Conversation search, settings (used on every turn, within the model's limits), export,
and images (vision models only, each provider's format, limits, stored), over HTTP on both
databases; what the model received is read at the simulators."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import assert_error
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, unique

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def _chat(http: httpx.Client, **body: Any) -> dict[str, Any]:
    answer = http.post("/api/chat", json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_search_by_title_and_content_case_insensitive_and_paginated(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user = server.create_user()
    model = create_model(server, user, openai_sim)
    word = unique("Zebra")  # unique per run: the server is shared
    with server.client(user) as http:
        by_title = _chat(http, model_id=model["id"], message="hello", title=f"About {word}")
        by_text = _chat(http, model_id=model["id"], message=f"tell me of {word.upper()} 100%")
        _chat(http, model_id=model["id"], message="something else")
        found = http.get("/api/conversations", params={"q": word.lower()})
        assert found.status_code == 200
        ids = [c["id"] for c in found.json()]
        assert sorted(ids) == sorted([by_title["conversation_id"], by_text["conversation_id"]])
        assert ids[0] == by_text["conversation_id"]  # newest first
        page = http.get("/api/conversations", params={"q": word, "limit": 1, "offset": 1}).json()
        assert [c["id"] for c in page] == [by_title["conversation_id"]]
        # % and _ are literal; another user's conversations are never found
        literal = http.get("/api/conversations", params={"q": "100%"}).json()
        assert [c["id"] for c in literal] == [by_text["conversation_id"]]
        assert http.get("/api/conversations", params={"q": "1_0"}).json() == []
    with server.client(server.create_user()) as http:
        assert http.get("/api/conversations", params={"q": word}).json() == []


def test_settings_are_validated_and_sent_on_every_turn(
    server: LiveServer, openai_sim: SimulatorServer, anthropic_sim: SimulatorServer
) -> None:
    user = server.create_user()
    model = create_model(server, user, openai_sim, max_output_tokens=1000)
    claude = create_model(server, user, anthropic_sim)
    with server.client(user) as http:
        conv = _chat(http, model_id=model["id"], message="hi")["conversation_id"]
        url = f"/api/conversations/{conv}/settings"
        too_many = http.put(url, json={"max_tokens": 1001})
        assert_error(too_many, 422, "validation_error", "max_tokens")
        assert_error(http.put(url, json={"temperature": 2.5}), 422, "validation_error")
        assert http.get(url).json()["max_tokens"] is None  # nothing half-written
        settings = {"system_prompt": "Answer in French.", "temperature": 0.3, "top_p": 0.9,
                    "max_tokens": 200}  # fmt: skip
        saved = http.put(url, json=settings)
        assert saved.status_code == 200, saved.text
        assert saved.json() == settings
        assert http.get(url).json() == settings

        _chat(http, conversation_id=conv, message="again")
        sent = openai_sim.requests[-1].json
        assert sent["messages"][0] == {"role": "system", "content": "Answer in French."}
        limit = sent.get("max_completion_tokens", sent.get("max_tokens"))
        assert (sent["temperature"], sent["top_p"], limit) == (0.3, 0.9, 200)
        assert [m["role"] for m in sent["messages"]].count("system") == 1
        # the turn's own value wins; regenerate uses them too
        _chat(http, conversation_id=conv, message="hot", temperature=1.0)
        assert openai_sim.requests[-1].json["temperature"] == 1.0
        answer_id = http.get(f"/api/conversations/{conv}").json()["messages"][-1]["id"]
        again = http.post(
            f"/api/conversations/{conv}/messages/{answer_id}/regenerate",
            json={"model_id": claude["id"]},
        )
        assert again.status_code == 200, again.text
        upstream = anthropic_sim.requests[-1].json
        assert upstream["system"] == "Answer in French."
        assert (upstream["temperature"], upstream["max_tokens"]) == (0.3, 200)
        # for an Anthropic model (the conversation's now), temperature stops at 1
        assert_error(http.put(url, json={"temperature": 1.5}), 422, "validation_error")


def test_export_markdown_and_json_hold_the_selected_path(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user = server.create_user()
    model = create_model(server, user, openai_sim, name=unique("exporter"))
    with server.client(user) as http:
        openai_sim.enqueue(Script(text="| a | b |\n|---|---|\n| 1 | 2 |"), Script(text="newer"))
        first = _chat(http, model_id=model["id"], message="make a table", title="Tables / more")
        conv = first["conversation_id"]
        http.post(f"/api/conversations/{conv}/messages/{first['message_id']}/regenerate", json={})
        http.put(f"/api/conversations/{conv}/messages/{first['message_id']}/selected")
        md = http.get(f"/api/conversations/{conv}/export")
        assert md.status_code == 200
        assert md.headers["content-type"].startswith("text/markdown")
        assert md.headers["content-disposition"] == 'attachment; filename="Tables-_-more.md"'
        text = md.text
        assert text.startswith("# Tables / more\n")
        assert "## You\n\nmake a table" in text
        assert f"## Assistant ({model['name']})\n\n| a | b |" in text
        assert "newer" not in text  # the alternative that is not selected
        js = http.get(f"/api/conversations/{conv}/export", params={"format": "json"})
        assert js.headers["content-disposition"].endswith('.json"')
        data = orjson.loads(js.content)
        assert data["conversation"]["id"] == conv
        assert [(m["role"], m["content"][:5]) for m in data["messages"]] == [
            ("user", "make "),
            ("assistant", "| a |"),
        ]
        assert data["messages"][1]["usage"]["output_tokens"] >= 0
        bad = http.get(f"/api/conversations/{conv}/export", params={"format": "pdf"})
        assert bad.status_code == 422


def _image(data: bytes, **extra: Any) -> dict[str, Any]:
    return {"data": base64.b64encode(data).decode(), **extra}


def test_images_go_to_vision_models_in_each_providers_format_and_are_stored(
    server: LiveServer, openai_sim: SimulatorServer, anthropic_sim: SimulatorServer
) -> None:
    user = server.create_user()
    gpt = create_model(server, user, openai_sim, supports_vision=True)
    claude = create_model(server, user, anthropic_sim, supports_vision=True)
    with server.client(user) as http:
        first = _chat(http, model_id=gpt["id"], message="what is this?", images=[_image(PNG)])
        sent = openai_sim.requests[-1].json["messages"][-1]["content"]
        assert sent[0] == {"type": "text", "text": "what is this?"}
        url = "data:image/png;base64," + base64.b64encode(PNG).decode()
        assert sent[1]["type"] == "image_url"
        assert sent[1]["image_url"]["url"] == url
        conv = first["conversation_id"]
        # stored: listed on the message, served back, and in the next turn's history
        stored = http.get(f"/api/conversations/{conv}").json()["messages"][0]
        assert len(stored["images"]) == 1
        image = http.get(stored["images"][0])
        assert (image.status_code, image.headers["content-type"], image.content) == (
            200, "image/png", PNG,
        )  # fmt: skip
        _chat(http, conversation_id=conv, model_id=claude["id"], message="and this?",
              images=[_image(GIF, media_type="image/gif")])  # fmt: skip
        messages = anthropic_sim.requests[-1].json["messages"]
        first_blocks, last_blocks = messages[0]["content"], messages[-1]["content"]
        assert first_blocks[1] == {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png",
                       "data": base64.b64encode(PNG).decode()},
        }  # fmt: skip
        assert last_blocks[1]["source"]["media_type"] == "image/gif"
    with server.client(server.create_user()) as http:
        assert http.get(stored["images"][0]).status_code == 404


def test_images_are_refused_for_other_models_too_big_or_not_images(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user = server.create_user()
    text_only = create_model(server, user, openai_sim)
    vision = create_model(server, user, openai_sim, supports_vision=True)
    with server.client(user) as http:
        before = len(http.get("/api/conversations").json())
        refused = http.post(
            "/api/chat", json={"model_id": text_only["id"], "message": "x", "images": [_image(PNG)]}
        )
        error = assert_error(refused, 422, "validation_error", "images")
        assert "supports_vision" in error["message"]
        big = PNG + b"\0" * (3 * 1024 * 1024)
        cases = [
            ([_image(big)], "images[0].data"),
            ([_image(b"%PDF-1.7 not an image")], "images[0].data"),
            ([_image(PNG, media_type="image/jpeg")], "images[0].media_type"),
            ([{"data": "not base64!"}], "images[0].data"),
        ]
        for images, field in cases:
            answer = http.post(
                "/api/chat", json={"model_id": vision["id"], "message": "x", "images": images}
            )
            assert_error(answer, 422, "validation_error", field)
        five = http.post(
            "/api/chat",
            json={"model_id": vision["id"], "message": "x", "images": [_image(PNG)] * 5},
        )
        assert five.status_code == 422
        # nothing was stored
        assert len(http.get("/api/conversations").json()) == before


def test_edit_with_an_image_replaces_the_old_messages_images(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user = server.create_user()
    vision = create_model(server, user, openai_sim, supports_vision=True)
    with server.client(user) as http:
        first = _chat(http, model_id=vision["id"], message="old", images=[_image(GIF)])
        conv = first["conversation_id"]
        _chat(http, conversation_id=conv, message="later")
        old = http.get(f"/api/conversations/{conv}").json()["messages"][0]
        edited = http.post(
            f"/api/conversations/{conv}/messages/{old['id']}/edit",
            json={"content": "new", "images": [_image(PNG)]},
        )
        assert edited.status_code == 200, edited.text
        content = openai_sim.requests[-1].json["messages"][-1]["content"]
        assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
        messages = http.get(f"/api/conversations/{conv}").json()["messages"]
        assert [m["content"] for m in messages] == ["new", edited.json()["content"]]
        assert len(messages[0]["images"]) == 1
        assert http.get(messages[0]["images"][0]).content == PNG
        assert http.get(old["images"][0]).status_code == 404  # went with the old message
        # refused for a model without vision: nothing changes
        text_only = create_model(server, user, openai_sim)
        refused = http.post(
            f"/api/conversations/{conv}/messages/{messages[0]['id']}/edit",
            json={"content": "x", "images": [_image(PNG)], "model_id": text_only["id"]},
        )
        assert_error(refused, 422, "validation_error", "images")
        assert http.get(f"/api/conversations/{conv}").json()["messages"] == messages
