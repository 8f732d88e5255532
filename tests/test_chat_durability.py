"""No chat turn lost: every turn a client received complete is stored — its conversation, its
user message and the answer — after a SIGKILL of `modelreg serve` under concurrent chat load.

The chat path commits turns in groups (chat/turn_writer.py: one transaction carries every
turn waiting), so a turn's answer goes out only after the batch that holds it committed. This
test holds that promise against the real process: clients in threads (whole answers and
streams) on POST /api/chat, a new conversation per turn, the server killed mid-load, then
the database read directly. A client "received a turn complete" when it read a 200 JSON
answer, or a stream's `done` event.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from modelreg.simulators import SimulatorServer
from tests.test_usage_durability import MODEL, _env, _serve, _setup, _wait_until_model_answers

pytestmark = pytest.mark.slow


@dataclass
class ChatLoad:
    """Client threads sending chat turns until stopped; keeps what each client saw complete."""

    base: str
    token: str
    threads: int = 8
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # conversation, message, text
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.threads):
            worker = threading.Thread(target=self._loop, args=(n % 2 == 0,), daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def wait_for(self, turns: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < turns:
            assert time.monotonic() < deadline, len(self.seen)
            time.sleep(0.002)

    def _loop(self, stream: bool) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as http:
            while not self._stop.is_set():
                text = f"turn {uuid.uuid4()}"  # each user message is told apart in the check
                try:
                    done = self._stream(http, text) if stream else self._whole(http, text)
                except httpx.HTTPError:
                    done = None
                if done is not None:
                    with self._lock:
                        self.seen.append((done["conversation_id"], done["message_id"], text))
                else:
                    time.sleep(0.01)

    @staticmethod
    def _whole(http: httpx.Client, text: str) -> dict[str, str] | None:
        answer = http.post("/api/chat", json={"model_id": MODEL, "message": text})
        if answer.status_code == 200 and answer.json().get("status") == "complete":
            return dict(answer.json())
        return None

    @staticmethod
    def _stream(http: httpx.Client, text: str) -> dict[str, str] | None:
        body = {"model_id": MODEL, "message": text, "stream": True}
        with http.stream("POST", "/api/chat", json=body) as answer:
            if answer.status_code != 200:
                return None
            event = ""
            for line in answer.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "done":
                    return dict(json.loads(line[5:]))
        return None


def _stored(data_dir: Path) -> tuple[set[str], set[tuple[str, str]], set[tuple[str, str]]]:
    """Conversation ids, (conversation, user text) and (conversation, answer id) stored."""
    with sqlite3.connect(data_dir / "modelreg.db") as conn:
        conversations = {str(uuid.UUID(r[0])) for r in conn.execute("SELECT id FROM conversations")}
        users = {
            (str(uuid.UUID(c)), content)
            for c, content in conn.execute(
                "SELECT conversation_id, content FROM messages WHERE role = 'user'"
            )
        }
        answers = {
            (str(uuid.UUID(c)), str(uuid.UUID(m)))
            for c, m in conn.execute(
                "SELECT conversation_id, id FROM messages "
                "WHERE role = 'assistant' AND status = 'complete' AND content != ''"
            )
        }
    return conversations, users, answers


def test_every_chat_turn_a_client_saw_complete_survives_sigkill(
    openai_sim: SimulatorServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    log = tmp_path / "serve.log"
    with _serve(env, log) as (_, base):
        token = _setup(env, openai_sim)
        _wait_until_model_answers(base, token)
    seen: list[tuple[str, str, str]] = []
    for _kill in range(2):
        with _serve(env, log) as (proc, base):
            load = ChatLoad(base, token)
            load.start()
            load.wait_for(len(load.seen) + 120)
            os.kill(proc.pid, signal.SIGKILL)  # right after answers arrived, mid-load
            proc.wait(timeout=10)
            load.stop()
            seen += load.seen
    conversations, users, answers = _stored(data_dir)
    lost = [
        (c, m)
        for c, m, text in seen
        if c not in conversations or (c, text) not in users or (c, m) not in answers
    ]
    assert len(seen) >= 240
    assert not lost, f"{len(lost)} of {len(seen)} turns seen complete are not stored: {lost[:3]}"
