"""The feedback score of each arm: thumbs up (+1) and down (−1) on the arm's answers.

The ratings live in the feedback feature's tables (modelreg.analytics): `message_feedback`
for chat answers (the message names its arm) and `response_feedback` for gateway responses,
rated by the request id their usage event carries with its arm. This is the one place that
reads them for the experiments: when the tables do not exist (a database not yet migrated),
the score is None, and the results say "no feedback" instead of failing.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sqlalchemy import Uuid, bindparam, inspect, text

from modelreg.actor import SYSTEM

if TYPE_CHECKING:
    from modelreg.db.engine import Database

__all__ = ["FeedbackScore", "feedback_scores"]

_TABLE = "message_feedback"
# answers of the experiment's arms (messages name the arm), rated by anyone who saw them
_QUERY = text(
    "SELECT arm, SUM(CASE WHEN rating > 0 THEN 1 ELSE 0 END) AS up,"
    " SUM(CASE WHEN rating < 0 THEN 1 ELSE 0 END) AS down FROM ("
    " SELECT m.experiment_arm_id AS arm, f.rating AS rating"
    " FROM message_feedback f JOIN messages m ON m.id = f.message_id"
    " WHERE m.experiment_id = :experiment"
    " UNION ALL SELECT u.experiment_arm_id, r.rating"
    " FROM response_feedback r JOIN usage_events u ON u.request_id = r.request_id"
    " WHERE u.experiment_id = :experiment"
    ") rated GROUP BY arm"
).bindparams(bindparam("experiment", type_=Uuid()))


class FeedbackScore(BaseModel):
    ratings: int = Field(description="Answers of this arm that were rated")
    up: int
    down: int
    score: float | None = Field(description="(up − down) / ratings: from −1 to +1")


async def feedback_scores(
    db: Database, experiment_id: uuid.UUID
) -> dict[uuid.UUID, FeedbackScore] | None:
    """Per arm id; None when the feedback table does not exist."""
    async with db.session(SYSTEM) as session:
        exists = await session.run_sync(lambda s: inspect(s.connection()).has_table(_TABLE))
        if not exists:
            return None
        rows = (await session.execute(_QUERY, {"experiment": experiment_id})).all()
    scores = {}
    for arm, up, down in rows:
        if arm is None:
            continue
        up, down = int(up or 0), int(down or 0)
        total = up + down
        arm_id = arm if isinstance(arm, uuid.UUID) else uuid.UUID(str(arm))
        scores[arm_id] = FeedbackScore(
            ratings=total, up=up, down=down, score=(up - down) / total if total else None
        )
    return scores
