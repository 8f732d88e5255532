"""The context-enhancement hook: the place where retrieval (RAG, GraphRAG, ...) plugs in.

Before every chat call, `ChatService` hands the messages it is about to send to its
`ContextEnhancer`. An enhancer may return them unchanged, or with added context — typically a
system message with retrieved passages, or extra text on the last user message. Whatever it
returns is what the model sees; the stored conversation keeps only what the user wrote and what
the model answered, so the retrieved context is fetched again for each turn.

To plug one in, pass it to `ChatService(..., enhancer=MyEnhancer())` (the app factory builds
the service; see docs/api.md "Context enhancement"):

```python
class DocsEnhancer:
    async def enhance(self, actor, conversation_id, messages):
        passages = await my_index.search(messages[-1].text, k=4)
        context = Message(role="system", content="Relevant documents:\\n" + "\\n".join(passages))
        return [context, *messages]
```

An enhancer that raises makes the call fail with that error (no silent half-context); a slow
enhancer adds its time to the request, so cache inside it when you can.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from modelreg.actor import Actor
from modelreg.types import Message

__all__ = ["ContextEnhancer", "NoopEnhancer"]


@runtime_checkable
class ContextEnhancer(Protocol):
    async def enhance(
        self, actor: Actor, conversation_id: uuid.UUID, messages: Sequence[Message]
    ) -> Sequence[Message]:
        """Return the messages to send to the model (the input may be returned as is)."""
        ...


class NoopEnhancer:
    """The default: sends the conversation exactly as stored."""

    async def enhance(
        self, actor: Actor, conversation_id: uuid.UUID, messages: Sequence[Message]
    ) -> Sequence[Message]:
        return messages
