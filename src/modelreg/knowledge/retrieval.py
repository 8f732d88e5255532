"""Retrieval over one or more collections, in three modes (GraphRAG's):

- `local`: the nearest chunks, the entities extracted from them or named in the question,
  their neighbours and the relationships between them — for specific questions;
- `global`: the community summaries — for questions about the whole collection;
- `vector`: the nearest chunks only — when a collection has no graph.

`auto` picks `global` for questions about the collection as a whole (when it has
communities), else `local` when it has a graph, else `vector`. Vectors stay in one float32
matrix per collection in this process, reloaded when the collection's version changes;
a query is one matrix-vector product (brute force: exact, and fast to ~10^5 chunks).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from modelreg.actor import Actor
from modelreg.knowledge.calls import ModelCalls, Vectors
from modelreg.knowledge.extraction import normalise_name
from modelreg.knowledge.store import KnowledgeStore
from modelreg.registry.service import ModelManagerService
from modelreg.registry.usable import ensure_usable

__all__ = ["Mode", "Passage", "Retrieved", "Retriever", "VectorIndex", "choose_mode"]

Mode = Literal["auto", "local", "global", "vector"]

_GLOBAL = re.compile(
    r"\b(overall|overview|main (themes?|topics?|ideas?|points?)|key (themes?|topics?)|"
    r"summar(y|ise|ize)|in general|whole|all (the )?(documents?|files?|texts?)|"
    r"(this|the) collection|across)\b",
    re.IGNORECASE,
)
MAX_PASSAGE_CHARS = 2000


def choose_mode(question: str, has_graph: bool, has_communities: bool) -> Mode:
    if has_communities and _GLOBAL.search(question):
        return "global"
    return "local" if has_graph else "vector"


@dataclass(frozen=True, slots=True)
class Passage:
    collection_id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    chunk_id: uuid.UUID
    ordinal: int
    score: float
    text: str

    def citation(self, n: int) -> dict[str, Any]:
        return {
            "n": n,
            "collection_id": str(self.collection_id),
            "document_id": str(self.document_id),
            "filename": self.filename,
            "chunk_id": str(self.chunk_id),
            "ordinal": self.ordinal,
            "score": round(self.score, 4),
            "text": self.text[:MAX_PASSAGE_CHARS],
        }


@dataclass(slots=True)
class Retrieved:
    mode: Mode
    passages: list[Passage] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    relationships: list[str] = field(default_factory=list)
    communities: list[dict[str, Any]] = field(default_factory=list)

    def context(self) -> str:
        """The text the model is given."""
        parts = []
        if self.communities:
            parts.append(
                "Summaries of the topics in the collection:\n"
                + "\n\n".join(f"## {c['title']}\n{c['summary']}" for c in self.communities)
            )
        if self.passages:
            parts.append(
                "Passages:\n"
                + "\n\n".join(
                    f"[{n}] ({p.filename})\n{p.text}" for n, p in enumerate(self.passages, 1)
                )
            )
        if self.entities:
            parts.append("Entities:\n" + "\n".join(self.entities))
        if self.relationships:
            parts.append("Relationships:\n" + "\n".join(self.relationships))
        return "\n\n".join(parts)


@dataclass(slots=True)
class VectorIndex:
    version: int
    ids: list[uuid.UUID]
    documents: list[uuid.UUID]
    ordinals: list[int]
    texts: list[str]
    filenames: list[str]
    matrix: Vectors

    @classmethod
    def from_rows(cls, version: int, rows: Sequence[Any]) -> VectorIndex:
        dims = max((len(r.vector) // 4 for r in rows), default=0)
        rows = [r for r in rows if len(r.vector) // 4 == dims]  # a model change in progress
        matrix = np.frombuffer(b"".join(r.vector for r in rows), dtype=np.float32)
        return cls(
            version,
            [r.id for r in rows],
            [r.document_id for r in rows],
            [r.ordinal for r in rows],
            [r.text for r in rows],
            [r.filename for r in rows],
            matrix.reshape(len(rows), dims),
        )

    def nearest(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        if not self.ids or query.shape[0] != self.matrix.shape[1]:
            return []
        scores = self.matrix @ query
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        return [(int(i), float(scores[i])) for i in top[np.argsort(-scores[top])]]


class Retriever:
    def __init__(
        self, store: KnowledgeStore, registry: ModelManagerService, calls: ModelCalls
    ) -> None:
        self.store = store
        self.registry = registry
        self.calls = calls
        self._indexes: dict[uuid.UUID, VectorIndex] = {}
        self._graphs: dict[uuid.UUID, tuple[int, tuple[Any, Any, Any]]] = {}

    async def index(self, actor: Actor, collection_id: uuid.UUID) -> VectorIndex:
        version = await self.store.version(actor, collection_id)
        cached = self._indexes.get(collection_id)
        if cached is not None and cached.version == version:
            return cached
        rows = await self.store.chunk_rows(actor, collection_id)
        index = VectorIndex.from_rows(version, rows)
        self._indexes[collection_id] = index
        return index

    async def _graph(self, actor: Actor, collection_id: uuid.UUID) -> tuple[Any, Any, Any]:
        """The collection's entities, relationships and communities, cached like its
        vectors until its version changes (the graph is read whole, never per question)."""
        index = await self.index(actor, collection_id)
        cached = self._graphs.get(collection_id)
        if cached is not None and cached[0] == index.version:
            return cached[1]
        graph = await self.store.graph_for(actor, collection_id)
        self._graphs[collection_id] = (index.version, graph)
        return graph

    async def retrieve(
        self,
        actor: Actor,
        collection_ids: Sequence[uuid.UUID],
        question: str,
        *,
        mode: Mode = "auto",
        k: int = 5,
    ) -> Retrieved:
        """The context for `question` from the collections (each checked visible to
        `actor`: another user's collection raises CollectionNotFoundError)."""
        results = [await self._one(actor, cid, question, mode, k) for cid in collection_ids]
        if not results:
            return Retrieved(mode="vector" if mode == "auto" else mode)
        merged = Retrieved(mode=results[0].mode)
        for r in results:
            merged.passages += r.passages
            merged.entities += r.entities
            merged.relationships += r.relationships
            merged.communities += r.communities
        merged.passages = sorted(merged.passages, key=lambda p: -p.score)[:k]
        merged.communities = merged.communities[:8]
        return merged

    async def _one(
        self, actor: Actor, collection_id: uuid.UUID, question: str, mode: Mode, k: int
    ) -> Retrieved:
        collection = await self.store.collection(actor, collection_id)
        entities, relations, communities = await self._graph(actor, collection_id)
        if mode == "auto":
            mode = choose_mode(question, bool(entities), bool(communities))
        result = Retrieved(mode=mode)
        index = self._indexes[collection_id]
        if collection.embedding_model_id is not None and index.ids:
            model = await self.registry.get_config(collection.embedding_model_id)
            ensure_usable(model, None)
            query = (await self.calls.embed(actor, model, [question]))[0]
            for i, score in index.nearest(query, k):
                result.passages.append(
                    Passage(
                        collection_id,
                        index.documents[i],
                        index.filenames[i],
                        index.ids[i],
                        index.ordinals[i],
                        score,
                        index.texts[i],
                    )
                )
        if mode == "global":
            words = set(re.findall(r"\w+", question.lower()))
            ranked = sorted(
                communities,
                key=lambda c: (
                    -len(words & set(re.findall(r"\w+", (c.title + " " + c.summary).lower())))
                ),
            )
            result.communities = [
                {"title": c.title, "summary": c.summary, "entities": list(c.entities)}
                for c in ranked[:8]
            ]
            result.passages = result.passages[:3]
        elif mode == "local":
            _local_graph(result, question, entities, relations)
        return result


def _local_graph(
    result: Retrieved, question: str, entities: Sequence[Any], relations: Sequence[Any]
) -> None:
    """The entities of the passages found (and those the question names), one hop of
    neighbours, and the relationships among them."""
    hits = {(p.document_id, p.ordinal) for p in result.passages}
    asked = normalise_name(question)
    chosen: dict[str, str] = {}
    for e in entities:
        if any((e.document_id, o) in hits for o in e.chunk_ordinals) or (
            len(e.name) > 2 and e.name in asked
        ):
            chosen.setdefault(e.name, f"{e.name} ({e.type}): {e.description}".strip())
    related = []
    for r in relations:
        if r.source in chosen or r.target in chosen:
            related.append(f"{r.source} -> {r.target}: {r.description}")
    neighbours = {r.source for r in relations if r.target in chosen} | {
        r.target for r in relations if r.source in chosen
    }
    for e in entities:
        if e.name in neighbours:
            chosen.setdefault(e.name, f"{e.name} ({e.type}): {e.description}".strip())
    result.entities = list(chosen.values())[:20]
    result.relationships = list(dict.fromkeys(related))[:30]
