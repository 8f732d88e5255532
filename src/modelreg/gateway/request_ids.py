"""Request ids for the `/v1/*` surfaces, in the header each official SDK reads.

Every answer on `/v1/*` (JSON, stream, error) carries one id, new per request: openai-python
exposes `x-request-id` as `response._request_id` (and `APIStatusError.request_id`),
anthropic-python exposes `request-id` the same way. The server's log line about an error on
that request names the same id, so a user's bug report can be matched to the log.

`req_` + 24 hex digits: short, and unguessable (96 random bits), as the ids are shown to
callers and must not leak anything about the server or other requests.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from typing import Final

__all__ = [
    "ANTHROPIC_REQUEST_ID_HEADER",
    "CURRENT_REQUEST_ID",
    "OPENAI_REQUEST_ID_HEADER",
    "new_request_id",
    "request_id_header",
]

OPENAI_REQUEST_ID_HEADER: Final = "x-request-id"
ANTHROPIC_REQUEST_ID_HEADER: Final = "request-id"

# the id of the /v1 request being served, set where the id is made (api/fastpath.py,
# api/routes/_request_id.py) and read by gateway/core.account, which stores it with the usage
# event so that a caller can rate the response by it (POST /v1/feedback). A context variable:
# the stream tasks a request spawns inherit it, and no hot-path signature changes.
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("modelreg_request_id", default=None)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def request_id_header(path: str, *, anthropic_version: bool = False) -> str | None:
    """The id header of the surface that owns `path`, or None outside `/v1/`.

    `/v1/messages…` is Anthropic's; `/v1/models…` is shared by both SDKs, and the anthropic
    SDK always sends an `anthropic-version` header (`anthropic_version`), as GET /v1/models
    uses to pick its answer's shape; everything else under `/v1/` is OpenAI's."""
    if not path.startswith("/v1/"):
        return None
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return ANTHROPIC_REQUEST_ID_HEADER
    if anthropic_version and (path == "/v1/models" or path.startswith("/v1/models/")):
        return ANTHROPIC_REQUEST_ID_HEADER
    return OPENAI_REQUEST_ID_HEADER
