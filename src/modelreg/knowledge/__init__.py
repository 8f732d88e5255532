"""Knowledge collections: documents indexed into vectors and an entity graph (GraphRAG, Edge
et al. 2024), retrieved into chat turns. Every model call goes through the unified client
(modelreg.knowledge.calls), so registry models, keys, limits and usage accounting apply.

Data flow: api/routes/collections.py -> service (access, uploads) -> store (rows);
the indexer (background task) -> parsing -> chunking -> calls (embeddings, extraction) ->
graph (merge, communities, summaries) -> store; chat -> enhancer -> retrieval -> store.
"""
