"""knowledge: collections, documents, chunks (vectors), entity graph, communities

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

`llm_models.kind` ("chat" | "embedding") and `.dimensions`; `messages.citations`; the
knowledge tables (modelreg.db.knowledge_models), under row-level security on PostgreSQL
(modelreg.db.rls_knowledge).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op

from modelreg.db.rls_knowledge import disable_knowledge_rls_sql, enable_knowledge_rls_sql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _owner() -> sa.Column[uuid.UUID]:
    return sa.Column("user_id", sa.Uuid(), nullable=True)


def _owner_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE")


def _in_document(name: str, *columns: sa.Column[Any]) -> None:
    """A table of a document's contributions (chunks, entities, relationships)."""
    op.create_table(
        name,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        _owner(),
        *columns,
        sa.ForeignKeyConstraint(["document_id"], ["knowledge_documents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["collection_id"], ["knowledge_collections.id"], ondelete="CASCADE"
        ),
        _owner_fk(),
        sa.PrimaryKeyConstraint("id"),
    )


def upgrade() -> None:
    with op.batch_alter_table("llm_models") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), server_default="chat", nullable=False)
        )
        batch.add_column(sa.Column("dimensions", sa.Integer(), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("citations", sa.JSON(), nullable=True))
    op.create_table(
        "knowledge_collections",
        sa.Column("id", sa.Uuid(), nullable=False),
        _owner(),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_global", sa.Boolean(), nullable=False),
        sa.Column("embedding_model_id", sa.Uuid(), nullable=True),
        sa.Column("extraction_model_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(
            "(is_global AND user_id IS NULL) OR (NOT is_global AND user_id IS NOT NULL)",
            name="ck_knowledge_collections_global_owner",
        ),
        _owner_fk(),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["embedding_model_id"], ["llm_models.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["extraction_model_id"], ["llm_models.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_collections_user", "knowledge_collections", ["user_id"])
    op.create_table(
        "knowledge_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        _owner(),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("lease_until", _TS, nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"], ["knowledge_collections.id"], ondelete="CASCADE"
        ),
        _owner_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_documents_collection", "knowledge_documents", ["collection_id"])
    op.create_index("ix_knowledge_documents_status", "knowledge_documents", ["status"])
    _in_document(
        "knowledge_chunks",
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
    )
    op.create_index("ix_knowledge_chunks_collection", "knowledge_chunks", ["collection_id"])
    op.create_index("ix_knowledge_chunks_document", "knowledge_chunks", ["document_id"])
    _in_document(
        "knowledge_entities",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("chunk_ordinals", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_knowledge_entities_collection", "knowledge_entities", ["collection_id", "name"]
    )
    _in_document(
        "knowledge_relationships",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_knowledge_relationships_collection", "knowledge_relationships", ["collection_id"]
    )
    op.create_table(
        "knowledge_communities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        _owner(),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"], ["knowledge_collections.id"], ondelete="CASCADE"
        ),
        _owner_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_knowledge_communities_collection", "knowledge_communities", ["collection_id"]
    )
    op.create_table(
        "knowledge_conversations",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"], ["knowledge_collections.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "collection_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in enable_knowledge_rls_sql():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_knowledge_rls_sql():
            op.execute(statement)
    for table in (
        "knowledge_conversations",
        "knowledge_communities",
        "knowledge_relationships",
        "knowledge_entities",
        "knowledge_chunks",
        "knowledge_documents",
        "knowledge_collections",
    ):
        op.drop_table(table)
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("citations")
    with op.batch_alter_table("llm_models") as batch:
        batch.drop_column("dimensions")
        batch.drop_column("kind")
