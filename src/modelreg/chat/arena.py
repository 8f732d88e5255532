"""The blind arena: two chat models drawn at random answer one prompt as "Model A" and
"Model B"; the user votes once (a, b, tie, both_bad) and only then learns their names.

A battle is a compare (modelreg.chat.compare) of two models in a new conversation, plus a
row in `arena_votes` written before the models are called. The draw is uniform over the
distinct chat models the user may use (enabled, with the key their provider needs, not an
embedding model), from the operating system's random source, and the order of the pair
(which is A) is random too. Votes feed the Bradley-Terry leaderboard
(modelreg.chat.bradley_terry): both_bad counts as a tie there (neither was better), as in
LMSYS's Chatbot Arena, and is reported separately.

What the arena hides until the vote: the models' names and ids, and the figures that could
give them away (cost, token counts, latency). The conversation itself is the user's, like any
other, and does name its models when opened from the conversation list.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update

from modelreg.actor import SYSTEM, Actor
from modelreg.chat.bradley_terry import DEFAULT_RESAMPLES, Outcome, Rated, Vote, leaderboard
from modelreg.chat.compare import CompareRun, CompareService, is_embedding_model
from modelreg.chat.store import owner_id, title_from, uuid_or_none
from modelreg.db.arena_models import ArenaVote
from modelreg.db.models import utcnow
from modelreg.errors import ConfigError, ModelregError
from modelreg.model_config import ModelConfig
from modelreg.registry.usable import ensure_usable

if TYPE_CHECKING:
    from modelreg.chat.service import ChatService

__all__ = [
    "LABELS",
    "ArenaService",
    "Battle",
    "BattleNotFoundError",
    "Board",
    "NotEnoughModelsError",
    "VoteChoice",
    "VotedAlreadyError",
]

VoteChoice = Literal["a", "b", "tie", "both_bad"]
Scope = Literal["company", "mine"]
LABELS = ("A", "B")
_RNG = secrets.SystemRandom()


class BattleNotFoundError(ConfigError):
    """No battle with that id belongs to the caller (404, like a missing one)."""

    def __init__(self) -> None:
        super().__init__("battle not found")


class VotedAlreadyError(ConfigError):
    """The battle has its vote (409)."""

    def __init__(self) -> None:
        super().__init__("this battle has been voted on already; a vote is cast once")


class NotEnoughModelsError(ConfigError):
    def __init__(self, found: int) -> None:
        super().__init__(f"the arena needs two enabled chat models you may use; you have {found}")


@dataclass(slots=True)
class Battle:
    id: uuid.UUID
    run: CompareRun
    models: tuple[ModelConfig, ModelConfig]


@dataclass(frozen=True, slots=True)
class Board:
    scope: Scope
    votes: int  # votes counted (every model on the board has at least one)
    both_bad: int
    resamples: int
    ratings: list[Rated]
    names: dict[str, str]  # the key of each model -> its (latest) name


class ArenaService:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat
        self.compare = CompareService(chat)
        self._boards: dict[tuple[Any, ...], Board] = {}

    async def candidates(self, actor: Actor) -> list[ModelConfig]:
        """The chat models `actor` may use, each once."""
        found: list[ModelConfig] = []
        for public in await self.chat.registry.list_models(actor, enabled=True):
            try:
                config = await self.chat.registry.resolve(actor, str(public.id))
                ensure_usable(config)
            except ModelregError:
                continue
            if not is_embedding_model(config):
                found.append(config)
        return found

    async def start(self, actor: Actor, message: str) -> Battle:
        """Draw two models, check the turn, store the prompt and the battle (vote pending)."""
        owner = owner_id(actor)
        pool = await self.candidates(actor)
        if len(pool) < 2:
            raise NotEnoughModelsError(len(pool))
        first, second = _RNG.sample(pool, 2)
        run = await self.compare.prepare(
            actor, [first.id, second.id], message, title=f"Arena: {title_from(message)}"
        )
        await self.compare.store_input(run)
        battle_id = uuid.uuid4()
        row = ArenaVote(
            id=battle_id,
            user_id=owner,
            conversation_id=run.conversation_id,
            prompt_message_id=run.reply_to_id,
            model_a_id=uuid_or_none(first.id),
            model_a_name=first.name,
            model_b_id=uuid_or_none(second.id),
            model_b_name=second.name,
            answer_a_id=run.turns[0].assistant_id,
            answer_b_id=run.turns[1].assistant_id,
            company=first.is_global and second.is_global,
            created_at=utcnow(),
        )
        async with self.chat.db.session(actor) as session:
            session.add(row)
        return Battle(battle_id, run, (first, second))

    def stream(self, battle: Battle) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
        return self.compare.stream(battle.run)

    async def vote(self, actor: Actor, battle_id: uuid.UUID, choice: VoteChoice) -> ArenaVote:
        """Cast the vote once; the row (with the names) is returned for the reveal."""
        owner = owner_id(actor)
        mine = (ArenaVote.id == battle_id) & (ArenaVote.user_id == owner)
        async with self.chat.db.session(actor) as session:
            changed = await session.execute(
                update(ArenaVote)
                .where(mine, ArenaVote.vote.is_(None))
                .values(vote=choice, voted_at=utcnow())
            )
            row = await session.scalar(select(ArenaVote).where(mine))
            if row is None:
                raise BattleNotFoundError()
            if getattr(changed, "rowcount", 0) != 1:
                raise VotedAlreadyError()
            session.expunge(row)
        self._boards.clear()
        return row

    async def leaderboard(
        self, actor: Actor, scope: Scope, *, resamples: int = DEFAULT_RESAMPLES
    ) -> Board:
        """Bradley-Terry ratings over the company's votes on company models, or the caller's
        own votes. Computed in a thread (CPU), and kept until the next vote in this process."""
        query = select(
            ArenaVote.model_a_id,
            ArenaVote.model_a_name,
            ArenaVote.model_b_id,
            ArenaVote.model_b_name,
            ArenaVote.vote,
        ).where(ArenaVote.vote.is_not(None))
        if scope == "mine":
            query = query.where(ArenaVote.user_id == owner_id(actor))
            reader = actor
        else:
            query = query.where(ArenaVote.company.is_(True))
            reader = SYSTEM  # the aggregate of every user's votes; no row leaves this method
        async with self.chat.db.session(reader) as session:
            rows = (await session.execute(query.order_by(ArenaVote.voted_at, ArenaVote.id))).all()
        key = (scope, actor.id if scope == "mine" else None, len(rows), resamples)
        cached = self._boards.get(key)
        if cached is not None:
            return cached
        board = await asyncio.to_thread(_board, scope, rows, resamples)
        if len(self._boards) > 256:
            self._boards.clear()
        self._boards[key] = board
        return board


def _key(model_id: uuid.UUID | None, name: str) -> str:
    return str(model_id) if model_id is not None else f"name:{name}"


def _board(scope: Scope, rows: Sequence[Any], resamples: int) -> Board:
    votes: list[Vote] = []
    names: dict[str, str] = {}
    both_bad = 0
    for a_id, a_name, b_id, b_name, choice in rows:
        a, b = _key(a_id, a_name), _key(b_id, b_name)
        names[a], names[b] = a_name, b_name
        if choice == "both_bad":
            both_bad += 1
        outcome: Outcome = "a" if choice == "a" else "b" if choice == "b" else "tie"
        votes.append(Vote(a, b, outcome))
    ratings = leaderboard(votes, resamples=resamples, seed=len(votes))
    return Board(scope, len(votes), both_bad, resamples, ratings, names)
