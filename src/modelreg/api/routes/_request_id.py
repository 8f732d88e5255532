"""The route class of the `/v1/*` routers: one request id per request, on every answer.

The id is made before anything else runs (authentication included) and kept in
`request.state.request_id`, so the error handlers (api/errors.py) put the same id on an error
answer and in its log line; a successful answer, JSON or stream, gets it here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from modelreg.gateway.request_ids import CURRENT_REQUEST_ID, new_request_id, request_id_header

__all__ = ["RequestIdRoute", "request_id_of"]


def request_id_of(request: Request) -> str:
    """This request's id, made on first use."""
    found = getattr(request.state, "request_id", None)
    if isinstance(found, str):
        return found
    made = new_request_id()
    request.state.request_id = made
    CURRENT_REQUEST_ID.set(made)  # stored with the usage event (gateway/core.account)
    return made


class RequestIdRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_request_id(request: Request) -> Response:
            request_id = request_id_of(request)
            response = await handler(request)
            header = request_id_header(
                request.url.path, anthropic_version="anthropic-version" in request.headers
            )
            if header is not None:
                response.headers[header] = request_id
            return response

        return with_request_id
