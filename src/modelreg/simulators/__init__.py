"""Provider simulators: real HTTP servers that speak OpenAI, Anthropic, Ollama, Azure OpenAI
and Hugging Face TGI on the wire, scripted per test (text, tool calls, usage, latency, errors
with each provider's real error bodies, cut and hung streams).

    from modelreg.simulators import SimulatorServer, Script, ScriptedToolCall

    sim = SimulatorServer(flavor="anthropic", api_key="sk-ant-test").start()
    sim.enqueue(Script(tool_calls=[ScriptedToolCall("get_weather", {"city": "Paris"})]))
    ...  # point a client at sim.base_url
    sim.stop()

`modelreg simulate PROVIDER --port P` runs one in the foreground (see `serve_forever`).
"""

from modelreg.simulators.script import (
    RecordedRequest,
    Script,
    ScriptedToolCall,
    ScriptedUsage,
)
from modelreg.simulators.server import FLAVORS, SimulatorServer, serve_forever
from modelreg.simulators.state import SimStats

__all__ = [
    "FLAVORS",
    "RecordedRequest",
    "Script",
    "ScriptedToolCall",
    "ScriptedUsage",
    "SimStats",
    "SimulatorServer",
    "serve_forever",
]
