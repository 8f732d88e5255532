"""Splitting a document's text into overlapping chunks of words. Chunk boundaries prefer
paragraph ends; the overlap keeps a sentence cut at a boundary whole in one of the two."""

from __future__ import annotations

import re

__all__ = ["CHUNK_OVERLAP", "CHUNK_WORDS", "split_chunks"]

CHUNK_WORDS = 180
CHUNK_OVERLAP = 30

_PARAGRAPH = re.compile(r"\n\s*\n")


def split_chunks(text: str, *, words: int = CHUNK_WORDS, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Chunks of at most `words` words; consecutive chunks share `overlap` words when a
    paragraph is longer than a chunk. Short paragraphs are packed together."""
    if overlap >= words:
        raise ValueError("overlap must be smaller than the chunk")
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        tokens = paragraph.split()
        if not tokens:
            continue
        if current and len(current) + len(tokens) > words:
            chunks.append(" ".join(current))
            current = []
        while len(tokens) > words:
            chunks.append(" ".join(tokens[:words]))
            tokens = tokens[words - overlap :]
        current.extend(tokens)
    if current:
        chunks.append(" ".join(current))
    return chunks
