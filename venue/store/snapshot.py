"""Core snapshots: the exchange state at one journal position, so restart replays only a tail.

File layout: ``<data_dir>/snapshots/snapshot-<seq, 20 digits>.snap``, each

    b"VENUESNAP1\\n" + header JSON + b"\\n" + payload

where the header is ``{"seq", "ts", "length", "sha256"}`` of the payload (the bytes of
``Exchange.snapshot()``). A file is written to ``*.tmp``, fsynced, renamed into place and the
directory fsynced, so a crash leaves either the old set or the new file complete; a file that is
half-written anyway (or rotted) fails its length/sha256 check and recovery falls back to the
previous one (store/recovery.py).

``Snapshotter`` schedules them from the sequencer's ``after_apply`` hook: every N commands or T
seconds, between two commands (the only consistent moment), it either

- forks (default on POSIX): the child serializes its copy-on-write image of the state with
  ``Exchange.snapshot()``, writes and fsyncs the temporary file and exits; the sequencer only
  pauses for ``fork()`` itself (tens of ms even for a large heap, bench/RESULTS-journal.md),
  instead of the seconds ``snapshot()`` takes for a big book; or
- (``fork=False``) takes the bytes synchronously and writes them from a thread.

Either way the file is made visible (renamed into place) only *after the journal is durable up
to that seq* — a snapshot must never be ahead of the journal — then the newest K are kept and
journal records the oldest kept snapshot covers are compacted (never past ``compact_floor()``,
e.g. the views' last seq: they still need those records to catch up).

The child process never touches the journal, the loop or logging (``os._exit`` when done), so
the parent's threads and locks do not matter to it.
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


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (AttributeError, ValueError, OSError):
        return 65536


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
        temp = self.write_temp(seq, ts, payload, sync=sync)
        return self.publish(temp, seq, sync=sync)

    def temp_path(self, seq: int, owner: int | None = None) -> Path:
        """The temporary name of snapshot ``seq`` written for process ``owner`` (default: this
        one) — distinct per process, so a writer orphaned by a killed server can never share a
        file with the restarted one."""
        return self.dir / f"{_PREFIX}{seq:020d}.{owner or os.getpid()}.tmp"

    def write_temp(
        self, seq: int, ts: int, payload: bytes, *, sync: bool = True, temp: Path | None = None
    ) -> Path:
        """Write the snapshot file under its temporary name (invisible to ``list``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        header = orjson.dumps(
            {"seq": seq, "ts": ts, "length": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        )
        temp = temp or self.temp_path(seq)
        with open(temp, "wb") as out:
            out.write(MAGIC)
            out.write(header)
            out.write(b"\n")
            out.write(payload)
            out.flush()
            if sync:
                os.fsync(out.fileno())
        return temp

    def publish(self, temp: Path, seq: int, *, sync: bool = True) -> Path:
        """Rename a written temporary file into place (atomic), then sync the directory."""
        final = self.dir / f"{_PREFIX}{seq:020d}{_SUFFIX}"
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
        fork: bool | None = None,
    ) -> None:
        self.exchange = exchange
        # fork (default where available): a child process serializes the copy-on-write image of
        # the state while the sequencer goes on; the loop stalls only for fork() itself.
        self.fork = hasattr(os, "fork") if fork is None else fork
        self.journal = journal
        self.store = store
        self.every_commands = every_commands
        self.every_seconds = every_seconds
        self.compact = compact
        self.compact_floor = compact_floor
        self._since = 0
        self._last_time = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self.last_take_ms: float = 0.0  # how long the loop was stalled by the last snapshot
        self.written: list[int] = []  # seqs of snapshots written by this process

    def after_apply(self, seq: int, ts: int) -> None:
        self._since += 1
        due = self._since >= self.every_commands or (
            time.monotonic() - self._last_time >= self.every_seconds
        )
        if due and (self._task is None or self._task.done()):
            self.take(seq, ts)

    def take(self, seq: int, ts: int) -> asyncio.Task[None]:
        """Snapshot the state as of ``seq`` now; persist in the background."""
        loop = asyncio.get_running_loop()
        self._since = 0
        self._last_time = time.monotonic()
        start = time.perf_counter()
        if self.fork:
            temp = self.store.temp_path(seq)
            pid = self._fork_writer(seq, ts, temp)
            self.last_take_ms = (time.perf_counter() - start) * 1000
            log.info("snapshot at seq %d: forked writer %d in %.1f ms", seq, pid, self.last_take_ms)
            self._task = loop.create_task(self._persist_forked(pid, seq, temp))
            return self._task
        payload = self.exchange.snapshot()
        self.last_take_ms = (time.perf_counter() - start) * 1000
        log.info("snapshot at seq %d: %d bytes taken in %.1f ms", seq, len(payload), self.last_take_ms)
        self._task = loop.create_task(self._persist(seq, ts, payload))
        return self._task

    def _fork_writer(self, seq: int, ts: int, temp: Path | None = None) -> int:
        """Fork a child that writes the temporary snapshot file and exits (0 = written)."""
        self.store.dir.mkdir(parents=True, exist_ok=True)
        temp = temp or self.store.temp_path(seq)
        pid = os.fork()
        if pid == 0:  # the child: touch nothing but the state and the file, never return
            status = 1
            try:
                # Inherited descriptors — listening and client sockets, the journal's lock —
                # would stay open in an orphan if the server is killed meanwhile: the port
                # stays taken, clients hang, the restart finds the directory locked.
                os.closerange(3, _max_fd())
                self.store.write_temp(seq, ts, self.exchange.snapshot(), temp=temp)
                status = 0
            finally:
                os._exit(status)  # no atexit, no finalizers: the parent owns every resource
        return pid

    async def _persist_forked(self, pid: int, seq: int, temp: Path) -> None:
        try:
            _, status = await asyncio.to_thread(os.waitpid, pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                temp.unlink(missing_ok=True)
                log.error("snapshot writer for seq %d failed (status %d)", seq, status)
                return
            # Never ahead of the journal (see _persist); the file becomes visible only now.
            await self.journal.wait_durable(seq)
            await asyncio.to_thread(self.store.publish, temp, seq)
            await self._after_written(seq)
        except Exception:
            log.exception("snapshot at seq %d failed (the journal still has everything)", seq)

    async def _persist(self, seq: int, ts: int, payload: bytes) -> None:
        try:
            # Never ahead of the journal: a crash must not leave a snapshot holding commands
            # the journal lost.
            await self.journal.wait_durable(seq)
            await asyncio.to_thread(self.store.write, seq, ts, payload)
            await self._after_written(seq)
        except Exception:
            log.exception("snapshot at seq %d failed (the journal still has everything)", seq)

    async def _after_written(self, seq: int) -> None:
        """Keep the newest K and compact what the oldest kept one covers."""
        self.written.append(seq)
        kept = await asyncio.to_thread(self.store.prune)
        if self.compact and len(kept) >= min(2, self.store.keep):
            through = kept[-1].seq
            if self.compact_floor is not None:
                through = min(through, self.compact_floor())
            if through > 0:
                self.journal.compact_through(through)

    async def wait(self) -> None:
        """Wait for the snapshot being written, if any (tests, shutdown)."""
        if self._task is not None:
            await self._task
