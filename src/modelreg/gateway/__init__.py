"""OpenAI- and Anthropic-compatible gateway: wire formats ↔ the unified types, error shapes,
and the byte pass-through for OpenAI-compatible upstreams."""
