"""The text of an uploaded document: plain text, Markdown, HTML (the standard library's
parser) and PDF (pypdf). `document_kind` decides from the name and the declared type at upload
(anything else is refused there); `extract_text` runs in the indexer, and a document it
cannot read (corrupt or encrypted PDF, undecodable text) fails with the reason as its error.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Final, Literal

__all__ = ["DocumentError", "DocumentKind", "document_kind", "extract_text"]

DocumentKind = Literal["text", "markdown", "html", "pdf"]

_BY_SUFFIX: Final[dict[str, DocumentKind]] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_BY_TYPE: Final[dict[str, DocumentKind]] = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/pdf": "pdf",
}
SUPPORTED: Final = "plain text (.txt), Markdown (.md), HTML (.html) or PDF (.pdf)"


class DocumentError(Exception):
    """Why a document's text cannot be read; stored as the document's error."""


def document_kind(filename: str, content_type: str | None) -> DocumentKind | None:
    """The kind by the file's suffix, else by its declared content type; None: unsupported."""
    suffix = PurePosixPath(filename.lower()).suffix
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    declared = (content_type or "").split(";")[0].strip().lower()
    return _BY_TYPE.get(declared)


def extract_text(kind: DocumentKind, content: bytes) -> str:
    if kind == "pdf":
        text = _pdf_text(content)
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise DocumentError(f"the file is not UTF-8 text (byte {e.start})") from None
        if kind == "html":
            text = _html_text(text)
    text = text.replace("\x00", "")
    if not text.strip():
        raise DocumentError("the document contains no text")
    return text


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise DocumentError("the PDF is encrypted; upload an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise DocumentError(f"the PDF cannot be read: {str(e)[:200] or type(e).__name__}") from None
    return "\n\n".join(pages)


class _TextOfHtml(HTMLParser):
    _SKIP: Final = frozenset({"script", "style", "head", "noscript", "template"})
    _BLOCK: Final = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "pre"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n\s*\n+", "\n\n", text)
