"""A tool_choice that names a tool must name one of the tools offered in the same request:
otherwise providers answer with their own 400 (or, worse, ignore it), after a round trip."""

from __future__ import annotations

from collections.abc import Iterable

from modelreg.gateway.errors import GatewayRequestError

__all__ = ["check_named_tool"]


def check_named_tool(name: str | None, offered: Iterable[str]) -> None:
    """Refuse (400, `param: tool_choice`) a named tool that is not in `offered`."""
    if name is None:
        return
    names = set(offered)
    if name not in names:
        listed = ", ".join(sorted(repr(n) for n in names)[:10]) or "none"
        raise GatewayRequestError(
            f"tool_choice names the tool {name[:64]!r}, which is not among the tools offered "
            f"in this request ({listed})",
            param="tool_choice",
        )
