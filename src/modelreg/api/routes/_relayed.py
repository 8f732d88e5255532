"""A pass-through's answer as a Starlette response, for the routes (the fast path sends the
same bytes and headers itself, api/fastpath.py)."""

from __future__ import annotations

from fastapi.responses import Response, StreamingResponse

from modelreg.gateway.forward import SSE_HEADERS, Relayed

__all__ = ["relayed_response"]


def relayed_response(reply: Relayed) -> Response:
    """The JSON body or the event stream, with the upstream's headers that are passed on."""
    headers = dict(reply.headers)
    if isinstance(reply.body, bytes):
        return Response(reply.body, media_type="application/json", headers=headers)
    headers.update(SSE_HEADERS)
    return StreamingResponse(reply.body, media_type="text/event-stream", headers=headers)
