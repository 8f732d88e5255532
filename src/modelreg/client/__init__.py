"""The road out: everything between a resolved model and the upstream's bytes.

- `unified.py`: `UnifiedLLMClient` (candidates and fallback, retries, circuit breaker, tool
  loop) and `send_raw`, the one upstream call the byte pass-through uses too
- `resilience.py`: retry policy, circuit breakers, which failures fall back
- `stream_commit.py`: a stream's commit point (retry until the first event, then hand on)
- `scrub.py`: a model's credentials removed from errors and relayed bytes
- `tool_loop.py`: server-side tool rounds, one fold per round
- `transport.py` + `http1.py`: the `Transport` protocol, our pooled HTTP/1.1 transport and
  the in-memory `MockTransport` for tests
- `netguard.py`: the SSRF guard at connect time; `connection_check.py`: test-connection reasons
"""

from modelreg.client.connection_check import ConnectionResult
from modelreg.client.unified import UnifiedLLMClient

__all__ = ["ConnectionResult", "UnifiedLLMClient"]
