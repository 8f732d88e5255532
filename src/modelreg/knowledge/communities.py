"""Communities of a collection's entity graph and their summaries (the "global" half of
GraphRAG): found again over the whole collection after a document is indexed or deleted,
each summarised by the collection's extraction model. A summary that fails is replaced by the
community's entity list, so that global search still has something true to say."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from modelreg.actor import Actor
from modelreg.errors import ModelregError
from modelreg.knowledge.calls import ModelCalls
from modelreg.knowledge.extraction import community_prompt
from modelreg.knowledge.graph import EntityRow, RelationRow, build_graph, communities
from modelreg.knowledge.store import KnowledgeStore
from modelreg.model_config import ModelConfig

__all__ = ["refresh_communities"]

log = logging.getLogger(__name__)


async def refresh_communities(
    store: KnowledgeStore,
    calls: ModelCalls,
    who: Actor,
    model: ModelConfig | None,
    collection_id: uuid.UUID,
) -> None:
    entities, relations = await store.graph_rows(collection_id)
    graph = build_graph(
        (EntityRow(e.name, e.type, e.description) for e in entities),
        (RelationRow(r.source, r.target, r.description, r.weight) for r in relations),
    )
    rows: list[dict[str, Any]] = []
    for ordinal, community in enumerate(communities(graph)):
        listed = [
            f"{name}: {graph.nodes[name].get('description', '')}".strip(": ")
            for name in community.entities
        ]
        related = [f"{r.source} -> {r.target}: {r.description}" for r in community.relations]
        title = ", ".join(community.entities[:3])
        summary = "; ".join(listed)
        if model is not None:
            try:
                answer = await calls.chat(who, model, community_prompt(listed, related))
                first, _, rest = answer.strip().partition("\n")
                title, summary = (first.strip("# ").strip()[:200] or title), (rest.strip() or first)
            except ModelregError as e:
                log.warning("knowledge: community summary failed: %s", e.message)
        rows.append(
            {
                "ordinal": ordinal,
                "title": title[:200],
                "summary": summary,
                "entities": community.entities,
            }
        )
    await store.replace_communities(collection_id, rows)
