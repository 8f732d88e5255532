"""The analytics report's tables as CSV (one table per file: models, days or users)."""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

from modelreg.analytics.report import AnalyticsReport

__all__ = ["Table", "to_csv"]

Table = Literal["models", "days", "users"]

_TOTALS = ["requests", "errors", "error_rate", "input_tokens", "output_tokens", "cost"]
_COLUMNS: dict[str, list[str]] = {
    "models": [
        "model_name", "llm_model_id", *_TOTALS, "latency_p50_ms", "latency_p95_ms",
        "latency_mean_ms", "ttft_p50_ms", "ratings_up", "ratings_down", "feedback_score",
    ],
    "days": ["day", "model_name", "llm_model_id", *_TOTALS, "latency_mean_ms"],
    "users": ["username", "user_id", *_TOTALS],
}  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # a spreadsheet runs a cell that starts with = + - @ as a formula: names are user input
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(report: AnalyticsReport, table: Table) -> str:
    """`table` of the report as CSV with a header row (an empty table: the header only)."""
    rows: list[Any]
    if table == "models":
        rows = report.models
    elif table == "days":
        rows = report.days
    else:
        rows = report.users or []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = _COLUMNS[table]
    writer.writerow(columns)
    for row in rows:
        data = row.model_dump()
        writer.writerow([_cell(data.get(c)) for c in columns])
    return out.getvalue()
