"""Request body size cap (settings.max_request_bytes) as pure ASGI middleware.

A declared Content-Length over the cap is refused before the body is read. A chunked body is
counted as it arrives; the receive call that crosses the cap raises `ApiError(413)`, which
FastAPI's body reader passes on to the exception handlers, so the 413 comes in the shape of
the API surface (ours, OpenAI's or Anthropic's) like any other error.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.api.errors import ApiError, render_error

__all__ = ["BodySizeLimitMiddleware"]


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body is larger than {limit} bytes", type="request_too_large")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = render_error(scope["path"], _too_large(self.max_bytes))
            await response(scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _too_large(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except ApiError as exc:
            # a handler that reads the body itself (outside FastAPI's parsing) lets it escape
            if exc.status_code != 413 or response_started:
                raise
            await render_error(scope["path"], exc)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
