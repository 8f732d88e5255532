"""The feedback score of each arm: thumbs up (+1) and down (−1) on the arm's answers.

The ratings live in `message_feedback(message_id, user_id, rating, comment, …)`, a table
of the feedback feature (issue 11, section 4). This is the one place that reads it: when the
table does not exist (a database without that feature), the score is None, and the results
say "no feedback" instead of failing.
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
    "SELECT m.experiment_arm_id AS arm,"
    " SUM(CASE WHEN f.rating > 0 THEN 1 ELSE 0 END) AS up,"
    " SUM(CASE WHEN f.rating < 0 THEN 1 ELSE 0 END) AS down"
    " FROM message_feedback f JOIN messages m ON m.id = f.message_id"
    " WHERE m.experiment_id = :experiment GROUP BY m.experiment_arm_id"
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
