"""Knowledge retrieval benchmark (`make bench-knowledge`; docs/performance.md, "Knowledge").

- query latency (vector search + the local graph context, the model call excluded) p50 / p95
  at 10k and 100k chunks, 384 dimensions;
- memory of the vectors per 100k chunks;
- indexing throughput in chunks per second: embeddings in batches through the unified client
  against the OpenAI simulator answering each batch after a fixed latency;
- recall@5 on the small labelled set in bench/knowledge_set.json (question -> the passage that
  answers it) with the simulators' hashed bag-of-words embeddings.

`--quick` runs 10k chunks only (what `make bench` runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from modelreg.actor import Actor
from modelreg.client import UnifiedLLMClient
from modelreg.knowledge.calls import EMBED_BATCH, ModelCalls, normalise
from modelreg.knowledge.retrieval import Passage, Retrieved, VectorIndex, _local_graph
from modelreg.model_config import ModelConfig
from modelreg.secret import Secret
from modelreg.simulators import Script, SimulatorServer
from modelreg.simulators._common import fake_embedding

HERE = Path(__file__).resolve().parent
DIMS = 384


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def query_latency(chunks: int, queries: int = 200) -> dict[str, float]:
    rng = np.random.default_rng(7)
    matrix = normalise(rng.standard_normal((chunks, DIMS), dtype=np.float32))
    docs = [uuid.uuid4() for _ in range(max(1, chunks // 50))]
    index = VectorIndex(
        version=1, ids=[uuid.uuid4() for _ in range(chunks)],
        documents=[docs[i // 50] for i in range(chunks)], ordinals=[i % 50 for i in range(chunks)],
        texts=["text"] * chunks, filenames=["doc.txt"] * chunks, matrix=matrix,
    )  # fmt: skip
    entities = [
        SimpleNamespace(name=f"E{i}", type="concept", description="d",
                        document_id=docs[i % len(docs)], chunk_ordinals=[i % 50])
        for i in range(min(chunks // 5, 20_000))
    ]  # fmt: skip
    relations = [SimpleNamespace(source=f"E{i}", target=f"E{i + 1}", description="r")
                 for i in range(len(entities) - 1)]  # fmt: skip
    times, vector_times = [], []
    for _ in range(queries):
        query = normalise(rng.standard_normal((1, DIMS), dtype=np.float32))[0]
        started = time.perf_counter()
        hits = index.nearest(query, 5)
        vector_times.append((time.perf_counter() - started) * 1000)
        found = Retrieved(mode="local", passages=[
            Passage(uuid.uuid4(), index.documents[i], "doc.txt", index.ids[i], index.ordinals[i],
                    s, index.texts[i]) for i, s in hits])  # fmt: skip
        _local_graph(found, "what about E1", entities, relations)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "chunks": chunks,
        "vector_p50_ms": round(statistics.median(vector_times), 2),
        "vector_p95_ms": round(_percentile(vector_times, 0.95), 2),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(_percentile(times, 0.95), 2),
        "vectors_mb": round(matrix.nbytes / 1e6, 1),
    }


def recall_at_5() -> float:
    labelled = json.loads((HERE / "knowledge_set.json").read_text())
    passages: list[str] = labelled["passages"]
    matrix = np.asarray([fake_embedding(p, 512) for p in passages], dtype=np.float32)
    hits = 0
    for item in labelled["questions"]:
        query = np.asarray(fake_embedding(item["question"], 512), dtype=np.float32)
        top = np.argsort(-(matrix @ query))[:5]
        hits += int(item["passage"] in top)
    return round(hits / len(labelled["questions"]), 3)


class _Usage:
    def record(self, **_: Any) -> None:
        pass


class _Limits:
    async def check_request(self, *_: Any) -> None:
        pass

    async def check_tokens(self, *_: Any) -> None:
        pass

    async def add_tokens(self, *_: Any) -> None:
        pass


async def indexing_throughput(chunks: int, latency: float) -> dict[str, float]:
    with SimulatorServer("openai", api_key="sk-bench-0000") as sim:
        sim.enqueue(Script(first_byte_delay=latency, repeat=10_000))
        client = UnifiedLLMClient(allow_private=lambda _: True)
        model = ModelConfig(id=str(uuid.uuid4()), name="bench-embed", provider="openai",
                            base_url=sim.base_url, model_id="text-embedding-3-small",
                            api_key=Secret("sk-bench-0000"), kind="embedding",
                            options={"dimensions": DIMS})  # fmt: skip
        calls = ModelCalls(client, _Usage(), _Limits())  # type: ignore[arg-type]
        texts = [f"chunk {i} about topic {i % 97} and more words" for i in range(chunks)]
        actor = Actor(id=uuid.uuid4(), username="bench", role="user")
        started = time.perf_counter()
        for start in range(0, chunks, EMBED_BATCH):
            await calls.embed(actor, model, texts[start : start + EMBED_BATCH])
        elapsed = time.perf_counter() - started
        await client.aclose()
    return {"chunks": chunks, "batch_latency_ms": latency * 1000,
            "chunks_per_s": round(chunks / elapsed, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k chunks only")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    result: dict[str, Any] = {"query": [query_latency(n) for n in sizes]}
    result["recall_at_5"] = recall_at_5()
    result["indexing"] = asyncio.run(indexing_throughput(640 if args.quick else 3200, 0.05))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
