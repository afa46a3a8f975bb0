"""Child process of the crash tests: recover DATA_DIR, then submit a seeded load through the
sequencer and journal forever, printing ``ACK <seq> <events digest>`` after each command's
``submit`` returned (i.e. once it is acknowledged). The parent kills it with SIGKILL.

usage: python -m tests.durability.crash_child DATA_DIR SEED DURABILITY EXCHANGE(real|fake)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.durability.load import LoadState, events_digest
from venue.gateway.sequencer import open_sequencer


def exchange_type(kind: str):
    if kind == "fake":
        from tests.store.fakes import FakeExchange

        return FakeExchange
    from venue.core.exchange import Exchange

    return Exchange


async def client(sequencer, state: LoadState, out) -> None:
    while True:
        command = state.next_command()
        future = sequencer.submit_nowait(command)  # applied now: last_seq is its seq
        seq = sequencer.last_seq
        events = await future
        state.learn(events)
        out.write(f"ACK {seq} {events_digest(events)}\n")
        out.flush()


async def main(data_dir: Path, seed: int, durability: str, kind: str) -> None:
    sequencer = await open_sequencer(
        data_dir,
        None if kind == "real" else object(),
        durability=durability,
        exchange_type=exchange_type(kind),
        snapshot_every=250,  # often, so kills land during snapshot writes too
        snapshot_keep=2,
        compact=False,  # the test compares with a replay from seq 1
    )
    out = sys.stdout
    out.write(f"READY {sequencer.last_seq}\n")
    out.flush()
    states = [LoadState(seed * 100 + i) for i in range(8)]
    await asyncio.gather(*(client(sequencer, state, out) for state in states))


if __name__ == "__main__":
    directory, seed, durability, kind = sys.argv[1:5]
    asyncio.run(main(Path(directory), int(seed), durability, kind))
