"""Offline tools on a data directory: ``venue journal verify|export`` and writes to a stopped
server's journal (``venue account create --data-dir`` when no server answers).

- ``verify(data_dir)`` replays the journal (read-only) and returns the state hash. It replays from
  seq 1 when the journal was never compacted, else from the oldest usable snapshot; and it checks
  that the newest snapshot + tail gives the same hash (snapshots and ``restore`` are
  deterministic). Any disagreement or corrupt record raises ``VerifyError``.
- ``export(data_dir, out)`` writes one JSON line per record:
  ``{"seq":…,"ts":…,"type":"SubmitOrder","command":{field: value…}}`` — values as the codec
  writes them (raw 1e-8 integer amounts, enums by value, tuples as arrays). API secrets
  (``CreateApiKey.secret``) are written as ``"<redacted>"`` unless ``secrets=True``.
- ``open_offline(data_dir)`` / ``apply_offline(data_dir, commands)``: recover, apply commands
  stamped like the sequencer does (seq = last + 1, ts = max(now, last ts)), journal each one
  durably (fsync) *before* returning its events, close. The journal's lock refuses this while a
  server runs on the directory (``JournalLocked``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

import orjson

from venue.store.codec import DEFAULT_CODEC
from venue.store.journal import CorruptRecord, Journal
from venue.store.recovery import default_exchange_type, registry_or_default, load_newest_snapshot, recover
from venue.store.snapshot import SnapshotStore


class VerifyError(RuntimeError):
    """The journal or a snapshot does not check out."""


def verify(data_dir: str | Path, registry: Any = None, *, exchange_type: Any = None) -> str:
    """Replay the journal read-only; return the final state hash (see module docstring)."""
    registry = registry_or_default(registry)
    exchange_type = exchange_type or default_exchange_type()
    store = SnapshotStore(data_dir)
    journal = _open_for_reading(data_dir)
    try:
        compacted = journal.compacted_through()
        last = journal.last_seq
        skipped: list[str] = []
        if compacted == 0:
            exchange, start = exchange_type(registry), 1
        else:
            oldest = _load_oldest(store, registry, exchange_type, compacted, last, skipped)
            if oldest is None:
                raise VerifyError(f"journal compacted through {compacted} and no usable snapshot")
            exchange, start = oldest[0], oldest[1] + 1
        newest = load_newest_snapshot(store, registry, exchange_type, compacted, last, skipped)
        checkpoints = {newest[1]: newest[0].state_hash()} if newest is not None else {}
        try:
            for record in journal.read_from(start):
                try:
                    exchange.apply(record.command, seq=record.seq, ts=record.ts)
                except Exception:
                    pass  # raised live the same way (write-ahead journal): replay continues
                if record.seq in checkpoints and exchange.state_hash() != checkpoints[record.seq]:
                    raise VerifyError(f"snapshot {record.seq} differs from the replay up to it")
        except CorruptRecord as exc:
            raise VerifyError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise VerifyError(f"journal database unreadable: {exc}") from None
        return str(exchange.state_hash())
    finally:
        journal.close()


def _load_oldest(
    store: SnapshotStore, registry: Any, exchange_type: Any, low: int, high: int, skipped: list[str]
) -> tuple[Any, int, int] | None:
    for info in reversed(store.list()):
        found = load_newest_snapshot(_OneSnapshot(store, info), registry, exchange_type, low, high, skipped)
        if found is not None:
            return found
    return None


class _OneSnapshot:
    """A SnapshotStore view holding a single file (to reuse the newest-first loader)."""

    def __init__(self, store: SnapshotStore, info: Any) -> None:
        self._store = store
        self._info = info

    def list(self) -> list[Any]:
        return [self._info]

    def load(self, info: Any) -> Any:
        return self._store.load(info)


def command_as_dict(command: Any) -> dict[str, Any]:
    return {f.name: DEFAULT_CODEC._encode_value(getattr(command, f.name)) for f in fields(command)}


REDACTED = "<redacted>"
_SECRET_FIELDS = {"CreateApiKey": ("secret",)}


def export(data_dir: str | Path, out: IO[bytes], *, from_seq: int = 1, secrets: bool = False) -> int:
    """Write the journal as JSON lines to ``out`` (binary); returns the number of records."""
    journal = _open_for_reading(data_dir)
    count = 0
    try:
        for record in journal.read_from(from_seq):
            kind = type(record.command).__name__
            fields_ = command_as_dict(record.command)
            if not secrets:
                for name in _SECRET_FIELDS.get(kind, ()):
                    fields_[name] = REDACTED
            line = {"seq": record.seq, "ts": record.ts, "type": kind, "command": fields_}
            out.write(orjson.dumps(line))
            out.write(b"\n")
            count += 1
    except CorruptRecord as exc:
        raise VerifyError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise VerifyError(f"journal database unreadable: {exc}") from None
    finally:
        journal.close()
    return count


def _open_for_reading(data_dir: str | Path) -> Journal:
    """The journal without its writer lock (fine beside a running server); a file that is not
    a journal database is a VerifyError, not a stack trace."""
    if not Path(data_dir).is_dir():
        raise VerifyError(f"no data directory at {data_dir}")
    try:
        return Journal.open(data_dir, lock=False)
    except sqlite3.DatabaseError as exc:
        raise VerifyError(f"journal database unreadable: {exc}") from None


@dataclass
class OfflineSession:
    """A recovered exchange with its journal, for applying a few commands while no server runs."""

    exchange: Any
    journal: Journal
    registry: Any
    last_seq: int
    last_ts: int

    def apply(self, command: Any) -> list[Any]:
        """Stamp, journal durably, apply; return the events (only once the record is on disk)."""
        seq = self.last_seq + 1
        ts = max(time.time_ns() // 1_000_000, self.last_ts)
        self.journal.append(seq, ts, command)  # write-ahead, as the sequencer does
        self.last_seq, self.last_ts = seq, ts
        try:
            events = self.exchange.apply(command, seq=seq, ts=ts)
        finally:
            self.journal.flush_sync()  # fsync'd (durability full) before anyone sees a result
        return list(events)


@contextmanager
def open_offline(
    data_dir: str | Path, registry: Any = None, *, exchange_type: Any = None
) -> Iterator[OfflineSession]:
    """Recover ``data_dir`` and yield a session; the journal is closed on exit."""
    registry = registry_or_default(registry)
    journal = Journal.open(data_dir, "full")
    try:
        recovered = recover(data_dir, registry, journal=journal, exchange_type=exchange_type)
        yield OfflineSession(
            recovered.exchange, journal, registry, recovered.last_seq, recovered.last_ts
        )
    finally:
        journal.close()


def apply_offline(
    data_dir: str | Path, commands: Iterable[Any], registry: Any = None, *, exchange_type: Any = None
) -> list[list[Any]]:
    """Apply ``commands`` to a stopped server's data directory; the events of each."""
    with open_offline(data_dir, registry, exchange_type=exchange_type) as session:
        return [session.apply(command) for command in commands]
