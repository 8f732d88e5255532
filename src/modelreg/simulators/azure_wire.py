"""Azure OpenAI: the OpenAI wire behind deployment URLs.

Classic routes are `/openai/deployments/{deployment}/chat/completions?api-version=...` (and
`/embeddings`); the opt-in v1 API is `/openai/v1/...` with the deployment in `model`. Keys come
in the `api-key` header (or an Entra token as `Authorization: Bearer`). Streams start with a
chunk whose `choices` is empty and which carries `prompt_filter_results`, as Azure's do.
Without `api-version` Azure answers 404 "Resource not found" (seen in many issue reports).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web

from modelreg.simulators._common import json_response, new_id
from modelreg.simulators.openai_routes import chat_handler, embeddings_handler, models_handler
from modelreg.simulators.openai_wire import Dialect, openai_error
from modelreg.simulators.state import SimContext

__all__ = ["AZURE", "add_routes", "check_auth"]

_AZURE_MESSAGES = {
    401: (
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API "
        "endpoint for your resource."
    ),
    404: "Resource not found",
    429: (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
        "Please retry after 1 second."
    ),
}

_DEPLOYMENT_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment "
    "within the last 5 minutes, please wait a moment and try again."
)


def azure_error(status: int, message: str | None, code: str | None) -> dict[str, Any]:
    """Azure's gateway errors are `{"error": {"code", "message"}}`; errors from the model
    service (400s, content filter, 500s) keep OpenAI's shape, plus `status`."""
    if status in _AZURE_MESSAGES or code == "DeploymentNotFound":
        return {
            "error": {
                "code": code or str(status),
                "message": message or _AZURE_MESSAGES.get(status, _DEPLOYMENT_NOT_FOUND),
            }
        }
    body = openai_error(status, message, code)
    body["error"]["status"] = status
    if code == "content_filter":
        body["error"]["innererror"] = {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": True, "severity": "high"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
        }
    return body


AZURE = Dialect(
    name="azure",
    tool_id=lambda _i: new_id("call_"),
    content_filters=True,
    reasoning_field=None,
    error_body=azure_error,
)


def check_auth(request: web.Request, ctx: SimContext) -> web.Response | None:
    if ctx.api_key is None:
        return None
    key = request.headers.get("api-key")
    if key is None:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if key != ctx.api_key:
        return AZURE.error_response(401, None, None, None)
    return None


def _classic_route_problem(request: web.Request, ctx: SimContext) -> web.Response | None:
    if not request.query.get("api-version"):
        return AZURE.error_response(404, None, None, None)
    deployment = request.match_info["deployment"]
    if ctx.deployments is not None and deployment not in ctx.deployments:
        return AZURE.error_response(404, _DEPLOYMENT_NOT_FOUND, "DeploymentNotFound", None)
    return None


async def deployment_chat(request: web.Request, ctx: SimContext) -> web.StreamResponse:
    problem = _classic_route_problem(request, ctx)
    if problem is not None:
        return problem
    # The body's `model` is ignored: the deployment decides, and it is what Azure reports back.
    deployment = request.match_info["deployment"]
    return await chat_handler(request, ctx, AZURE, model=deployment, model_required=False)


async def deployment_embeddings(request: web.Request, ctx: SimContext) -> web.StreamResponse:
    problem = _classic_route_problem(request, ctx)
    if problem is not None:
        return problem
    return await embeddings_handler(request, ctx, AZURE, model=request.match_info["deployment"])


async def list_models(request: web.Request, ctx: SimContext) -> web.Response:
    if not request.query.get("api-version"):
        return AZURE.error_response(404, None, None, None)
    return await models_handler(request, ctx, AZURE, owner="system")


def add_routes(app: web.Application, ctx: SimContext) -> None:
    base = "/openai/deployments/{deployment}"
    app.router.add_post(f"{base}/chat/completions", partial(deployment_chat, ctx=ctx))
    app.router.add_post(f"{base}/embeddings", partial(deployment_embeddings, ctx=ctx))
    app.router.add_get("/openai/models", partial(list_models, ctx=ctx))
    # The v1 API: plain OpenAI paths under /openai/v1, the deployment name in `model`.
    app.router.add_post(
        "/openai/v1/chat/completions", partial(chat_handler, ctx=ctx, dialect=AZURE)
    )
    app.router.add_post(
        "/openai/v1/embeddings", partial(embeddings_handler, ctx=ctx, dialect=AZURE)
    )
    app.router.add_get(
        "/openai/v1/models", partial(models_handler, ctx=ctx, dialect=AZURE, owner="system")
    )


def not_found(request: web.Request) -> web.Response:
    return json_response(azure_error(404, None, None), 404)
