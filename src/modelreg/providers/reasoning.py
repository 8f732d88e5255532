"""OpenAI's `reasoning_effort` ↔ Anthropic's thinking budget (docs/providers.md).

Effort → budget uses the budgets Google documents for Gemini's OpenAI-compatible
`reasoning_effort` (low 1024, medium 8192, high 24576); 1024 is also Anthropic's minimum
budget, so "minimal" and "low" both become 1024. Budget → effort picks the nearest level by
the midpoints between those budgets. Both directions are ours to choose, not a provider's:
LiteLLM picks different numbers, so they are written down rather than hidden.
"""

from __future__ import annotations

__all__ = ["EFFORT_BUDGETS", "budget_for", "effort_for"]

EFFORT_BUDGETS: dict[str, int] = {"minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
_LOW_BELOW = 4096  # budgets under this read as "low"
_HIGH_FROM = 16384  # budgets from this read as "high"; in between, "medium"


def budget_for(effort: str) -> int | None:
    """The thinking budget for an effort level; None for "none" (thinking off) or a level
    we do not know."""
    return EFFORT_BUDGETS.get(effort)


def effort_for(budget: int) -> str:
    if budget < _LOW_BELOW:
        return "low"
    return "high" if budget >= _HIGH_FROM else "medium"
