"""A loopback upstream that gives back every credential it is sent, everywhere it can: in a
200 JSON answer, in stream events (split across TCP writes inside one event), in error
bodies and in response headers. OpenAI (`/v1/chat/completions`, `/v1/embeddings`) and
Anthropic (`/v1/messages`) wire formats.

The mode is picked by a word anywhere in the request body (the model id or the message):
`mode-401` and `mode-500` answer that status, `mode-event-error` streams an error event;
anything else is a normal answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

__all__ = ["EchoUpstream"]


class EchoUpstream:
    def __init__(self) -> None:
        self.port = 0
        self.hits = 0
        self._runner: web.AppRunner | None = None

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what was sent ---------------------------------------------------------------

    @staticmethod
    def _credentials(request: web.Request) -> str:
        """Every header value except the plain ones: the key and the extra auth headers."""
        plain = {"host", "content-type", "content-length", "accept", "user-agent", "connection"}
        plain |= {"accept-encoding", "anthropic-version", "x-stainless-retry-count"}
        return " | ".join(v for k, v in request.headers.items() if k.lower() not in plain)

    async def _read(self, request: web.Request) -> tuple[str, dict[str, Any], str]:
        self.hits += 1
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        text = raw.decode(errors="replace")
        for mode in ("mode-401", "mode-500", "mode-event-error"):
            if mode in text:
                return mode, body, self._credentials(request)
        return "ok", body, self._credentials(request)

    @staticmethod
    def _echo_headers(echo: str) -> dict[str, str]:
        value = echo.replace("\r", " ").replace("\n", " ")
        return {"x-echo-auth": value, "x-request-id": value[:200]}

    def _error(self, mode: str, echo: str, anthropic: bool) -> web.Response:
        status = 401 if mode == "mode-401" else 500
        message = f"Incorrect API key provided: {echo}"
        if anthropic:
            body = {"type": "error", "error": {"type": "authentication_error", "message": message}}
        else:
            body = {"error": {"message": message, "type": "invalid_request_error", "code": echo}}
        return web.json_response(body, status=status, headers=self._echo_headers(echo))

    async def _stream(
        self, request: web.Request, echo: str, frames: list[bytes]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", **self._echo_headers(echo)}
        )
        await response.prepare(request)
        for frame in frames:
            # split inside the echoed credential: one event, two TCP writes
            cut = frame.find(b"SCANME")
            parts = [frame[: cut + 3], frame[cut + 3 :]] if cut >= 0 else [frame]
            for part in parts:
                await response.write(part)
                await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    # --- OpenAI ------------------------------------------------------------------------

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        mode, body, echo = await self._read(request)
        if mode in ("mode-401", "mode-500"):
            return self._error(mode, echo, anthropic=False)
        text = f"You sent: {echo}"
        model = str(body.get("model", "m"))
        usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
        if not body.get("stream"):
            answer = {
                "id": "chatcmpl-echo",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "system_fingerprint": echo,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
            return web.json_response(answer, headers=self._echo_headers(echo))

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            data = {
                "id": "chatcmpl-echo",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        frames = [chunk({"role": "assistant", "content": ""}), chunk({"content": text})]
        if mode == "mode-event-error":
            error = {"error": {"message": f"Bearer trouble: {echo}", "type": "server_error"}}
            frames.append(b"data: " + json.dumps(error).encode() + b"\n\n")
        frames += [
            chunk({}, "stop"),
            b"data: "
            + json.dumps(
                {
                    "id": "chatcmpl-echo",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            ).encode()
            + b"\n\n",
            b"data: [DONE]\n\n",
        ]
        return await self._stream(request, echo, frames)

    async def _embeddings(self, request: web.Request) -> web.Response:
        mode, _body, echo = await self._read(request)
        if mode in ("mode-401", "mode-500"):
            return self._error(mode, echo, anthropic=False)
        answer = {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "model": echo,
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
        return web.json_response(answer, headers=self._echo_headers(echo))

    # --- Anthropic -----------------------------------------------------------------------

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        mode, body, echo = await self._read(request)
        if mode in ("mode-401", "mode-500"):
            return self._error(mode, echo, anthropic=True)
        text = f"You sent: {echo}"
        model = str(body.get("model", "m"))
        if not body.get("stream"):
            answer = {
                "id": "msg_echo",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 5},
            }
            return web.json_response(answer, headers=self._echo_headers(echo))

        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        start = {
            "id": "msg_echo",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 0},
        }
        frames = [
            event("message_start", {"type": "message_start", "message": start}),
            event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": text},
                },
            ),
        ]
        if mode == "mode-event-error":
            frames.append(
                event(
                    "error",
                    {"type": "error", "error": {"type": "overloaded_error", "message": echo}},
                )
            )
        else:
            frames += [
                event("content_block_stop", {"type": "content_block_stop", "index": 0}),
                event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": 5},
                    },
                ),
                event("message_stop", {"type": "message_stop"}),
            ]
        return await self._stream(request, echo, frames)

    async def _other(self, request: web.Request) -> web.Response:
        _, _, echo = await self._read(request)
        return web.json_response(
            {"error": {"message": f"no such route; you sent {echo}"}},
            status=404,
            headers=self._echo_headers(echo),
        )
