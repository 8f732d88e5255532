"""ORM models of knowledge collections (modelreg.knowledge, migration 0013).

Every table carries `user_id`: the collection's owner, NULL for a company-wide collection,
so that the row-level-security policies (modelreg.db.rls_knowledge) read one column, as for
`llm_models`. A document's chunks, entities and relationships hang off the document with ON
DELETE CASCADE: deleting a document removes its vectors and its contributions to the graph.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelreg.db.models import Base, utcnow
from modelreg.ids import uuid7

__all__ = [
    "KnowledgeChunk",
    "KnowledgeCollection",
    "KnowledgeCommunity",
    "KnowledgeConversation",
    "KnowledgeDocument",
    "KnowledgeEntity",
    "KnowledgeRelationship",
]

_CASCADE = "CASCADE"


class KnowledgeCollection(Base):
    __tablename__ = "knowledge_collections"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete=_CASCADE)
    )
    # who created it: usage of a company-wide collection's indexing is booked to them
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    is_global: Mapped[bool] = mapped_column(Boolean, default=False)
    embedding_model_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("llm_models.id", ondelete="SET NULL")
    )
    extraction_model_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("llm_models.id", ondelete="SET NULL")
    )
    # bumped whenever chunks or communities change: the in-process vector cache key
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(
            "(is_global AND user_id IS NULL) OR (NOT is_global AND user_id IS NOT NULL)",
            name="ck_knowledge_collections_global_owner",
        ),
        Index("ix_knowledge_collections_user", "user_id"),
    )


class KnowledgeDocument(Base):
    __tablename__ = "knowledge_documents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_collections.id", ondelete=_CASCADE)
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete=_CASCADE)
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)  # as uploaded: re-indexing reads it
    # queued | indexing | ready | failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    # an indexing worker holds the document until then and renews it while it works; a
    # document `indexing` past its lease was left by a killed process and is taken again
    lease_until: Mapped[datetime | None]
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_knowledge_documents_collection", "collection_id"),
        Index("ix_knowledge_documents_status", "status"),
    )


class KnowledgeChunk(Base):
    __tablename__ = "knowledge_chunks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_documents.id", ondelete=_CASCADE)
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_collections.id", ondelete=_CASCADE)
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete=_CASCADE)
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, L2-normalised
    dimensions: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_knowledge_chunks_collection", "collection_id"),
        Index("ix_knowledge_chunks_document", "document_id"),
    )


class KnowledgeEntity(Base):
    __tablename__ = "knowledge_entities"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_documents.id", ondelete=_CASCADE)
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_collections.id", ondelete=_CASCADE)
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete=_CASCADE)
    )
    name: Mapped[str] = mapped_column(String(200))  # normalised: the merge key
    type: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    chunk_ordinals: Mapped[list[Any]] = mapped_column(JSON, default=list)

    __table_args__ = (Index("ix_knowledge_entities_collection", "collection_id", "name"),)


class KnowledgeRelationship(Base):
    __tablename__ = "knowledge_relationships"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_documents.id", ondelete=_CASCADE)
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_collections.id", ondelete=_CASCADE)
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete=_CASCADE)
    )
    source: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    weight: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_knowledge_relationships_collection", "collection_id"),)


class KnowledgeCommunity(Base):
    """A community of the collection's merged entity graph and its summary; recomputed for
    the whole collection after a document is indexed or deleted."""

    __tablename__ = "knowledge_communities"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_collections.id", ondelete=_CASCADE)
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete=_CASCADE)
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    entities: Mapped[list[Any]] = mapped_column(JSON, default=list)

    __table_args__ = (Index("ix_knowledge_communities_collection", "collection_id"),)


class KnowledgeConversation(Base):
    """A collection attached to a conversation. No foreign key to `conversations`: a turn
    attaches before its new conversation is written (the row comes with the answer); the
    rows of a deleted conversation are harmless and removed with the collection or user."""

    __tablename__ = "knowledge_conversations"

    conversation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_collections.id", ondelete=_CASCADE), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete=_CASCADE))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
