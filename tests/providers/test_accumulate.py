"""StreamAccumulator and ToolCallAssembler: folding events, reassembling tool calls."""

from __future__ import annotations

import itertools
import random

import orjson
from hypothesis import given
from hypothesis import strategies as st

from modelreg.providers.accumulate import StreamAccumulator, ToolCallAssembler, fold_events
from modelreg.types import (
    FinishEvent,
    MetaEvent,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningSignature,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageEvent,
)


def test_folds_text_reasoning_usage_meta_and_finish() -> None:
    response = fold_events(
        [
            MetaEvent("resp-1", "gpt-x", served_by_id="m2", fallback_reasons=("m1: 503",)),
            ReasoningDelta("thinking "),
            ReasoningDelta("hard"),
            TextDelta("Hel"),
            TextDelta("lo"),
            UsageEvent(Usage(1, 1)),
            UsageEvent(Usage(10, 5, cached_read_tokens=3)),  # the last one wins
            FinishEvent("length", "max_tokens"),
        ]
    )
    assert (response.text, response.reasoning) == ("Hello", "thinking hard")
    assert response.usage == Usage(10, 5, cached_read_tokens=3)
    assert response.usage_reported
    assert (response.response_id, response.model) == ("resp-1", "gpt-x")
    assert (response.served_by_id, response.fallback_reasons) == ("m2", ("m1: 503",))
    assert (response.finish_reason, response.raw_finish_reason) == ("length", "max_tokens")
    assert response.warnings == ()


def test_no_usage_and_no_finish_are_visible_not_hidden() -> None:
    response = fold_events([TextDelta("partial")])
    assert not response.usage_reported
    assert response.finish_reason == "other"
    assert response.warnings == ("the response ended without a finish reason",)


def test_tool_calls_without_end_events_are_assembled_by_the_accumulator() -> None:
    response = fold_events(
        [
            ToolCallStart(1, "call_b", "second"),
            ToolCallStart(0, "call_a", "first"),
            ToolCallDelta(0, '{"x":'),
            ToolCallDelta(1, "{}"),
            ToolCallDelta(0, " 1}"),
            FinishEvent("tool_calls", "tool_calls"),
        ]
    )
    assert response.tool_calls == (
        ToolCall("call_a", "first", {"x": 1}, '{"x": 1}'),
        ToolCall("call_b", "second", {}, "{}"),
    )


def test_the_producers_tool_call_end_is_trusted() -> None:
    call = ToolCall("call_a", "f", {"y": 2}, '{"y":2}')
    response = fold_events(
        [ToolCallStart(0, "call_a", "f"), ToolCallDelta(0, "garbage"), ToolCallEnd(0, call)]
    )
    assert response.tool_calls == (call,)
    assert response.warnings[:1] == ("the response ended without a finish reason",)


def test_invalid_arguments_are_kept_raw_with_an_error_and_a_warning() -> None:
    response = fold_events(
        [
            ToolCallStart(0, "call_1", "f"),
            ToolCallDelta(0, '{"city": "Par'),
            FinishEvent("tool_calls"),
        ]
    )
    (call,) = response.tool_calls
    assert call.arguments == {}
    assert call.raw_arguments == '{"city": "Par'
    assert call.arguments_error is not None
    assert "not valid JSON" in call.arguments_error
    assert response.warnings == (
        f"tool call call_1 (f): {call.arguments_error}; kept as raw_arguments",
    )


def test_arguments_that_are_json_but_not_an_object_are_flagged() -> None:
    response = fold_events(
        [ToolCallStart(0, "c", "f"), ToolCallDelta(0, "[1, 2]"), FinishEvent("tool_calls")]
    )
    assert response.tool_calls[0].arguments_error == "arguments are a JSON list, not an object"


def test_empty_arguments_mean_an_empty_object() -> None:
    response = fold_events([ToolCallStart(0, "c", "f"), FinishEvent("tool_calls")])
    assert response.tool_calls == (ToolCall("c", "f", {}, ""),)


def test_assembler_ignores_fragments_of_unknown_calls_and_names_late() -> None:
    tools = ToolCallAssembler()
    assert tools.append(3, "{}") is None
    tools.start(0, "c", "")
    tools.set_name(0, "late_name")
    tools.set_name(0, "ignored")
    (end,) = tools.end_all()
    assert end.call.name == "late_name"
    assert tools.end(0) is None


def test_accumulator_reports_progress() -> None:
    acc = StreamAccumulator()
    acc.add(TextDelta("a"))
    assert (acc.text, acc.finished) == ("a", False)
    acc.add(FinishEvent("stop"))
    acc.add_warning("unknown event x ignored")
    assert acc.finished
    assert acc.result().warnings == ("unknown event x ignored",)


# --- property: arguments reassemble byte-exact, whatever the fragmenting and interleaving ---

_args = st.dictionaries(
    st.text(max_size=8),
    st.text(max_size=12) | st.integers(-1000, 1000) | st.booleans() | st.none(),
    max_size=5,
)


def _fragments(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(0, 6))))
    edges = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


@given(calls=st.lists(_args, min_size=1, max_size=4), seed=st.integers(0, 2**32))
def test_tool_arguments_reassemble_byte_exact(calls: list[dict[str, object]], seed: int) -> None:
    rng = random.Random(seed)
    raws = [orjson.dumps(args).decode() for args in calls]
    queues = {i: _fragments(raw, rng) for i, raw in enumerate(raws)}
    events: list[StreamEvent] = [ToolCallStart(i, f"call_{i}", f"f{i}") for i in queues]
    while queues:  # interleave the calls' fragments at random
        index = rng.choice(sorted(queues))
        events.append(ToolCallDelta(index, queues[index].pop(0)))
        if not queues[index]:
            del queues[index]
    response = fold_events([*events, FinishEvent("tool_calls")])
    assert [c.raw_arguments for c in response.tool_calls] == raws
    assert [c.arguments for c in response.tool_calls] == calls
    assert response.warnings == ()


def test_reasoning_blocks_keep_their_signatures_and_refusals_stay_apart() -> None:
    response = fold_events([
        ReasoningDelta("a"), ReasoningDelta("b"), ReasoningSignature("sig-1"),
        ReasoningSignature(redacted_data="opaque"), ReasoningDelta("c"), RefusalDelta("No."),
    ])  # fmt: skip
    assert response.reasoning_blocks == (
        ReasoningBlock("ab", "sig-1"),
        ReasoningBlock("", None, "opaque"),
        ReasoningBlock("c"),  # unsigned: reasoning from a provider that does not sign
    )
    assert (response.text, response.refusal) == ("", "No.")
