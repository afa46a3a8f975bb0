"""Core snapshots: the exchange state at one journal position, so restart replays only a tail.

File layout: ``<data_dir>/snapshots/snapshot-<seq, 20 digits>.snap``, each

    b"VENUESNAP1\\n" + header JSON + b"\\n" + payload

where the header is ``{"seq", "ts", "length", "sha256"}`` of the payload (the bytes of
``Exchange.snapshot()``). A file is written to ``*.tmp``, fsynced, renamed into place and the
directory fsynced, so a crash leaves either the old set or the new file complete; a file that is
half-written anyway (or rotted) fails its length/sha256 check and recovery falls back to the
previous one (store/recovery.py).

``Snapshotter`` schedules them from the sequencer's ``after_apply`` hook: every N commands or T
seconds it takes the bytes synchronously between two commands (the only consistent moment — the
cost is measured and logged), then in a thread, *after the journal is durable up to that seq*
(a snapshot must never be ahead of the journal), writes the file, keeps the newest K and
compacts journal records the oldest kept snapshot covers (never past ``compact_floor()``, e.g.
the views' last seq, which still need those records to catch up).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
MAGIC = b"VENUESNAP1\n"
_PREFIX = "snapshot-"
_SUFFIX = ".snap"


class CorruptSnapshot(ValueError):
    """A snapshot file that is truncated, garbled or not a snapshot."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    path: Path
    seq: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    ts: int
    payload: bytes


def snapshot_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / SNAPSHOT_DIR


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


class SnapshotStore:
    """The snapshot files of one data directory."""

    def __init__(self, data_dir: str | Path, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError("keep at least one snapshot")
        self.dir = snapshot_dir(data_dir)
        self.keep = keep

    def write(self, seq: int, ts: int, payload: bytes, *, sync: bool = True) -> Path:
        """Write one snapshot durably (blocking: call from a thread when the loop runs)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        header = orjson.dumps(
            {"seq": seq, "ts": ts, "length": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        )
        final = self.dir / f"{_PREFIX}{seq:020d}{_SUFFIX}"
        temp = final.with_suffix(".tmp")
        with open(temp, "wb") as out:
            out.write(MAGIC)
            out.write(header)
            out.write(b"\n")
            out.write(payload)
            out.flush()
            if sync:
                os.fsync(out.fileno())
        os.replace(temp, final)
        if sync:
            _fsync_dir(self.dir)
        return final

    def list(self) -> list[SnapshotInfo]:
        """Snapshot files, newest (highest seq) first. Leftover ``*.tmp`` files are ignored."""
        if not self.dir.is_dir():
            return []
        found = []
        for path in self.dir.iterdir():
            name = path.name
            if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
                digits = name[len(_PREFIX) : -len(_SUFFIX)]
                if digits.isdigit():
                    found.append(SnapshotInfo(path, int(digits)))
        found.sort(key=lambda info: info.seq, reverse=True)
        return found

    def load(self, info: SnapshotInfo) -> Snapshot:
        """Read and verify one snapshot; ``CorruptSnapshot`` if anything is off."""
        try:
            data = info.path.read_bytes()
        except OSError as exc:
            raise CorruptSnapshot(f"{info.path.name}: unreadable: {exc}") from None
        if not data.startswith(MAGIC):
            raise CorruptSnapshot(f"{info.path.name}: not a snapshot file")
        end = data.find(b"\n", len(MAGIC))
        if end < 0:
            raise CorruptSnapshot(f"{info.path.name}: header cut off")
        try:
            header = orjson.loads(data[len(MAGIC) : end])
            seq, ts, length, digest = header["seq"], header["ts"], header["length"], header["sha256"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorruptSnapshot(f"{info.path.name}: bad header: {exc}") from None
        payload = data[end + 1 :]
        if seq != info.seq:
            raise CorruptSnapshot(f"{info.path.name}: header says seq {seq}")
        if len(payload) != length:
            raise CorruptSnapshot(f"{info.path.name}: {len(payload)} bytes, header says {length}")
        if hashlib.sha256(payload).hexdigest() != digest:
            raise CorruptSnapshot(f"{info.path.name}: sha256 mismatch")
        return Snapshot(seq, ts, payload)

    def prune(self) -> list[SnapshotInfo]:
        """Delete all but the newest ``keep`` snapshots (and stray temp files); returns the kept."""
        snapshots = self.list()
        for old in snapshots[self.keep :]:
            old.path.unlink(missing_ok=True)
        if self.dir.is_dir():
            for temp in self.dir.glob("*.tmp"):
                temp.unlink(missing_ok=True)
        return snapshots[: self.keep]


class Snapshotter:
    """Takes snapshots of a running exchange on a schedule (see module docstring).

    Attach with ``sequencer.add_after_apply(snapshotter.after_apply)``.
    """

    def __init__(
        self,
        exchange: Any,
        journal: Any,
        store: SnapshotStore,
        *,
        every_commands: int = 100_000,
        every_seconds: float = 300.0,
        compact: bool = True,
        compact_floor: Callable[[], int] | None = None,
    ) -> None:
        self.exchange = exchange
        self.journal = journal
        self.store = store
        self.every_commands = every_commands
        self.every_seconds = every_seconds
        self.compact = compact
        self.compact_floor = compact_floor
        self._since = 0
        self._last_time = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self.last_take_ms: float = 0.0  # how long the last synchronous snapshot() took
        self.written: list[int] = []  # seqs of snapshots written by this process

    def after_apply(self, seq: int, ts: int) -> None:
        self._since += 1
        due = self._since >= self.every_commands or (
            time.monotonic() - self._last_time >= self.every_seconds
        )
        if due and (self._task is None or self._task.done()):
            self.take(seq, ts)

    def take(self, seq: int, ts: int) -> asyncio.Task[None]:
        """Snapshot now (synchronously) and persist in the background."""
        start = time.perf_counter()
        payload = self.exchange.snapshot()
        self.last_take_ms = (time.perf_counter() - start) * 1000
        log.info("snapshot at seq %d: %d bytes taken in %.1f ms", seq, len(payload), self.last_take_ms)
        self._since = 0
        self._last_time = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._persist(seq, ts, payload))
        return self._task

    async def _persist(self, seq: int, ts: int, payload: bytes) -> None:
        try:
            # Never ahead of the journal: a crash must not leave a snapshot holding commands
            # the journal lost.
            await self.journal.wait_durable(seq)
            await asyncio.to_thread(self.store.write, seq, ts, payload)
            self.written.append(seq)
            kept = await asyncio.to_thread(self.store.prune)
            if self.compact and len(kept) >= min(2, self.store.keep):
                through = kept[-1].seq
                if self.compact_floor is not None:
                    through = min(through, self.compact_floor())
                if through > 0:
                    self.journal.compact_through(through)
        except Exception:
            log.exception("snapshot at seq %d failed (the journal still has everything)", seq)

    async def wait(self) -> None:
        """Wait for the snapshot being written, if any (tests, shutdown)."""
        if self._task is not None:
            await self._task
