"""Routes: gateway_anthropic (filled in by the chat/gateway work)."""

from fastapi import APIRouter

router = APIRouter()
