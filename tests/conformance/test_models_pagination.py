"""The Anthropic SDK's model list is paginated as Anthropic's (issue 16, item 7): `limit`,
`after_id` / `before_id`, `first_id` / `last_id` / `has_more`, so `models.list(limit=2)` gives
two models and auto-pagination walks the rest; the OpenAI list stays whole."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.conformance.conftest import RegisterModel
from tests.fixtures.server import LiveServer


@pytest.fixture
def names(register: RegisterModel) -> list[str]:
    """Five models this test registered (others may exist: the server is shared)."""
    return [register("openai")["name"] for _ in range(5)]


def test_a_page_of_two_says_there_is_more_and_auto_pagination_walks_all(
    anthropic_sdk: anthropic.Anthropic, names: list[str]
) -> None:
    first = anthropic_sdk.models.list(limit=2)
    assert len(first.data) == 2
    assert first.has_more is True
    assert first.first_id == first.data[0].id
    assert first.last_id == first.data[1].id
    second = anthropic_sdk.models.list(limit=2, after_id=first.data[1].id)
    assert second.data[0].id not in {m.id for m in first.data}
    walked = [m.id for m in anthropic_sdk.models.list(limit=2)]
    assert len(walked) == len(set(walked))
    assert set(names) <= set(walked)


def test_before_id_pages_backwards_and_the_last_page_has_no_more(
    live_server: LiveServer, user: str, names: list[str]
) -> None:
    with live_server.client(user) as http:
        headers = {"anthropic-version": "2023-06-01"}
        everything = http.get("/v1/models", params={"limit": 1000}, headers=headers).json()
        ids = [m["id"] for m in everything["data"]]
        assert everything["has_more"] is False
        back = http.get(
            "/v1/models", params={"limit": 2, "before_id": ids[3]}, headers=headers
        ).json()
        assert [m["id"] for m in back["data"]] == ids[1:3]
        assert back["has_more"] is True  # ids[0] lies before the page
        tail = http.get(
            "/v1/models", params={"limit": 2, "after_id": ids[-2]}, headers=headers
        ).json()
        assert [m["id"] for m in tail["data"]] == ids[-1:]
        assert tail["has_more"] is False
        bad = http.get("/v1/models", params={"limit": 0}, headers=headers)
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "limit"


def test_the_openai_list_stays_whole(openai_sdk: openai.OpenAI, names: list[str]) -> None:
    listed = [m.id for m in openai_sdk.models.list()]
    assert set(names) <= set(listed)
