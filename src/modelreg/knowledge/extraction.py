"""Entity and relationship extraction (GraphRAG's indexing step): one prompt per chunk to the
collection's extraction model asking for one JSON object, parsed strictly. An answer that is
not that object fails the document with a clear error rather than feeding the graph guesses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "Extracted",
    "ExtractionError",
    "Relation",
    "community_prompt",
    "extraction_prompt",
    "normalise_name",
    "parse_extraction",
]

MAX_ENTITIES: Final = 50  # per chunk

EXTRACTION_PROMPT: Final = """\
Extract the named entities and the relationships between them from the text below.
Answer with one JSON object and nothing else, in this form:
{{"entities": [{{"name": "...", "type": "person|organization|place|concept|event|other", \
"description": "..."}}],
 "relationships": [{{"source": "entity name", "target": "entity name", \
"description": "how they relate"}}]}}
Use the names as they appear in the text. Relationships connect entities you listed.

Text:
{text}
"""

COMMUNITY_PROMPT: Final = """\
Summarise what the following related entities and relationships from a document collection \
are about, in at most 5 sentences. Start with a short title on its own line.

Entities:
{entities}

Relationships:
{relationships}
"""


class ExtractionError(Exception):
    """The extraction model's answer is not the JSON the prompt asked for."""


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    type: str
    description: str


@dataclass(frozen=True, slots=True)
class Relation:
    source: str
    target: str
    description: str


@dataclass(frozen=True, slots=True)
class Extracted:
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]


def extraction_prompt(chunk: str) -> str:
    return EXTRACTION_PROMPT.format(text=chunk)


def community_prompt(entities: list[str], relationships: list[str]) -> str:
    return COMMUNITY_PROMPT.format(
        entities="\n".join(entities[:60]), relationships="\n".join(relationships[:80])
    )


def normalise_name(name: str) -> str:
    """The merge key of an entity across chunks and documents."""
    return " ".join(name.split()).strip(" .,:;\"'").upper()[:200]


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_extraction(answer: str) -> Extracted:
    """The entities and relationships of one answer (a ```json fence is tolerated)."""
    body = answer.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except ValueError:
        raise ExtractionError(
            f"the extraction model did not answer JSON: {answer.strip()[:120]!r}"
        ) from None
    if not isinstance(data, dict):
        raise ExtractionError("the extraction model's answer is not a JSON object")
    entities = tuple(_entity(e) for e in _list(data, "entities")[:MAX_ENTITIES])
    known = {e.name for e in entities}
    relations = []
    for item in _list(data, "relationships"):
        relation = _relation(item)
        if relation.source in known and relation.target in known:
            relations.append(relation)
    return Extracted(entities, tuple(relations))


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ExtractionError(f"the extraction model's {key!r} is not a list")
    return value


def _text(item: dict[str, Any], key: str, *, required: bool) -> str:
    value = item.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ExtractionError(f"an extracted item has no text {key!r}")
    return value.strip()


def _entity(item: Any) -> Entity:
    if not isinstance(item, dict):
        raise ExtractionError("an extracted entity is not an object")
    name = normalise_name(_text(item, "name", required=True))
    return Entity(
        name,
        _text(item, "type", required=False)[:64].lower(),
        _text(item, "description", required=False)[:1000],
    )


def _relation(item: Any) -> Relation:
    if not isinstance(item, dict):
        raise ExtractionError("an extracted relationship is not an object")
    return Relation(
        normalise_name(_text(item, "source", required=True)),
        normalise_name(_text(item, "target", required=True)),
        _text(item, "description", required=False)[:1000],
    )
