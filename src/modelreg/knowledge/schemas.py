"""Request and response models of the knowledge API (api/routes/collections.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from modelreg.db.knowledge_models import KnowledgeCollection, KnowledgeDocument
from modelreg.nul import NulFree

__all__ = [
    "CollectionCreate",
    "CollectionOut",
    "CollectionUpdate",
    "DocumentOut",
    "PassageOut",
    "QueryIn",
    "QueryOut",
]


def _nonblank(value: str) -> str:
    value = value.strip()
    if not value or any(ord(c) < 32 for c in value):
        raise ValueError("must be a non-blank line of text")
    return value


Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_nonblank)]
Description = Annotated[str, Field(max_length=2000)]


class CollectionCreate(NulFree):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    embedding_model_id: uuid.UUID = Field(description="A registry model of kind `embedding`")
    extraction_model_id: uuid.UUID | None = Field(
        default=None,
        description="A chat model that extracts the entity graph; none: vector search only",
    )
    is_global: bool = Field(default=False, description="Company-wide (admins only)")


class CollectionUpdate(NulFree):
    """Only the fields sent change; a changed model re-indexes every document."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    embedding_model_id: uuid.UUID | None = None
    extraction_model_id: uuid.UUID | None = None


class CollectionOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    is_global: bool
    user_id: uuid.UUID | None
    embedding_model_id: uuid.UUID | None
    extraction_model_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: KnowledgeCollection) -> CollectionOut:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            is_global=row.is_global,
            user_id=row.user_id,
            embedding_model_id=row.embedding_model_id,
            extraction_model_id=row.extraction_model_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class DocumentOut(BaseModel):
    id: uuid.UUID
    collection_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    status: Literal["queued", "indexing", "ready", "failed"]
    progress: str = Field(description='e.g. "queued", "indexing 3 of 12", "ready", "failed"')
    progress_done: int
    progress_total: int
    error: str | None
    chunk_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: KnowledgeDocument) -> DocumentOut:
        progress = row.status
        if row.status == "indexing":
            progress = f"indexing {row.progress_done} of {row.progress_total or '?'}"
        elif row.status == "failed":
            progress = f"failed: {row.error or 'unknown reason'}"
        return cls(
            id=row.id,
            collection_id=row.collection_id,
            filename=row.filename,
            content_type=row.content_type,
            size=row.size,
            status=row.status,
            progress=progress,
            progress_done=row.progress_done,
            progress_total=row.progress_total,
            error=row.error,
            chunk_count=row.chunk_count,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class QueryIn(NulFree):
    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, Field(min_length=1, max_length=10_000)]
    mode: Literal["auto", "local", "global", "vector"] = "auto"
    k: int = Field(default=5, ge=1, le=50, description="Passages to return")


class PassageOut(BaseModel):
    n: int
    collection_id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    chunk_id: uuid.UUID
    ordinal: int
    score: float
    text: str


class CommunityOut(BaseModel):
    title: str
    summary: str
    entities: list[str]


class QueryOut(BaseModel):
    mode: Literal["local", "global", "vector", "auto"]
    passages: list[PassageOut]
    entities: list[str]
    relationships: list[str]
    communities: list[CommunityOut]
    context: str = Field(description="The text a chat turn would give the model")

    @classmethod
    def of(cls, found: Any) -> QueryOut:
        return cls(
            mode=found.mode,
            passages=[PassageOut(**p.citation(n)) for n, p in enumerate(found.passages, 1)],
            entities=found.entities,
            relationships=found.relationships,
            communities=[CommunityOut(**c) for c in found.communities],
            context=found.context(),
        )
