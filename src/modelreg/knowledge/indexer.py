"""The background indexer: one task per serving process that takes queued documents (and
documents a killed process left `indexing` once their lease ran out), reads them, chunks
them, embeds the chunks in batches, extracts the entity graph, and writes the document in one
transaction at the end — never half-indexed. Then the collection's communities are found
again and summarised. Progress (`indexing n of m`) and the lease are renewed after every
model call; a document deleted or re-queued meanwhile is dropped at the next renewal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from typing import Any

from modelreg.actor import Actor
from modelreg.db.knowledge_models import KnowledgeDocument
from modelreg.errors import ModelregError
from modelreg.knowledge.calls import EMBED_BATCH, ModelCalls
from modelreg.knowledge.chunking import split_chunks
from modelreg.knowledge.communities import refresh_communities
from modelreg.knowledge.extraction import ExtractionError, extraction_prompt, parse_extraction
from modelreg.knowledge.parsing import DocumentError, document_kind, extract_text
from modelreg.knowledge.store import IndexedDocument, KnowledgeStore
from modelreg.model_config import ModelConfig
from modelreg.registry.service import ModelManagerService
from modelreg.registry.usable import ensure_usable

__all__ = ["MAX_CHUNKS", "Indexer", "payer"]

log = logging.getLogger(__name__)

MAX_CHUNKS = 5000  # per document: about a million words


class _Dropped(Exception):
    """The document was deleted or queued again while it was being indexed."""


def payer(owner: uuid.UUID | None) -> Actor:
    """Whom the indexing of a collection is booked to: its owner (or its creator)."""
    return Actor(id=owner, username="knowledge", role="user" if owner else "system")


class Indexer:
    def __init__(
        self,
        store: KnowledgeStore,
        registry: ModelManagerService,
        calls: ModelCalls,
        *,
        lease_seconds: float = 60.0,
        idle_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.registry = registry
        self.calls = calls
        self.lease = timedelta(seconds=lease_seconds)
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="knowledge-indexer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                doc = await self.store.claim(self.lease)
            except Exception:  # the database is away: try again later
                log.warning("knowledge indexer: cannot claim a document", exc_info=True)
                doc = None
            if doc is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
                continue
            await self.index(doc)

    async def index(self, doc: KnowledgeDocument) -> None:
        try:
            await self._index(doc)
        except _Dropped:
            log.info("knowledge: document %s changed while indexing; dropped", doc.id)
        except (DocumentError, ExtractionError, ModelregError) as e:
            await self._fail(doc, str(e) if not isinstance(e, ModelregError) else e.message)
        except Exception:
            log.exception("knowledge: indexing document %s failed", doc.id)
            await self._fail(doc, "internal error while indexing")

    async def _fail(self, doc: KnowledgeDocument, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.store.fail(doc.id, reason)

    async def _index(self, doc: KnowledgeDocument) -> None:
        from modelreg.actor import SYSTEM

        collection = await self.store.collection(SYSTEM, doc.collection_id)
        who = payer(collection.user_id or collection.created_by)
        embedder = await self._model(collection.embedding_model_id, "embedding model", None)
        extractor = None
        if collection.extraction_model_id is not None:
            extractor = await self._model(
                collection.extraction_model_id, "extraction model", "chat"
            )
        kind = document_kind(doc.filename, doc.content_type)
        if kind is None:
            raise DocumentError("unsupported document type")
        chunks = split_chunks(extract_text(kind, doc.content))
        if len(chunks) > MAX_CHUNKS:
            raise DocumentError(f"the document has more than {MAX_CHUNKS} chunks; split it")
        total = len(chunks) * (2 if extractor else 1)
        done = 0
        vectors: list[bytes] = []
        dims = 0
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = await self.calls.embed(who, embedder, chunks[start : start + EMBED_BATCH])
            dims = int(batch.shape[1])
            vectors.extend(row.tobytes() for row in batch)
            done += len(batch)
            await self._progress(doc, done, total)
        entities: list[dict[str, Any]] = []
        relations: list[dict[str, Any]] = []
        if extractor is not None:
            for ordinal, chunk in enumerate(chunks):
                found = parse_extraction(
                    await self.calls.chat(who, extractor, extraction_prompt(chunk))
                )
                entities += [
                    {
                        "id": uuid.uuid4(),
                        "name": e.name,
                        "type": e.type,
                        "description": e.description,
                        "chunk_ordinals": [ordinal],
                    }
                    for e in found.entities
                ]
                relations += [
                    {
                        "id": uuid.uuid4(),
                        "source": r.source,
                        "target": r.target,
                        "description": r.description,
                        "weight": 1,
                    }
                    for r in found.relations
                ]
                done += 1
                await self._progress(doc, done, total)
        rows = [
            {"id": uuid.uuid4(), "ordinal": i, "text": text, "vector": vector, "dimensions": dims}
            for i, (text, vector) in enumerate(zip(chunks, vectors, strict=True))
        ]
        if not await self.store.finish(doc, IndexedDocument(rows, entities, relations)):
            raise _Dropped
        if extractor is not None:
            await refresh_communities(self.store, self.calls, who, extractor, doc.collection_id)

    async def _progress(self, doc: KnowledgeDocument, done: int, total: int) -> None:
        if not await self.store.progress(doc.id, done, total, self.lease):
            raise _Dropped

    async def _model(
        self, model_id: uuid.UUID | None, role: str, purpose: str | None
    ) -> ModelConfig:
        if model_id is None:
            raise DocumentError(f"the collection's {role} was deleted; choose another")
        model = await self.registry.find_config(model_id)
        if model is None:
            raise DocumentError(f"the collection's {role} was deleted; choose another")
        ensure_usable(model, purpose)
        return model
