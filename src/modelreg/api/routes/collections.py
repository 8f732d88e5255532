"""Knowledge collections: CRUD, document upload and status, and queries (docs/knowledge.md).
Another user's collection or document answers 404, exactly like one that does not exist."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from modelreg.knowledge.schemas import (
    CollectionCreate,
    CollectionOut,
    CollectionUpdate,
    DocumentOut,
    QueryIn,
    QueryOut,
)
from modelreg.knowledge.service import UnsupportedDocumentError

__all__ = ["router"]

router = APIRouter(tags=["knowledge"], responses=ERROR_RESPONSES)

_UPLOAD_ERRORS = {
    415: {"model": ErrorBody, "description": "Not a supported document type"},
}


@router.get(
    "/api/collections",
    response_model=list[CollectionOut],
    summary="Collections the caller may use (their own and company-wide)",
)
async def list_collections(actor: CurrentActor, services: ServicesDep) -> list[CollectionOut]:
    return [CollectionOut.of(c) for c in await services.knowledge.store.collections(actor)]


@router.post(
    "/api/collections", response_model=CollectionOut, status_code=201, summary="Create a collection"
)
async def create_collection(
    body: CollectionCreate, actor: CurrentActor, services: ServicesDep
) -> CollectionOut:
    return CollectionOut.of(await services.knowledge.create(actor, body))


@router.get(
    "/api/collections/{collection_id}", response_model=CollectionOut, summary="One collection"
)
async def get_collection(
    collection_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> CollectionOut:
    return CollectionOut.of(await services.knowledge.store.collection(actor, collection_id))


@router.patch(
    "/api/collections/{collection_id}",
    response_model=CollectionOut,
    summary="Rename, or change its models (which re-indexes every document)",
)
async def update_collection(
    collection_id: uuid.UUID, body: CollectionUpdate, actor: CurrentActor, services: ServicesDep
) -> CollectionOut:
    return CollectionOut.of(await services.knowledge.update(actor, collection_id, body))


@router.delete(
    "/api/collections/{collection_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a collection with its documents",
)
async def delete_collection(
    collection_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> Response:
    await services.knowledge.store.delete_collection(actor, collection_id)
    return Response(status_code=204)


@router.get(
    "/api/collections/{collection_id}/documents",
    response_model=list[DocumentOut],
    summary="The collection's documents with their indexing status",
)
async def list_documents(
    collection_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> list[DocumentOut]:
    rows = await services.knowledge.store.documents(actor, collection_id)
    return [DocumentOut.of(d) for d in rows]


@router.post(
    "/api/collections/{collection_id}/documents",
    response_model=DocumentOut,
    status_code=201,
    responses=_UPLOAD_ERRORS,  # type: ignore[arg-type]
    summary="Upload a document (multipart `file`); it is indexed in the background",
)
async def upload_document(
    collection_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="Text, Markdown, HTML or PDF")],
    actor: CurrentActor,
    services: ServicesDep,
) -> DocumentOut:
    limit = services.settings.knowledge_max_document_bytes
    content = await file.read(limit + 1)
    try:
        row = await services.knowledge.upload(
            actor, collection_id, file.filename or "", file.content_type, content
        )
    except UnsupportedDocumentError as e:
        raise ApiError(415, e.message, type="unsupported_media_type") from None
    return DocumentOut.of(row)


@router.get(
    "/api/documents/{document_id}",
    response_model=DocumentOut,
    summary="One document and its indexing status",
)
async def get_document(
    document_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> DocumentOut:
    return DocumentOut.of(await services.knowledge.store.document(actor, document_id))


@router.delete(
    "/api/documents/{document_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a document with its chunks, vectors and graph contributions",
)
async def delete_document(
    document_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> Response:
    await services.knowledge.delete_document(actor, document_id)
    return Response(status_code=204)


@router.post(
    "/api/collections/{collection_id}/query",
    response_model=QueryOut,
    summary="The passages and graph context for a question",
)
async def query_collection(
    collection_id: uuid.UUID, body: QueryIn, actor: CurrentActor, services: ServicesDep
) -> QueryOut:
    found = await services.knowledge.query(actor, collection_id, body.question, body.mode, body.k)
    return QueryOut.of(found)
