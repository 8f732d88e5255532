"""UsageJournal: every usage record on local disk before the response that caused it ends.

The UsageRecorder writes to the database in batches, off the request path; what sits in its
queue would die with the process. So `append()` first writes the record as one JSON line to
this process's journal file, with one `os.write` on an `O_APPEND` descriptor: once it returns
the kernel has the bytes, and a SIGKILL of the process can no longer lose them. (A crash of
the machine can, unless `fsync` is on: one fsync per record, see docs/operations.md.)

Files: `<dir>/<pid>-<start>-<n>.jsonl`, each held under an exclusive `flock` for as long as its
owner lives (the kernel drops the lock when the process dies, however it dies). A segment is
emptied (truncated) when all of its records are committed, and rotated when it grows past
`segment_bytes` under a backlog; a rotated one is deleted once its records are committed.

`adopt()` takes over the journals of dead processes — those whose lock can be taken — and
returns their records for the recorder to replay. Each record carries its usage event's id,
so a replay of rows that were committed before the kill is skipped by id, never counted twice.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from modelreg.chat.usage_rows import UsageRecord

__all__ = ["Segment", "UsageJournal", "decode", "encode"]

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
PRICE_FIELDS = (
    "price_per_input_token",
    "price_per_output_token",
    "price_per_cache_read_token",
    "price_per_cache_write_token",
)
REJECTED_PREFIX = "rejected-"


def encode(record: UsageRecord) -> bytes:
    return orjson.dumps(
        {
            "id": str(record.id),
            "user_id": str(record.user_id) if record.user_id else None,
            "llm_model_id": str(record.llm_model_id) if record.llm_model_id else None,
            "model_name": record.model_name,
            "source": record.source,
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cached_tokens": record.cached_tokens,
            "cache_write_tokens": record.cache_write_tokens,
            "cost": str(record.cost),
            "latency_ms": record.latency_ms,
            "ttft_ms": record.ttft_ms,
            "status": record.status,
            "estimated": record.estimated,
            **{name: _text(getattr(record, name)) for name in PRICE_FIELDS},
            "created_at": record.created_at.isoformat(),
            "experiment_id": str(record.experiment_id) if record.experiment_id else None,
            "experiment_arm_id": (
                str(record.experiment_arm_id) if record.experiment_arm_id else None
            ),
            "request_id": record.request_id,
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


def decode(line: bytes) -> UsageRecord:
    from modelreg.chat.usage_rows import UsageRecord

    data: dict[str, Any] = orjson.loads(line)
    return UsageRecord(
        id=uuid.UUID(data["id"]),
        user_id=uuid.UUID(data["user_id"]) if data["user_id"] else None,
        llm_model_id=uuid.UUID(data["llm_model_id"]) if data["llm_model_id"] else None,
        model_name=data["model_name"],
        source=data["source"],
        input_tokens=data["input_tokens"],
        output_tokens=data["output_tokens"],
        cached_tokens=data["cached_tokens"],
        cache_write_tokens=data.get("cache_write_tokens", 0),  # journals of older versions
        cost=Decimal(data["cost"]),
        latency_ms=data["latency_ms"],
        ttft_ms=data["ttft_ms"],
        status=data["status"],
        estimated=data["estimated"],
        created_at=datetime.fromisoformat(data["created_at"]),
        experiment_id=_uuid_or_none(data.get("experiment_id")),  # None in older journals
        experiment_arm_id=_uuid_or_none(data.get("experiment_arm_id")),
        **{name: _decimal(data.get(name)) for name in PRICE_FIELDS},  # absent in older journals
        request_id=data.get("request_id"),  # journals of older versions have none
    )


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@dataclass(eq=False, slots=True)
class Segment:
    """One journal file, open and locked by this process."""

    path: Path
    fd: int
    size: int = 0
    pending: int = 0  # records in it whose rows are not committed yet
    closed: bool = False  # no more appends: rotated, or adopted from a dead process
    replayed: bool = False  # adopted: some of its rows may already be in the database
    keep: bool = False  # holds records the recorder could not queue: leave it for a replay


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class UsageJournal:
    def __init__(
        self, directory: Path, *, fsync: bool = False, segment_bytes: int = 8 * 1024 * 1024
    ) -> None:
        self.directory = directory
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        self._prefix = f"{os.getpid()}-{time.time_ns()}"
        self._number = 0
        self._current: Segment | None = None
        self._open: set[Segment] = set()  # every segment this process holds locked

    # --- this process's own journal ---------------------------------------------------------

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._current = self._new_segment()

    def _new_segment(self) -> Segment:
        self._number += 1
        path = self.directory / f"{self._prefix}-{self._number}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if not _lock(fd):  # nobody else can know this name; a lock here means a broken setup
            os.close(fd)
            raise RuntimeError(f"usage journal {path} is locked by another process")
        segment = Segment(path, fd)
        self._open.add(segment)
        return segment

    def append(self, record: UsageRecord) -> Segment:
        """Write `record` to the journal; durable against the death of this process when it
        returns (against a machine crash too with `fsync`). Raises OSError (disk full, ...)."""
        segment = self._current
        if segment is None:
            raise RuntimeError("the usage journal is not open")
        line = encode(record)
        written = os.write(segment.fd, line)
        if written != len(line):  # a regular file only writes short when the disk is full
            raise OSError(f"usage journal {segment.path}: short write ({written} bytes)")
        if self._fsync:
            os.fsync(segment.fd)
        segment.size += written
        segment.pending += 1
        return segment

    def rotate(self, *, keep: bool = False) -> None:
        """Start a new segment; the old one is deleted when its records are committed (or,
        with `keep`, left on disk, unlocked, for a later replay)."""
        old = self._current
        if old is None:
            return
        old.closed = True
        old.keep = old.keep or keep
        self._current = self._new_segment()
        self._release_if_done(old)

    def committed(self, segments: Iterable[Segment | None]) -> None:
        """The rows of these records (one entry per record) are in the database."""
        touched: set[Segment] = set()
        for segment in segments:
            if segment is not None:
                segment.pending -= 1
                touched.add(segment)
        for segment in touched:
            self._release_if_done(segment)

    def _release_if_done(self, segment: Segment) -> None:
        if segment.pending > 0:
            return
        if segment is self._current:
            if segment.size >= self._segment_bytes:
                self.rotate()
            elif segment.size:
                os.ftruncate(segment.fd, 0)  # O_APPEND: the next record starts the file again
                segment.size = 0
            return
        if segment.closed:
            if not segment.keep:
                segment.path.unlink(missing_ok=True)  # before the lock goes: nobody replays it
            self._unlock(segment)

    def _unlock(self, segment: Segment) -> None:
        if segment.fd >= 0:
            os.close(segment.fd)
            segment.fd = -1
        self._open.discard(segment)

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self._open)

    def close(self) -> None:
        """At a stop: delete what is committed; what is not stays on disk, unlocked, for the
        next start to replay."""
        self._current = None
        for segment in list(self._open):
            segment.closed = True
            self._release_if_done(segment)
            self._unlock(segment)

    # --- dead processes' journals -------------------------------------------------------------

    def adopt(self, limit: int) -> list[tuple[Segment, list[UsageRecord]]]:
        """Take over the journals of processes that are gone (up to about `limit` records):
        each comes back locked by this process, with its records, to be replayed."""
        taken: list[tuple[Segment, list[UsageRecord]]] = []
        own = {self._current.path} if self._current is not None else set()
        try:
            paths = sorted(self.directory.glob(f"*{SUFFIX}"))
        except OSError:
            return taken
        count = 0
        for path in paths:
            if count >= limit:
                break
            if path in own or path.name.startswith(REJECTED_PREFIX):
                continue
            adopted = self._take(path)
            if adopted is not None:
                taken.append(adopted)
                count += len(adopted[1])
        return taken

    def _take(self, path: Path) -> tuple[Segment, list[UsageRecord]] | None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # another process replayed it a moment ago
        segment = Segment(path, fd, closed=True, replayed=True)
        try:
            if not _lock(fd) or not _same_file(path, fd):
                os.close(fd)  # alive, or replayed and deleted while we waited for the lock
                return None
            data = path.read_bytes()  # under our lock: nobody appends any more
        except OSError:
            os.close(fd)
            raise
        self._open.add(segment)
        records = _parse(path, data)
        segment.size = len(data)
        segment.pending = len(records)
        if not records:
            self._release_if_done(segment)
        log.warning("replaying %d usage events from %s (a process that ended)", len(records), path)
        return segment, records

    def reject(self, records: Iterable[UsageRecord]) -> Path:
        """Keep records the database refuses (not replayed automatically; see the docs)."""
        path = self.directory / f"{REJECTED_PREFIX}{self._prefix}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, b"".join(encode(r) for r in records))
        finally:
            os.close(fd)
        return path


def _same_file(path: Path, fd: int) -> bool:
    try:
        return path.stat().st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _parse(path: Path, data: bytes) -> list[UsageRecord]:
    records = []
    broken = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            records.append(decode(line))
        except (ValueError, KeyError, TypeError):
            broken += 1  # a line cut by a machine crash (without fsync) or a full disk
    if broken:
        log.error("usage journal %s: %d unreadable lines skipped", path, broken)
    return records
