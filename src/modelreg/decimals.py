"""Decimals as JSON text: plain fixed-point, the same on every backend.

`str(Decimal)` gives "0E-15" for a PostgreSQL NUMERIC(30,15) zero and "1E-7" for a ten-millionth;
clients (and people) expect "0" and "0.0000001". Every cost and price in a response goes
through `plain`.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["plain"]


def plain(value: Decimal) -> str:
    """Fixed-point without trailing zeros: "0", "0.000001", "1000", "1.5"."""
    if value.is_zero():
        return "0"  # also for -0 and 0E-15
    return format(value.normalize(), "f")
