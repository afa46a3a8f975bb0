"""The sequencer: the single writer in front of ``core.Exchange``.

Every command that changes state goes through ``Sequencer.submit``. The sequencer

1. stamps it with ``seq`` (the journal's last seq + 1, no gaps) and ``ts`` (ms from the clock,
   never smaller than the previous stamp, so history and candles stay ordered);
2. appends ``(seq, ts, command)`` to the journal (write-ahead: the append precedes the apply, so
   a command whose apply crashed is still replayed the same way);
3. applies it to the exchange at once, in submit order (apply order = journal order = seq order);
4. waits until the journal batch holding it is durable (group commit: every command appended
   while the writer was busy shares the next commit), and only then
5. hands ``(seq, ts, events)`` to every listener, in seq order, and returns the events.

Invariants:
- nothing leaves (reply or listener call) before its journal record is durable under the
  journal's durability setting (``none`` releases at once; see venue/store/journal.py);
- listeners see every seq exactly once, in increasing order, even when releases are batched;
- rejected commands are journaled and released like any other (replay needs the same seqs);
- ``exchange`` is for read-only queries; nothing but this class calls ``Exchange.apply``.

Snapshots (venue/store/snapshot.py) hook in through ``after_apply`` callbacks: they run
synchronously between two commands, which is the only moment the core state is consistent.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from typing import Any, Callable, Protocol

from venue.core.commands import Command
from venue.core.events import Event

log = logging.getLogger(__name__)

class SequencerStopped(RuntimeError):
    """The journal failed; the sequencer accepts nothing more (the server should exit)."""


Listener = Callable[[int, int, list[Event]], None]
# The waiter of a pending command: a future (``submit``/``submit_nowait``), a plain error
# callback (``submit_detached``: told only if the command fails), or None.
_Waiter = "asyncio.Future[list[Event]] | Callable[[BaseException], None] | None"
_Pending = tuple[int, int, "list[Event] | BaseException", _Waiter]


class ExchangeLike(Protocol):
    def apply(self, command: Command, *, seq: int, ts: int) -> list[Event]: ...


class JournalLike(Protocol):
    """What the sequencer needs from a journal (venue/store/journal.py implements it)."""

    last_seq: int
    last_ts: int
    waits_for_durability: bool

    def append(self, seq: int, ts: int, command: Command) -> None: ...

    def add_durable_listener(self, fn: Callable[[int], None]) -> None: ...


def _clock_reader(clock: Any) -> Callable[[], int]:
    """Accept a ``Clock`` (``now_ms()``), a plain callable returning ms, or None (wall time)."""
    if clock is None:
        return lambda: time.time_ns() // 1_000_000
    if hasattr(clock, "now_ms"):
        return clock.now_ms
    if callable(clock):
        return clock
    raise TypeError(f"clock must have now_ms() or be callable, got {clock!r}")


class Sequencer:
    """Stamps, journals, applies and releases commands one at a time (see module docstring)."""

    def __init__(
        self,
        exchange: ExchangeLike,
        journal: JournalLike | None = None,
        clock: Any = None,
        *,
        last_seq: int | None = None,
        last_ts: int | None = None,
    ) -> None:
        self.exchange = exchange
        self.journal = journal
        self._now_ms = _clock_reader(clock)
        # Continue after the journal's last record (recovery replayed up to it).
        if last_seq is None:
            last_seq = journal.last_seq if journal is not None else 0
        if last_ts is None:
            last_ts = journal.last_ts if journal is not None else 0
        self._seq = last_seq
        self._ts = last_ts
        self._listeners: list[Listener] = []
        self._after_apply: list[Callable[[int, int], None]] = []
        # Applied but not yet durable: (seq, ts, events or exception, future), in seq order.
        self._pending: deque[_Pending] = deque()
        self._released_seq = last_seq
        self._wait_durable = journal is not None and journal.waits_for_durability
        self._failed: BaseException | None = None
        # wait_released callers: (seq, tie-breaker, future), smallest seq first
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiter_ids = itertools.count()
        self.recovered: Any = None  # store.recovery.Recovered when built by open_sequencer
        self.snapshotter: Any = None  # store.snapshot.Snapshotter when built by open_sequencer
        if journal is not None:
            journal.add_durable_listener(self._on_durable)
            if hasattr(journal, "add_failure_listener"):
                journal.add_failure_listener(self._on_journal_failure)

    # -- public -----------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The seq of the last command applied (not necessarily durable yet)."""
        return self._seq

    @property
    def last_ts(self) -> int:
        return self._ts

    @property
    def released_seq(self) -> int:
        """The seq of the last command whose events have been released to listeners."""
        return self._released_seq

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(seq, ts, events)`` after each command is durable, in seq order."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def add_after_apply(self, fn: Callable[[int, int], None]) -> None:
        """Call ``fn(seq, ts)`` synchronously right after each apply (snapshot scheduling)."""
        self._after_apply.append(fn)

    async def submit(self, command: Command) -> list[Event]:
        """Sequence, journal and apply ``command``; return its events once durable."""
        return await self.submit_nowait(command)

    def submit_nowait(self, command: Command) -> asyncio.Future[list[Event]]:
        """Apply ``command`` now (synchronously, in call order) and return a future that
        resolves with its events once durable. Lets a caller queue many commands without an
        await between them; they then share one journal commit."""
        loop = asyncio.get_running_loop()  # before applying: without a loop nothing happens
        seq, ts, result = self._stamp_and_apply(command)
        future: asyncio.Future[list[Event]] = loop.create_future()
        if not self._wait_durable:
            # No journal, or durability "none": release right away (nothing to wait for).
            self._release(seq, ts, result, future)
        else:
            self._pending.append((seq, ts, result, future))
        return future

    def submit_detached(self, command: Command, on_error: Callable[[BaseException], None]) -> None:
        """Apply ``command`` now like ``submit_nowait``, for a caller that does not need the
        events back (the WebSocket gateway: channel 0 learns them as a listener): no future,
        no task, no loop callback per command. ``on_error(exc)`` is called (on the loop
        thread) if the command cannot be applied or made durable; a failure to stamp or
        journal it (``SequencerStopped``, a codec error) raises here, synchronously."""
        seq, ts, result = self._stamp_and_apply(command)
        if not self._wait_durable:
            self._release(seq, ts, result, on_error)
        else:
            self._pending.append((seq, ts, result, on_error))

    def apply_sync(self, command: Command) -> tuple[int, int, list[Event]]:
        """Sequence, journal and apply without waiting for durability or an event loop.

        For offline tools (venue/store/tools.py) which flush the journal themselves before
        reporting success. Listeners are called at once, so it must not be mixed with commands
        still waiting for durability (their listeners would be called out of order)."""
        if self._pending:
            raise RuntimeError("apply_sync while submitted commands still wait for durability")
        seq, ts, result = self._stamp_and_apply(command)
        self._release(seq, ts, result, None)
        if isinstance(result, BaseException):
            raise result
        return seq, ts, result

    @property
    def failed(self) -> BaseException | None:
        return self._failed

    async def close(self) -> None:
        """Make everything applied durable and released, then close the journal."""
        if self.snapshotter is not None:
            await self.snapshotter.wait()
        if self.journal is not None and hasattr(self.journal, "aclose"):
            await self.journal.aclose()  # type: ignore[attr-defined]
            # aclose delivered the last durable callbacks: everything pending is released

    async def wait_released(self, seq: int) -> None:
        """Return once every command up to ``seq`` is released (durable and told to listeners).

        Read barrier: ``exchange`` already holds commands that are applied but not yet durable,
        so an answer computed from it must wait for ``last_seq`` as it was when it was computed
        (``await wait_released(seq_read)``) before it leaves: else a crash could take back a
        balance, an order or a key that a reply already showed. Bounded: the commit that holds
        ``seq`` is at most one batch away, whatever is submitted meanwhile. Raises
        ``SequencerStopped`` if the journal failed before ``seq`` was durable."""
        if seq <= self._released_seq:
            return
        if self._failed is not None:
            raise SequencerStopped(f"seq {seq} was never made durable: {self._failed!r}")
        # our own future: a submitter's may be cancelled (its client went away) before release
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (seq, next(self._waiter_ids), future))
        await future

    async def wait_caught_up(self, max_rounds: int = 100) -> bool:
        """Return once nothing applied is waiting for durability (``released_seq == last_seq``),
        so that the core holds exactly the acknowledged state *now*, in this loop callback.

        For reads whose answer stays valid afterwards (a WebSocket auth snapshot: later events
        must all be newer than it). Commands may be applied while this waits, so it waits again,
        at most ``max_rounds`` commits; False if it gave up (the caller then reads anyway)."""
        for _ in range(max_rounds):
            if self._released_seq >= self._seq:
                return True
            await self.wait_released(self._seq)
        return self._released_seq >= self._seq

    async def flush(self) -> None:
        """Wait until everything applied so far has been released."""
        if self.journal is not None and hasattr(self.journal, "wait_durable"):
            await self.journal.wait_durable(self._seq)  # type: ignore[attr-defined]
        # The durable callback may be queued behind us on the loop: let it run.
        while self._pending and self._released_seq < self._seq:
            await asyncio.sleep(0)

    # -- internals --------------------------------------------------------------------------

    def _stamp_and_apply(self, command: Command) -> tuple[int, int, list[Event] | BaseException]:
        if self._failed is not None:
            raise SequencerStopped(f"the journal failed, no command is accepted: {self._failed!r}")
        seq = self._seq + 1
        ts = max(self._now_ms(), self._ts)  # never decreasing, even if the clock steps back
        if self.journal is not None:
            # Write-ahead: if this raises (e.g. the codec cannot encode the command), nothing
            # was stamped or applied and the caller gets the error.
            self.journal.append(seq, ts, command)
        self._seq = seq
        self._ts = ts
        result: list[Event] | BaseException
        try:
            result = self.exchange.apply(command, seq=seq, ts=ts)
        except Exception as exc:  # a core bug: the record is journaled, replay raises the same
            log.exception("exchange.apply raised for seq %d: %r", seq, command)
            result = exc
        for fn in self._after_apply:
            try:
                fn(seq, ts)
            except Exception:
                log.exception("after_apply hook failed at seq %d", seq)
        return seq, ts, result

    def _on_durable(self, upto_seq: int) -> None:
        """Journal callback (on the loop thread): everything up to ``upto_seq`` is durable."""
        pending = self._pending
        while pending and pending[0][0] <= upto_seq:
            seq, ts, result, future = pending.popleft()
            self._release(seq, ts, result, future)

    def _on_journal_failure(self, exc: BaseException) -> None:
        """The journal cannot write: what is pending can never be acknowledged, and the core
        already holds those commands, so stop accepting anything (a restart recovers)."""
        self._failed = exc
        log.critical("journal failed at seq %d: %r; refusing every further command", self._seq, exc)
        error = SequencerStopped(f"the journal failed: {exc!r}")
        while self._pending:
            _, _, _, waiter = self._pending.popleft()
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_exception(error)
            elif waiter is not None:
                self._tell_error(waiter, error)
        for _, _, reader in self._waiters:
            if not reader.done():
                reader.set_exception(error)
        self._waiters.clear()

    def _release(
        self,
        seq: int,
        ts: int,
        result: list[Event] | BaseException,
        future: Any,
    ) -> None:
        events = [] if isinstance(result, BaseException) else result
        self._released_seq = seq
        for fn in self._listeners:
            try:
                fn(seq, ts, events)
            except Exception:
                # One broken consumer must not stop the others or the sequencer.
                log.exception("sequencer listener %r failed at seq %d", fn, seq)
        if future is not None:
            if isinstance(future, asyncio.Future):
                if not future.done():
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
            elif isinstance(result, BaseException):
                self._tell_error(future, result)
        waiters = self._waiters
        while waiters and waiters[0][0] <= seq:
            waiter = heapq.heappop(waiters)[2]
            if not waiter.done():  # a reader that went away cancelled it
                waiter.set_result(None)

    @staticmethod
    def _tell_error(on_error: Callable[[BaseException], None], exc: BaseException) -> None:
        try:
            on_error(exc)
        except Exception:
            log.exception("submit_detached error callback failed")


# -- wiring: recover a data directory and start sequencing on it --------------------------------


async def open_sequencer(
    data_dir: Any,
    registry: Any = None,
    *,
    durability: str = "full",
    clock: Any = None,
    exchange_type: Any = None,
    views_last_seq: int | None = None,
    on_catch_up: Listener | None = None,
    snapshot_every: int = 100_000,
    snapshot_seconds: float = 300.0,
    snapshot_keep: int = 3,
    compact: bool = True,
    compact_floor: Callable[[], int] | None = None,
    group_window: float = 0.0,
) -> Sequencer:
    """Recover ``data_dir`` (store/recovery.py) and return a running sequencer on it.

    ``views_last_seq`` + ``on_catch_up``: the views' persisted position and their
    ``apply(seq, ts, events)``; recovery feeds them the events of every journaled command after
    that position before this returns (see recovery.py, "Views catch-up"). Register the views as a
    listener afterwards for live events. ``compact_floor`` (e.g. the views' ``last_seq``) keeps
    journal records the views may still need. Close with ``await sequencer.close()``.
    """
    from venue.store.journal import Journal
    from venue.store.recovery import recover
    from venue.store.snapshot import Snapshotter, SnapshotStore

    journal = Journal.open(data_dir, durability, group_window=group_window)
    store = SnapshotStore(data_dir, keep=snapshot_keep)
    try:
        recovered = recover(
            data_dir,
            registry,
            journal=journal,
            exchange_type=exchange_type,
            snapshots=store,
            views_last_seq=views_last_seq,
            on_events=on_catch_up,
        )
    except BaseException:
        journal.close()
        raise
    sequencer = Sequencer(
        recovered.exchange, journal, clock, last_seq=recovered.last_seq, last_ts=recovered.last_ts
    )
    sequencer.recovered = recovered
    if snapshot_every > 0:
        snapshotter = Snapshotter(
            recovered.exchange,
            journal,
            store,
            every_commands=snapshot_every,
            every_seconds=snapshot_seconds,
            compact=compact,
            compact_floor=compact_floor,
        )
        sequencer.add_after_apply(snapshotter.after_apply)
        sequencer.snapshotter = snapshotter
    return sequencer
