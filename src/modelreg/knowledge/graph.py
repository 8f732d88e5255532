"""The collection's entity graph: the per-document extractions merged by entity name (edges
weighted by how often a relationship was seen), and its communities by Louvain modularity
(networkx, seeded so the same graph gives the same communities)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

__all__ = ["Community", "EntityRow", "RelationRow", "build_graph", "communities"]

MAX_COMMUNITIES = 30
_SEED = 7


@dataclass(frozen=True, slots=True)
class EntityRow:
    name: str
    type: str
    description: str


@dataclass(frozen=True, slots=True)
class RelationRow:
    source: str
    target: str
    description: str
    weight: int = 1


@dataclass(slots=True)
class Community:
    entities: list[str]
    relations: list[RelationRow] = field(default_factory=list)


def build_graph(entities: Iterable[EntityRow], relations: Iterable[RelationRow]) -> nx.Graph[str]:
    graph: nx.Graph[str] = nx.Graph()
    for entity in entities:
        if entity.name in graph:
            node = graph.nodes[entity.name]
            if entity.description and entity.description not in node["description"]:
                node["description"] = (node["description"] + " " + entity.description).strip()
        else:
            graph.add_node(entity.name, type=entity.type, description=entity.description)
    for rel in relations:
        if rel.source == rel.target:
            continue
        if graph.has_edge(rel.source, rel.target):
            edge = graph.edges[rel.source, rel.target]
            edge["weight"] += rel.weight
            if rel.description and rel.description not in edge["description"]:
                edge["description"] = (edge["description"] + "; " + rel.description).strip("; ")
        else:
            graph.add_edge(rel.source, rel.target, weight=rel.weight, description=rel.description)
    return graph


def communities(graph: nx.Graph[str]) -> list[Community]:
    """The largest communities first (at most MAX_COMMUNITIES); isolated entities form none."""
    if graph.number_of_edges() == 0:
        return []
    found = nx.community.louvain_communities(graph, weight="weight", seed=_SEED)
    result = []
    for members in sorted(found, key=lambda c: (-len(c), sorted(c)[0])):
        if len(members) < 2:
            continue
        sub = graph.subgraph(members)
        rels = [
            RelationRow(a, b, data.get("description", ""), int(data.get("weight", 1)))
            for a, b, data in sub.edges(data=True)
        ]
        result.append(Community(sorted(members), rels))
    return result[:MAX_COMMUNITIES]
