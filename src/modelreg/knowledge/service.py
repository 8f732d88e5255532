"""KnowledgeService: what the HTTP API and the chat path ask of the knowledge feature —
collections (with their access rule and their models checked), uploads (type and size
checked before anything is stored), document status, queries — and the background indexer's
lifecycle."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from modelreg.actor import Actor
from modelreg.chat.usage import UsageRecorder
from modelreg.client import UnifiedLLMClient
from modelreg.db.engine import Database
from modelreg.db.knowledge_models import KnowledgeCollection, KnowledgeDocument
from modelreg.errors import AccessDeniedError, UnknownModelError, ValidationFailedError
from modelreg.knowledge.calls import ModelCalls
from modelreg.knowledge.communities import refresh_communities
from modelreg.knowledge.enhancer import KnowledgeEnhancer
from modelreg.knowledge.indexer import Indexer, payer
from modelreg.knowledge.parsing import SUPPORTED, document_kind
from modelreg.knowledge.retrieval import Mode, Retrieved, Retriever
from modelreg.knowledge.schemas import CollectionCreate, CollectionUpdate
from modelreg.knowledge.store import KnowledgeStore
from modelreg.ratelimit import RateLimiter
from modelreg.registry.service import ModelManagerService
from modelreg.settings import Settings

__all__ = ["KnowledgeService", "UnsupportedDocumentError"]

log = logging.getLogger(__name__)


class UnsupportedDocumentError(ValidationFailedError):
    """A file that is not one of the supported types (415)."""


class KnowledgeService:
    def __init__(
        self,
        db: Database,
        registry: ModelManagerService,
        client: UnifiedLLMClient,
        usage: UsageRecorder,
        limiter: RateLimiter,
        settings: Settings,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.store = KnowledgeStore(db)
        self.calls = ModelCalls(client, usage, limiter)
        self.retriever = Retriever(self.store, registry, self.calls)
        self.enhancer = KnowledgeEnhancer(self.store, self.retriever)
        self.indexer = Indexer(
            self.store, registry, self.calls, lease_seconds=settings.knowledge_lease_seconds
        )
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.indexer.start()

    async def stop(self) -> None:
        await self.indexer.stop()
        for task in list(self._background):
            task.cancel()

    # --- collections -----------------------------------------------------------------------

    async def create(self, actor: Actor, body: CollectionCreate) -> KnowledgeCollection:
        if body.is_global and not actor.is_admin:
            raise AccessDeniedError("only admins create company-wide collections")
        await self._check_model(actor, body.embedding_model_id, "embedding", "embedding_model_id")
        if body.extraction_model_id is not None:
            await self._check_model(actor, body.extraction_model_id, "chat", "extraction_model_id")
        row = KnowledgeCollection(
            id=uuid.uuid4(),
            user_id=None if body.is_global else actor.id,
            created_by=actor.id,
            name=body.name,
            description=body.description,
            is_global=body.is_global,
            embedding_model_id=body.embedding_model_id,
            extraction_model_id=body.extraction_model_id,
            version=0,
        )
        return await self.store.add_collection(actor, row)

    async def update(
        self, actor: Actor, collection_id: uuid.UUID, body: CollectionUpdate
    ) -> KnowledgeCollection:
        current = await self.store.collection(actor, collection_id)
        self.store.ensure_writable(actor, current)
        values: dict[str, Any] = body.model_dump(exclude_unset=True)
        if values.get("embedding_model_id") is not None:
            await self._check_model(
                actor, values["embedding_model_id"], "embedding", "embedding_model_id"
            )
        if values.get("extraction_model_id") is not None:
            await self._check_model(
                actor, values["extraction_model_id"], "chat", "extraction_model_id"
            )
        if "name" in values and values["name"] is None:
            raise ValidationFailedError("name: must not be null", field="name")
        if "embedding_model_id" in values and values["embedding_model_id"] is None:
            raise ValidationFailedError(
                "a collection needs an embedding model", field="embedding_model_id"
            )
        if "description" in values and values["description"] is None:
            values["description"] = ""
        reindex = any(
            key in values and values[key] != getattr(current, key)
            for key in ("embedding_model_id", "extraction_model_id")
        )
        row = await self.store.update_collection(actor, collection_id, values, reindex=reindex)
        if reindex:
            self.indexer.wake()
        return row

    async def _check_model(self, actor: Actor, model_id: uuid.UUID, kind: str, field: str) -> None:
        try:
            model = await self.registry.resolve(actor, str(model_id))
        except UnknownModelError:
            raise ValidationFailedError(
                f"no model {model_id} that you may use", field=field
            ) from None
        if model.kind != kind:
            raise ValidationFailedError(
                f"model {model.name!r} is a {model.kind} model; {field} needs a {kind} model",
                field=field,
            )

    # --- documents -------------------------------------------------------------------------

    async def upload(
        self,
        actor: Actor,
        collection_id: uuid.UUID,
        filename: str,
        content_type: str | None,
        content: bytes,
    ) -> KnowledgeDocument:
        name = (filename or "").replace("\x00", "").strip()[-255:] or "document"
        if document_kind(name, content_type) is None:
            raise UnsupportedDocumentError(
                f"{name[:80]!r} is not a supported document: upload {SUPPORTED}", field="file"
            )
        if not content:
            raise ValidationFailedError("the file is empty", field="file")
        limit = self.settings.knowledge_max_document_bytes
        if len(content) > limit:
            raise ValidationFailedError(
                f"the file has {len(content)} bytes; at most {limit} are accepted", field="file"
            )
        row = KnowledgeDocument(
            id=uuid.uuid4(),
            collection_id=collection_id,
            filename=name,
            content_type=(content_type or "application/octet-stream")[:100],
            size=len(content),
            content=content,
            status="queued",
            progress_done=0,
            progress_total=0,
            chunk_count=0,
        )
        row = await self.store.add_document(actor, row)
        self.indexer.wake()
        return row

    async def delete_document(self, actor: Actor, document_id: uuid.UUID) -> None:
        collection_id = await self.store.delete_document(actor, document_id)
        collection = await self.store.collection(actor, collection_id)
        self._later(self._refresh(collection))

    async def _refresh(self, collection: KnowledgeCollection) -> None:
        model = None
        if collection.extraction_model_id is not None:
            model = await self.registry.find_config(collection.extraction_model_id)
        who = payer(collection.user_id or collection.created_by)
        try:
            await refresh_communities(self.store, self.calls, who, model, collection.id)
        except Exception:
            log.warning("knowledge: communities of %s not refreshed", collection.id, exc_info=True)

    def _later(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- queries and chat ------------------------------------------------------------------

    async def query(
        self, actor: Actor, collection_id: uuid.UUID, question: str, mode: Mode, k: int
    ) -> Retrieved:
        return await self.retriever.retrieve(actor, [collection_id], question, mode=mode, k=k)

    async def attach(
        self, actor: Actor, conversation_id: uuid.UUID, collection_ids: list[uuid.UUID]
    ) -> None:
        await self.store.attach(actor, conversation_id, collection_ids)

    async def cite(self, actor: Actor, message_id: uuid.UUID, citations: list[Any]) -> None:
        if citations:
            await self.store.cite(actor, message_id, citations)
