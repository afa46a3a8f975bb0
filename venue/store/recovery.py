"""Crash recovery: newest valid snapshot + replay of the journal tail → the exchange as it was.

``recover(data_dir, registry)``:
1. opens the journal (store/journal.py); its last record is the last command that may have been
   acknowledged (a torn last transaction never became a row: SQLite drops it on open);
2. picks the newest snapshot that loads (length + sha256 check, ``Exchange.restore``) and that the
   journal can continue from (not ahead of the journal's last seq, not older than what compaction
   deleted); a corrupt or half-written snapshot is skipped with a warning, falling back to the
   previous one, or to a replay from seq 1 when the journal was never compacted;
3. replays every later record through ``Exchange.apply`` with its journaled seq and ts (the core
   is deterministic, so this re-derives the same state and the same events);
4. stops at the first record that fails its checksum or breaks the seq chain: that record and any
   after it are deleted from the journal (they cannot be applied without it) and counted in
   ``dropped``. A record with a *valid* checksum that does not decode is not corruption but a
   version mismatch: recovery refuses to start rather than delete it.

Views catch-up (design): views persist their own ``last_seq``. They need *events*, which are not
journaled but re-derived by replay. Passing ``views_last_seq=V`` and ``on_events`` makes recovery
start from the newest usable snapshot at or before V (or from seq 1) instead of the newest one,
and call ``on_events(seq, ts, events)`` for every replayed record with seq > V — one replay
serves both the core and the views. If compaction already removed records after V and no snapshot
at or before V exists, the events in between cannot be re-derived: recovery then starts from the
newest snapshot, feeds what it can and reports ``views_gap`` (views must rebuild from their own
store or from the current state). ``replay_events`` does the same on a scratch exchange for a
views rebuild while the server runs.

A large restored state (a snapshot of ``FREEZE_BYTES`` or more: ~100k open orders) is moved
to the GC's permanent generation (``gc.freeze``, what ``venue serve`` does after start-up
anyway): the restore runs with the GC paused, so otherwise the first collections after it —
during the tail replay — would traverse every restored object again (≈ 2 s for 1M orders,
bench/RESULTS-journal.md §3b). Only ``recover`` does this: its exchange lives as long as the
process; ``replay_events`` and the tools' scratch exchanges are dropped again and must stay
collectable.

Invariant: the returned exchange's ``state_hash()`` equals that of an uninterrupted replay of the
same journal from seq 1 (tests/store/test_recovery.py, tests/durability/).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from venue.store.journal import CorruptRecord, Journal
from venue.store.snapshot import CorruptSnapshot, SnapshotStore

log = logging.getLogger(__name__)

EventSink = Callable[[int, int, list[Any]], None]


FREEZE_BYTES = 8 << 20  # snapshot size from which recover() freezes the restored state


class RecoveryError(RuntimeError):
    """The data directory cannot be recovered without losing acknowledged commands."""


@dataclass
class Recovered:
    exchange: Any
    last_seq: int
    last_ts: int
    snapshot_seq: int | None  # the snapshot replay started from (None: from seq 1)
    replayed: int  # journal records applied after the snapshot
    dropped: int = 0  # corrupt tail records deleted from the journal
    skipped_snapshots: list[str] = field(default_factory=list)  # why each newer one was unusable
    views_gap: bool = False
    seconds: float = 0.0


def default_exchange_type() -> Any:
    from venue.core.exchange import Exchange

    return Exchange


def registry_or_default(registry: Any) -> Any:
    if registry is not None:
        return registry
    from venue.core.symbols import load_registry

    return load_registry()


def recover(
    data_dir: str | Path,
    registry: Any = None,
    *,
    journal: Journal | None = None,
    exchange_type: Any = None,
    snapshots: SnapshotStore | None = None,
    views_last_seq: int | None = None,
    on_events: EventSink | None = None,
) -> Recovered:
    """Rebuild the exchange of ``data_dir`` (see module docstring). ``journal``: an open journal
    to recover (it is then ready to append at ``last_seq + 1``); else one is opened and closed."""
    start = time.perf_counter()
    registry = registry_or_default(registry)
    exchange_type = exchange_type or default_exchange_type()
    store = snapshots or SnapshotStore(data_dir)
    own_journal = journal is None
    journal = journal or Journal.open(data_dir)
    try:
        result = _recover(journal, registry, exchange_type, store, views_last_seq, on_events)
    finally:
        if own_journal:
            journal.close()
    result.seconds = time.perf_counter() - start
    log.info(
        "recovered seq %d from snapshot %s + %d records in %.3f s (dropped %d)",
        result.last_seq, result.snapshot_seq, result.replayed, result.seconds, result.dropped,
    )
    return result


def _recover(
    journal: Journal,
    registry: Any,
    exchange_type: Any,
    store: SnapshotStore,
    views_last_seq: int | None,
    on_events: EventSink | None,
) -> Recovered:
    compacted = journal.compacted_through()
    skipped: list[str] = []
    exchange, snapshot_seq, snapshot_ts, views_gap = _starting_point(
        journal, registry, exchange_type, store, compacted, views_last_seq, skipped
    )
    replayed, last_seq, last_ts, dropped = _replay(
        journal, exchange, (snapshot_seq or 0) + 1, on_events, views_last_seq
    )
    last_seq = max(last_seq, snapshot_seq or 0)
    last_ts = max(last_ts, snapshot_ts)
    _discard_snapshots_after(store, last_seq, skipped)
    return Recovered(exchange, last_seq, last_ts, snapshot_seq, replayed, dropped, skipped, views_gap)


def _discard_snapshots_after(store: SnapshotStore, last_seq: int, notes: list[str]) -> None:
    """A snapshot beyond the journal's end holds commands the journal lost (durability os/none
    and a power cut, or a dropped corrupt tail). New commands will reuse those seqs, so the file
    would later look valid for a different history: delete it now."""
    for info in store.list():
        if info.seq > last_seq:
            log.warning("deleting %s: beyond the journal's last seq %d", info.path.name, last_seq)
            info.path.unlink(missing_ok=True)
            notes.append(f"{info.path.name}: deleted, beyond the journal's last seq {last_seq}")


def _starting_point(
    journal: Journal,
    registry: Any,
    exchange_type: Any,
    store: SnapshotStore,
    compacted: int,
    views_last_seq: int | None,
    skipped: list[str],
) -> tuple[Any, int | None, int, bool]:
    """(exchange, snapshot seq or None, snapshot ts, views_gap)."""
    limit = journal.last_seq
    views_gap = False
    if views_last_seq is not None and views_last_seq < limit:
        # views are behind: start early enough to re-derive their missing events
        if compacted <= views_last_seq:
            found = load_newest_snapshot(store, registry, exchange_type, compacted, views_last_seq,
                                         skipped, freeze=True)
            if found is not None:
                return (*found, False)
            if compacted == 0:
                return exchange_type(registry), None, 0, False
        views_gap = True
        log.warning("views at seq %d but the journal is compacted through %d", views_last_seq, compacted)
    found = load_newest_snapshot(store, registry, exchange_type, compacted, limit, skipped,
                                 freeze=True)
    if found is not None:
        return (*found, views_gap)
    if compacted > 0:
        raise RecoveryError(
            f"no usable snapshot and the journal was compacted through seq {compacted}: "
            f"cannot rebuild ({'; '.join(skipped) or 'no snapshot files'})"
        )
    return exchange_type(registry), None, 0, views_gap


def load_newest_snapshot(
    store: SnapshotStore,
    registry: Any,
    exchange_type: Any,
    low: int,
    high: int,
    skipped: list[str],
    *,
    freeze: bool = False,
) -> tuple[Any, int, int] | None:
    """The newest snapshot with low ≤ seq ≤ high that loads, restored; None if there is none.
    ``freeze``: freeze a large restored state (module docstring; for the exchange that stays)."""
    for info in store.list():
        if info.seq > high:
            # ahead of the journal's end, or newer than the views' position (catch-up)
            reason = f"{info.path.name}: after seq {high}, the latest usable start"
            if reason not in skipped:
                skipped.append(reason)
            continue
        if info.seq < low:
            skipped.append(f"{info.path.name}: older than the compacted journal ({low})")
            continue
        try:
            snapshot = store.load(info)
            exchange = restore_snapshot(exchange_type, registry, snapshot.payload, freeze=freeze)
        except CorruptSnapshot as exc:
            log.warning("skipping snapshot: %s", exc)
            skipped.append(str(exc))
            continue
        except Exception as exc:  # restore refused the payload: treat as corrupt
            log.warning("skipping snapshot %s: restore failed: %r", info.path.name, exc)
            skipped.append(f"{info.path.name}: restore failed: {exc!r}")
            continue
        return exchange, snapshot.seq, snapshot.ts
    return None


def restore_snapshot(exchange_type: Any, registry: Any, payload: bytes, *, freeze: bool) -> Any:
    """``exchange_type.restore(registry, payload)``; with ``freeze``, a large restored state is
    frozen (module docstring) before the GC can run again: the first allocation after the
    restore would otherwise start a collection over every object it made."""
    if not freeze or len(payload) < FREEZE_BYTES:
        return exchange_type.restore(registry, payload)
    enabled = gc.isenabled()
    gc.disable()
    try:
        exchange = exchange_type.restore(registry, payload)
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
    return exchange


def _replay(
    journal: Journal,
    exchange: Any,
    from_seq: int,
    on_events: EventSink | None,
    feed_after: int | None,
) -> tuple[int, int, int, int]:
    """Apply records from ``from_seq``; returns (replayed, last seq, last ts, dropped)."""
    replayed = 0
    last_seq = from_seq - 1
    last_ts = 0
    apply = exchange.apply
    try:
        for record in journal.read_from(from_seq):
            if record.seq != last_seq + 1:
                raise CorruptRecord(last_seq + 1, f"missing (next stored record is {record.seq})")
            try:
                events = apply(record.command, seq=record.seq, ts=record.ts)
            except Exception:
                # The live apply raised the same way (write-ahead journal): keep going as it did.
                log.exception("replay: apply raised at seq %d (as it did live)", record.seq)
                events = []
            if on_events is not None and (feed_after is None or record.seq > feed_after):
                on_events(record.seq, record.ts, events)
            last_seq, last_ts = record.seq, record.ts
            replayed += 1
    except CorruptRecord as exc:
        if exc.reason.startswith("undecodable"):
            raise RecoveryError(
                f"{exc} — the record is intact but this version cannot read it; refusing to "
                "delete it (run the version that wrote it)"
            ) from exc
        dropped = journal.truncate_after(exc.seq - 1)
        log.error("journal: %s; dropped %d record(s) from seq %d on", exc, dropped, exc.seq)
        return replayed, last_seq, last_ts, dropped
    return replayed, last_seq, last_ts, 0


def replay_events(
    data_dir: str | Path,
    registry: Any,
    after_seq: int,
    on_events: EventSink,
    *,
    exchange_type: Any = None,
    upto_seq: int | None = None,
) -> int:
    """Re-derive events for records with seq > ``after_seq`` (≤ ``upto_seq``) on a scratch
    exchange and feed them to ``on_events``; read-only (works beside a running server).
    Returns the last seq fed."""
    registry = registry_or_default(registry)
    exchange_type = exchange_type or default_exchange_type()
    store = SnapshotStore(data_dir)
    journal = Journal.open(data_dir, lock=False)  # read-only: fine beside a running server
    try:
        compacted = journal.compacted_through()
        skipped: list[str] = []
        found = load_newest_snapshot(store, registry, exchange_type, compacted, after_seq, skipped)
        if found is not None:
            exchange, start = found[0], found[1] + 1
        elif compacted == 0:
            exchange, start = exchange_type(registry), 1
        else:
            raise RecoveryError(f"events after seq {after_seq} were compacted away")
        last = after_seq
        for record in journal.read_from(start, upto_seq):
            try:
                events = exchange.apply(record.command, seq=record.seq, ts=record.ts)
            except Exception:
                events = []
            if record.seq > after_seq:
                on_events(record.seq, record.ts, events)
                last = record.seq
        return last
    finally:
        journal.close()
