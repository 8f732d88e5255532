"""Rows of the knowledge tables: collections and their access rule, documents and their
indexing state, the one-transaction write of an indexed document, and the reads retrieval
needs. The rule (as for models, and as the PostgreSQL policies say): everyone sees
company-wide collections and their own; only admins change company-wide ones."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from modelreg.actor import SYSTEM, Actor
from modelreg.db.engine import Database
from modelreg.db.knowledge_models import (
    KnowledgeChunk,
    KnowledgeCollection,
    KnowledgeCommunity,
    KnowledgeConversation,
    KnowledgeDocument,
    KnowledgeEntity,
    KnowledgeRelationship,
)
from modelreg.db.models import Message, utcnow
from modelreg.errors import AccessDeniedError, UnknownModelError

__all__ = ["CollectionNotFoundError", "IndexedDocument", "KnowledgeStore"]


class CollectionNotFoundError(UnknownModelError):
    """A collection or document that does not exist or that the caller may not see (404:
    another user's collection answers exactly like a missing one)."""


@dataclass(slots=True)
class IndexedDocument:
    """What the indexer writes for one document, in one transaction."""

    chunks: list[dict[str, Any]]
    entities: list[dict[str, Any]]
    relations: list[dict[str, Any]]


def _visible(actor: Actor) -> Any:
    if actor.role == "system":
        return True
    return or_(KnowledgeCollection.user_id.is_(None), KnowledgeCollection.user_id == actor.id)


class KnowledgeStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- collections -----------------------------------------------------------------

    async def add_collection(self, actor: Actor, row: KnowledgeCollection) -> KnowledgeCollection:
        async with self.db.session(actor) as s:
            s.add(row)
        return row

    async def collections(self, actor: Actor) -> list[KnowledgeCollection]:
        async with self.db.session(actor) as s:
            query = select(KnowledgeCollection).where(_visible(actor))
            return list(await s.scalars(query.order_by(KnowledgeCollection.created_at)))

    async def collection(self, actor: Actor, collection_id: uuid.UUID) -> KnowledgeCollection:
        async with self.db.session(actor) as s:
            return await self._collection(s, actor, collection_id)

    async def _collection(
        self, s: AsyncSession, actor: Actor, collection_id: uuid.UUID
    ) -> KnowledgeCollection:
        query = select(KnowledgeCollection).where(
            KnowledgeCollection.id == collection_id, _visible(actor)
        )
        row = await s.scalar(query)
        if row is None:
            raise CollectionNotFoundError(f"no collection {collection_id}")
        return row

    @staticmethod
    def ensure_writable(actor: Actor, row: KnowledgeCollection) -> None:
        if row.user_id is None and not actor.is_admin:
            raise AccessDeniedError("only admins change company-wide collections")
        if row.user_id is not None and row.user_id != actor.id and actor.role != "system":
            raise CollectionNotFoundError(f"no collection {row.id}")

    async def update_collection(
        self, actor: Actor, collection_id: uuid.UUID, values: dict[str, Any], *, reindex: bool
    ) -> KnowledgeCollection:
        """Change a collection; `reindex`: its documents are queued again (its models
        changed), in the same transaction."""
        async with self.db.session(actor) as s:
            row = await self._collection(s, actor, collection_id)
            self.ensure_writable(actor, row)
            for key, value in values.items():
                setattr(row, key, value)
            if reindex:
                row.version += 1
                await s.execute(
                    update(KnowledgeDocument)
                    .where(KnowledgeDocument.collection_id == collection_id)
                    .values(status="queued", error=None, progress_done=0, lease_until=None)
                )
        return row

    async def delete_collection(self, actor: Actor, collection_id: uuid.UUID) -> None:
        async with self.db.session(actor) as s:
            row = await self._collection(s, actor, collection_id)
            self.ensure_writable(actor, row)
            await s.delete(row)

    # --- documents -------------------------------------------------------------------

    async def add_document(self, actor: Actor, row: KnowledgeDocument) -> KnowledgeDocument:
        async with self.db.session(actor) as s:
            collection = await self._collection(s, actor, row.collection_id)
            self.ensure_writable(actor, collection)
            row.user_id = collection.user_id
            s.add(row)
        return row

    async def documents(self, actor: Actor, collection_id: uuid.UUID) -> list[KnowledgeDocument]:
        async with self.db.session(actor) as s:
            await self._collection(s, actor, collection_id)
            query = (
                select(KnowledgeDocument)
                .options(defer(KnowledgeDocument.content))  # the file: only the indexer reads it
                .where(KnowledgeDocument.collection_id == collection_id)
            )
            return list(await s.scalars(query.order_by(KnowledgeDocument.created_at)))

    async def document(self, actor: Actor, document_id: uuid.UUID) -> KnowledgeDocument:
        async with self.db.session(actor) as s:
            return await self._document(s, actor, document_id)

    async def _document(
        self, s: AsyncSession, actor: Actor, document_id: uuid.UUID
    ) -> KnowledgeDocument:
        query = (
            select(KnowledgeDocument)
            .options(defer(KnowledgeDocument.content))
            .join(KnowledgeCollection, KnowledgeCollection.id == KnowledgeDocument.collection_id)
            .where(KnowledgeDocument.id == document_id, _visible(actor))
        )
        row = await s.scalar(query)
        if row is None:
            raise CollectionNotFoundError(f"no document {document_id}")
        return row

    async def delete_document(self, actor: Actor, document_id: uuid.UUID) -> uuid.UUID:
        """The document with its chunks, vectors, entities and relationships (cascade);
        returns its collection's id."""
        async with self.db.session(actor) as s:
            row = await self._document(s, actor, document_id)
            collection = await self._collection(s, actor, row.collection_id)
            self.ensure_writable(actor, collection)
            await s.execute(delete(KnowledgeDocument).where(KnowledgeDocument.id == document_id))
            collection.version += 1
            return collection.id

    # --- the indexer's side (as system) --------------------------------------------------

    async def claim(self, lease: timedelta) -> KnowledgeDocument | None:
        """The oldest document waiting, or left `indexing` by a process that died (its lease
        ran out), now `indexing` and leased to this process."""
        now = utcnow()
        waiting = or_(
            KnowledgeDocument.status == "queued",
            (KnowledgeDocument.status == "indexing") & (KnowledgeDocument.lease_until < now),
        )
        async with self.db.session(SYSTEM) as s:
            candidates = await s.scalars(
                select(KnowledgeDocument.id)
                .where(waiting)
                .order_by(KnowledgeDocument.created_at)
                .limit(5)
            )
            for doc_id in list(candidates):
                taken = await s.execute(
                    update(KnowledgeDocument)
                    .where(KnowledgeDocument.id == doc_id, waiting)
                    .values(status="indexing", lease_until=now + lease, progress_done=0, error=None)
                )
                if getattr(taken, "rowcount", 0) == 1:
                    return await s.get(KnowledgeDocument, doc_id)
        return None

    async def progress(self, doc_id: uuid.UUID, done: int, total: int, lease: timedelta) -> bool:
        """Record progress and renew the lease; False when the document is gone or was
        queued again meanwhile (deleted, or the collection's models changed)."""
        async with self.db.session(SYSTEM) as s:
            moved = await s.execute(
                update(KnowledgeDocument)
                .where(KnowledgeDocument.id == doc_id, KnowledgeDocument.status == "indexing")
                .values(progress_done=done, progress_total=total, lease_until=utcnow() + lease)
            )
        return getattr(moved, "rowcount", 0) == 1

    async def fail(self, doc_id: uuid.UUID, reason: str) -> None:
        async with self.db.session(SYSTEM) as s:
            await s.execute(
                update(KnowledgeDocument)
                .where(KnowledgeDocument.id == doc_id, KnowledgeDocument.status == "indexing")
                .values(status="failed", error=reason[:2000], lease_until=None)
            )

    async def finish(self, doc: KnowledgeDocument, indexed: IndexedDocument) -> bool:
        """Replace the document's chunks and graph contributions and mark it ready, in one
        transaction: a document is either indexed whole or not at all."""
        async with self.db.session(SYSTEM) as s:
            still = await s.scalar(
                select(KnowledgeDocument.id)
                .where(KnowledgeDocument.id == doc.id, KnowledgeDocument.status == "indexing")
                .with_for_update()
            )
            if still is None:
                return False
            for table in (KnowledgeChunk, KnowledgeEntity, KnowledgeRelationship):
                await s.execute(delete(table).where(table.document_id == doc.id))
            common = {
                "document_id": doc.id,
                "collection_id": doc.collection_id,
                "user_id": doc.user_id,
            }
            for table, rows in (
                (KnowledgeChunk, indexed.chunks),
                (KnowledgeEntity, indexed.entities),
                (KnowledgeRelationship, indexed.relations),
            ):
                if rows:
                    await s.execute(insert(table), [common | r for r in rows])
            await s.execute(
                update(KnowledgeDocument)
                .where(KnowledgeDocument.id == doc.id)
                .values(
                    status="ready",
                    error=None,
                    lease_until=None,
                    chunk_count=len(indexed.chunks),
                    progress_done=func.coalesce(KnowledgeDocument.progress_total, 0),
                )
            )
            await s.execute(
                update(KnowledgeCollection)
                .where(KnowledgeCollection.id == doc.collection_id)
                .values(version=KnowledgeCollection.version + 1)
            )
        return True

    async def graph_rows(
        self, collection_id: uuid.UUID
    ) -> tuple[list[KnowledgeEntity], list[KnowledgeRelationship]]:
        async with self.db.session(SYSTEM) as s:
            entities = await s.scalars(
                select(KnowledgeEntity).where(KnowledgeEntity.collection_id == collection_id)
            )
            relations = await s.scalars(
                select(KnowledgeRelationship).where(
                    KnowledgeRelationship.collection_id == collection_id
                )
            )
            return list(entities), list(relations)

    async def replace_communities(
        self, collection_id: uuid.UUID, rows: Sequence[dict[str, Any]]
    ) -> None:
        async with self.db.session(SYSTEM) as s:
            owner = await s.scalar(
                select(KnowledgeCollection.user_id).where(KnowledgeCollection.id == collection_id)
            )
            await s.execute(
                delete(KnowledgeCommunity).where(KnowledgeCommunity.collection_id == collection_id)
            )
            await s.execute(
                update(KnowledgeCollection)
                .where(KnowledgeCollection.id == collection_id)
                .values(version=KnowledgeCollection.version + 1)
            )
            if rows:
                common = {"collection_id": collection_id, "user_id": owner}
                await s.execute(
                    insert(KnowledgeCommunity),
                    [common | {"id": uuid.uuid4()} | r for r in rows],
                )

    # --- conversations and citations -----------------------------------------------------

    async def attach(
        self, actor: Actor, conversation_id: uuid.UUID, collection_ids: Sequence[uuid.UUID]
    ) -> None:
        """The conversation's collections become exactly `collection_ids`."""
        assert actor.id is not None
        async with self.db.session(actor) as s:
            for collection_id in collection_ids:
                await self._collection(s, actor, collection_id)
            await s.execute(
                delete(KnowledgeConversation).where(
                    KnowledgeConversation.conversation_id == conversation_id,
                    KnowledgeConversation.user_id == actor.id,
                )
            )
            for collection_id in dict.fromkeys(collection_ids):
                s.add(
                    KnowledgeConversation(
                        conversation_id=conversation_id,
                        collection_id=collection_id,
                        user_id=actor.id,
                    )
                )

    async def attached(self, actor: Actor, conversation_id: uuid.UUID) -> list[uuid.UUID]:
        async with self.db.session(actor) as s:
            query = (
                select(KnowledgeConversation.collection_id)
                .join(
                    KnowledgeCollection,
                    KnowledgeCollection.id == KnowledgeConversation.collection_id,
                )
                .where(
                    KnowledgeConversation.conversation_id == conversation_id,
                    KnowledgeConversation.user_id == actor.id,
                    _visible(actor),
                )
            )
            return list(await s.scalars(query))

    async def cite(self, actor: Actor, message_id: uuid.UUID, citations: list[Any]) -> None:
        async with self.db.session(actor) as s:
            await s.execute(
                update(Message)
                .where(Message.id == message_id, Message.user_id == actor.id)
                .values(citations=citations)
            )

    # --- retrieval reads -------------------------------------------------------------------

    async def version(self, actor: Actor, collection_id: uuid.UUID) -> int:
        async with self.db.session(actor) as s:
            return (await self._collection(s, actor, collection_id)).version

    async def chunk_rows(self, actor: Actor, collection_id: uuid.UUID) -> list[Any]:
        async with self.db.session(actor) as s:
            await self._collection(s, actor, collection_id)
            query = (
                select(
                    KnowledgeChunk.id,
                    KnowledgeChunk.document_id,
                    KnowledgeChunk.ordinal,
                    KnowledgeChunk.text,
                    KnowledgeChunk.vector,
                    KnowledgeDocument.filename,
                )
                .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.document_id)
                .where(
                    KnowledgeChunk.collection_id == collection_id,
                    KnowledgeDocument.status == "ready",
                )
                .order_by(KnowledgeChunk.document_id, KnowledgeChunk.ordinal)
            )
            return list(await s.execute(query))

    async def graph_for(
        self, actor: Actor, collection_id: uuid.UUID
    ) -> tuple[list[KnowledgeEntity], list[KnowledgeRelationship], list[KnowledgeCommunity]]:
        async with self.db.session(actor) as s:
            await self._collection(s, actor, collection_id)
            ent = await s.scalars(
                select(KnowledgeEntity).where(KnowledgeEntity.collection_id == collection_id)
            )
            rel = await s.scalars(
                select(KnowledgeRelationship).where(
                    KnowledgeRelationship.collection_id == collection_id
                )
            )
            com = await s.scalars(
                select(KnowledgeCommunity)
                .where(KnowledgeCommunity.collection_id == collection_id)
                .order_by(KnowledgeCommunity.ordinal)
            )
            return list(ent), list(rel), list(com)


def lease_expired(at: datetime | None) -> bool:
    return at is None or at < utcnow()
