"""The journal: the write-ahead log of every command the sequencer applied. The one truth.

Storage: one SQLite database ``journal.sqlite3`` in the data directory (stdlib ``sqlite3``, WAL
mode), table ``journal(seq INTEGER PRIMARY KEY, ts, cmd BLOB, crc)``; ``cmd`` is the codec's
record (store/codec.py) and ``crc`` a CRC-32 over (seq, ts, cmd) so a garbled row is detected on
read instead of replayed. A torn *write* never reaches a row: SQLite's WAL frames carry their own
checksums and an incomplete last transaction is ignored when the database is opened.

Group commit: ``append`` (event-loop thread) encodes the command and puts the record in a
buffer; one writer thread takes *everything* buffered whenever it is free, writes it with one
``executemany`` and one ``COMMIT``, then tells the loop "durable up to seq N"
(``add_durable_listener`` callbacks, ``wait_durable``). Commands arriving while a commit is in
flight thus share the next one; an optional ``group_window`` (seconds) waits a little longer to
make batches bigger. The writer thread keeps fsync off the event loop (sqlite3 releases the GIL
while it steps and syncs).

Durability settings (``--durability``):
- ``full``: ``synchronous=FULL`` — each batch's COMMIT fsyncs the WAL before it is reported
  durable. Survives process crash and power loss.
- ``os``: ``synchronous=NORMAL`` — COMMIT writes to the OS (page cache) without fsync; a batch is
  reported durable once written. Survives a process crash (kill -9), not a power loss.
- ``none``: ``synchronous=OFF`` and the sequencer does not wait at all (``waits_for_durability``
  is False): replies may leave before the record is even written. The writer still writes in
  the background. Fastest; a crash can lose acknowledged commands.

Invariants:
- records are appended with seq = previous seq + 1 (no gaps, no reordering) — checked;
- "durable up to N" is only reported after the COMMIT that holds N returned;
- after a writer failure (disk full, I/O error) nothing more is accepted: ``append`` raises
  ``JournalFailed`` and failure listeners are told, so nothing un-journaled is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import heapq
import itertools
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from venue.store.codec import DEFAULT_CODEC, Codec, CodecError

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.sqlite3"
DURABILITY_MODES = ("full", "os", "none")
_SYNCHRONOUS = {"full": "FULL", "os": "NORMAL", "none": "OFF"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    cmd BLOB NOT NULL,
    crc INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class JournalFailed(RuntimeError):
    """The journal can no longer write; the server must stop accepting commands."""


class JournalLocked(RuntimeError):
    """Another process writes to this data directory (a running server, or a second one)."""


class CorruptRecord(ValueError):
    """A stored record fails its checksum, does not decode, or breaks the seq chain."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"journal record {seq}: {reason}")
        self.seq = seq
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    ts: int
    command: Any


def record_crc(seq: int, ts: int, blob: bytes) -> int:
    """CRC-32 of the record bytes, seeded from seq and ts: a change to any one of the three
    changes the result (seq·K mod 2³² is a bijection for odd K; CRC is a bijection of its seed)."""
    return zlib.crc32(blob, ((seq * 0x9E3779B1) ^ ts) & 0xFFFFFFFF)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` if needed and make it readable by its owner only: the journal holds API
    secrets (``CreateApiKey``) and the admin token lives beside it."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def journal_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / JOURNAL_FILE


def _take_lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise JournalLocked(
            f"{path.parent} is in use by another venue process (lock {lock_path.name})"
        ) from None
    return fd


def _connect(path: Path, durability: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={_SYNCHRONOUS[durability]}")
    # Bigger checkpoints, less often: a checkpoint runs inside some commit and delays that batch.
    conn.execute("PRAGMA wal_autocheckpoint=4000")
    return conn


_MAX_INSERT_ROWS = 256  # 4 parameters a row: far below SQLite's 32766 host parameters
_INSERT_SQL = {
    size: "INSERT INTO journal (seq, ts, cmd, crc) VALUES " + ",".join(["(?, ?, ?, ?)"] * size)
    for size in (1 << k for k in range(_MAX_INSERT_ROWS.bit_length()))
}


def _insert_size(remaining: int) -> int:
    """The largest power of two ≤ ``remaining`` (capped): the next INSERT's row count."""
    return min(1 << (remaining.bit_length() - 1), _MAX_INSERT_ROWS)


class Journal:
    """Append-only command log with group commit (see module docstring)."""

    def __init__(
        self,
        path: str | Path,
        durability: str = "full",
        *,
        codec: Codec = DEFAULT_CODEC,
        group_window: float = 0.0,
        lock: bool = True,
    ) -> None:
        if durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be one of {DURABILITY_MODES}, not {durability!r}")
        self.path = Path(path)
        ensure_private_dir(self.path.parent)
        # One writer per data directory: a second server (or an offline tool beside a running
        # one) would interleave seqs. Readers (verify, export, views catch-up) pass lock=False.
        self._lock_fd = _take_lock(self.path) if lock else None
        self.durability = durability
        self.codec = codec
        self.group_window = group_window
        self.waits_for_durability = durability != "none"
        self._conn = _connect(self.path, durability)
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute("SELECT seq, ts FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
        base = self.compacted_through()
        self.last_seq: int = row[0] if row else base
        self.last_ts: int = row[1] if row else 0
        self._durable_seq = self.last_seq
        self._committed_seq = self.last_seq  # written by the writer thread under _cond
        self._appended_seq = self.last_seq
        # writer hand-off
        self._cond = threading.Condition(threading.Lock())
        self._buffer: list[tuple[int, int, bytes]] = []  # handed to the writer (under _cond)
        # Records appended during the current loop turn: the loop thread owns this list, so an
        # append takes no lock; one hand-off per loop turn moves them to the writer.
        self._local: list[tuple[int, int, bytes]] = []
        self._tasks: list[Callable[[sqlite3.Connection], None]] = []
        self._closing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed: BaseException | None = None
        # loop-side notification
        self._durable_listeners: list[Callable[[int], None]] = []
        self._failure_listeners: list[Callable[[BaseException], None]] = []
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiter_ids = itertools.count()
        self.commits = 0  # number of COMMITs of appended records (group-commit tests, bench)

    @classmethod
    def open(cls, data_dir: str | Path, durability: str = "full", **kwargs: Any) -> Journal:
        return cls(journal_path(data_dir), durability, **kwargs)

    # -- writing ----------------------------------------------------------------------------

    def append(self, seq: int, ts: int, command: Any) -> None:
        """Queue one record; the writer makes it durable (group commit)."""
        if self._failed is not None:
            raise JournalFailed(f"journal cannot write: {self._failed!r}") from self._failed
        if self._closed:
            raise JournalFailed("the journal is closed")
        blob = self.codec.encode(command)  # raises before anything is recorded
        self.append_encoded(seq, ts, blob)

    def append_encoded(self, seq: int, ts: int, blob: bytes) -> None:
        if seq != self._appended_seq + 1:
            raise ValueError(f"journal append out of order: seq {seq} after {self._appended_seq}")
        self._appended_seq = seq
        self.last_seq = seq
        self.last_ts = ts
        local = self._local
        local.append((seq, ts, blob))
        if len(local) == 1:
            if self._thread is None:
                self._start_writer()
            if self._loop is not None:
                self._loop.call_soon(self._hand_off)

    def _hand_off(self) -> None:
        """Give the records of this loop turn to the writer (one lock and wake-up per turn)."""
        local = self._local
        if not local:
            return
        self._local = []
        with self._cond:
            if self._buffer:
                self._buffer.extend(local)
            else:
                self._buffer = local
            self._cond.notify()

    def _start_writer(self) -> None:
        """Start the writer thread when a loop runs; without one (offline tools) records stay
        buffered until ``flush_sync``."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._thread = threading.Thread(target=self._writer_main, name="venue-journal", daemon=True)
        self._thread.start()

    def _writer_main(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._buffer and not self._tasks and not self._closing:
                    cond.wait()
                if not self._buffer and not self._tasks and self._closing:
                    return
                gather = self.group_window > 0 and bool(self._buffer) and not self._closing
            if gather:
                time.sleep(self.group_window)  # let more commands join this batch
            with cond:
                batch, self._buffer = self._buffer, []
                tasks, self._tasks = self._tasks, []
            for task in tasks:
                # maintenance (compaction) may fail without harming what is journaled
                try:
                    task(self._conn)
                except Exception:
                    log.exception("journal maintenance task failed (records are intact)")
                    with contextlib.suppress(Exception):
                        if self._conn.in_transaction:
                            self._conn.execute("ROLLBACK")
            try:
                if batch:
                    self._write(batch)
            except BaseException as exc:  # disk full, I/O error: stop taking commands
                log.exception("journal writer failed")
                self._failed = exc
                self._call_loop(self._notify_failure, exc)
                return
            if batch:
                with cond:
                    self._committed_seq = batch[-1][0]
                    cond.notify_all()  # flush_sync callers on other threads
                self._call_loop(self._notify_durable, batch[-1][0])

    def _write(self, batch: list[tuple[int, int, bytes]]) -> None:
        conn = self._conn
        conn.execute("BEGIN")
        try:
            # Multi-row INSERTs in power-of-two sizes (at most 9 distinct statements, all kept
            # in sqlite3's statement cache) rather than ``executemany``: sqlite3 releases and
            # retakes the GIL around every step, i.e. once per row with executemany, and each
            # retake waits for the busy event-loop thread (up to the switch interval, 5 ms).
            # Here a batch of N rows costs about log2(N) steps.
            start = 0
            while start < len(batch):
                size = _insert_size(len(batch) - start)
                params: list[Any] = []
                for seq, ts, blob in batch[start : start + size]:
                    params += (seq, ts, blob, record_crc(seq, ts, blob))
                conn.execute(_INSERT_SQL[size], params)
                start += size
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.commits += 1

    def _call_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed between the check and the call
            pass

    def flush_sync(self) -> None:
        """Make everything appended durable before returning (blocking).

        Without a writer thread (offline tools, no loop) the calling thread writes; with one
        (called from loop code, e.g. an offline tool run inside a loop) it hands the records
        over and waits for the writer's commit."""
        if self._thread is not None:
            self._hand_off()
            target = self._appended_seq
            with self._cond:
                self._cond.notify()
                self._cond.wait_for(lambda: self._committed_seq >= target or self._failed is not None)
            if self._failed is not None:
                raise JournalFailed(f"journal cannot write: {self._failed!r}") from self._failed
            return
        with self._cond:
            batch, self._buffer = self._buffer, []
        batch.extend(self._local)
        self._local = []
        if batch:
            self._write(batch)
            self._committed_seq = batch[-1][0]
            self._notify_durable(batch[-1][0])

    # -- durability notifications (loop thread) --------------------------------------------

    @property
    def durable_seq(self) -> int:
        return self._durable_seq

    @property
    def failed(self) -> BaseException | None:
        return self._failed

    def add_durable_listener(self, fn: Callable[[int], None]) -> None:
        self._durable_listeners.append(fn)

    def add_failure_listener(self, fn: Callable[[BaseException], None]) -> None:
        self._failure_listeners.append(fn)

    def _notify_durable(self, upto: int) -> None:
        self._durable_seq = max(self._durable_seq, upto)
        for fn in self._durable_listeners:
            fn(upto)
        waiters = self._waiters
        while waiters and waiters[0][0] <= upto:
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                future.set_result(None)

    def _notify_failure(self, exc: BaseException) -> None:
        for fn in self._failure_listeners:
            fn(exc)
        for _, _, future in self._waiters:
            if not future.done():
                future.set_exception(JournalFailed(f"journal cannot write: {exc!r}"))
        self._waiters.clear()

    async def wait_durable(self, seq: int) -> None:
        """Return once the record ``seq`` is committed (under this journal's durability)."""
        if seq <= self._durable_seq:
            return
        if self._failed is not None:
            raise JournalFailed(f"journal cannot write: {self._failed!r}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (seq, next(self._waiter_ids), future))
        await future

    # -- maintenance ------------------------------------------------------------------------

    def compacted_through(self) -> int:
        """Records up to this seq were deleted (covered by a snapshot); 0 if none ever were."""
        with self._reader() as reader:
            row = reader.execute(
                "SELECT value FROM journal_meta WHERE key = 'compacted_through'"
            ).fetchone()
        return int(row[0]) if row else 0

    def compact_through(self, seq: int) -> None:
        """Delete records with seq ≤ ``seq`` (in the writer thread when one runs)."""

        def task(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM journal WHERE seq <= ?", (seq,))
            conn.execute(
                "INSERT INTO journal_meta (key, value) VALUES ('compacted_through', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                (seq,),
            )
            conn.execute("COMMIT")

        if self._thread is None:
            task(self._conn)
            return
        with self._cond:
            self._tasks.append(task)
            self._cond.notify()

    def truncate_after(self, seq: int) -> int:
        """Delete records with seq > ``seq`` (recovery, before any writer starts); returns how
        many were dropped."""
        if self._thread is not None:
            raise RuntimeError("truncate_after only before the journal starts writing")
        cursor = self._conn.execute("DELETE FROM journal WHERE seq > ?", (seq,))
        dropped = cursor.rowcount
        self.last_seq = self._appended_seq = self._durable_seq = self._committed_seq = max(
            seq, self.compacted_through()
        )
        row = self._conn.execute("SELECT ts FROM journal WHERE seq = ?", (self.last_seq,)).fetchone()
        self.last_ts = row[0] if row else 0
        return dropped

    def close(self) -> None:
        """Write what is buffered, stop the writer, close the database (blocking)."""
        thread = self._thread
        if thread is not None:
            self._hand_off()
            with self._cond:
                self._closing = True
                self._cond.notify()
            thread.join()
            self._thread = None
            # the writer's last "durable" callback may not have run on the loop: run it here
            if self._failed is None and self._appended_seq > self._durable_seq:
                self._notify_durable_safely(self._appended_seq)
        elif self._failed is None:
            self.flush_sync()
        self._release()

    def _release(self) -> None:
        self._closed = True
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _notify_durable_safely(self, upto: int) -> None:
        try:
            self._notify_durable(upto)
        except Exception:
            log.exception("durable listener failed during close")

    async def aclose(self) -> None:
        """``close`` without blocking the loop, and with every durable callback delivered."""
        thread = self._thread
        if thread is not None:
            self._hand_off()
            with self._cond:
                self._closing = True
                self._cond.notify()
            await asyncio.to_thread(thread.join)
            await asyncio.sleep(0)  # deliver the last call_soon_threadsafe callbacks
            self._thread = None
            if self._failed is None and self._appended_seq > self._durable_seq:
                self._notify_durable(self._appended_seq)
        elif self._failed is None:
            self.flush_sync()
        self._release()

    # -- reading ----------------------------------------------------------------------------

    def read_raw_from(self, seq: int, upto: int | None = None) -> Iterator[tuple[int, int, bytes]]:
        """(seq, ts, record bytes) from ``seq`` on, checked: CRC and no gap in seq numbers."""
        reader = sqlite3.connect(self.path, isolation_level=None)
        try:
            limit = upto if upto is not None else 2**62
            expected = None
            cursor = reader.execute(
                "SELECT seq, ts, cmd, crc FROM journal WHERE seq >= ? AND seq <= ? ORDER BY seq",
                (seq, limit),
            )
            for row_seq, ts, blob, crc in cursor:
                if expected is not None and row_seq != expected:
                    raise CorruptRecord(expected, f"missing (next stored record is {row_seq})")
                if not isinstance(blob, bytes) or not isinstance(ts, int) or not isinstance(crc, int):
                    raise CorruptRecord(row_seq, "wrong column types")
                if record_crc(row_seq, ts, blob) != crc:
                    raise CorruptRecord(row_seq, "checksum mismatch")
                expected = row_seq + 1
                yield row_seq, ts, blob
        finally:
            reader.close()

    def read_from(self, seq: int, upto: int | None = None) -> Iterator[Record]:
        """Decoded records from ``seq`` on; ``CorruptRecord`` at the first bad one."""
        decode = self.codec.decode
        for row_seq, ts, blob in self.read_raw_from(seq, upto):
            try:
                command = decode(blob)
            except CodecError as exc:
                raise CorruptRecord(row_seq, f"undecodable: {exc}") from None
            yield Record(row_seq, ts, command)

    def first_seq(self) -> int | None:
        with self._reader() as reader:
            row = reader.execute("SELECT min(seq) FROM journal").fetchone()
        return row[0] if row and row[0] is not None else None

    def _reader(self) -> contextlib.closing[sqlite3.Connection]:
        """A separate connection for reads: the main one belongs to the writer thread."""
        return contextlib.closing(sqlite3.connect(self.path, isolation_level=None))

