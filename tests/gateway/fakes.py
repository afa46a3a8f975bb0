"""Small stand-ins for the layers under the gateway, for in-process app tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from venue.config import load_settings
from venue.core.commands import Command
from venue.core.events import Event
from venue.core.symbols import load_registry
from venue.gateway.app import ServerContext
from venue.gateway.clock import ManualClock
from venue.gateway.ratelimit import RateLimiter


class RecordingSequencer:
    """Records submitted commands; answers with no events."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.released_seq = 0
        self.exchange: Any = None
        self.listeners: list[Any] = []

    async def submit(self, command: Command) -> list[Event]:
        self.commands.append(command)
        self.released_seq += 1
        return []

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)


def fake_context(
    tmp_path: Path, *, rate_limits: bool = False, market_data: Any = None, sequencer: Any = None
) -> ServerContext:
    settings = load_settings(data_dir=tmp_path, port=0, rate_limits=rate_limits)
    clock = ManualClock()
    return ServerContext(
        settings=settings,
        sequencer=sequencer or RecordingSequencer(),
        market_data=market_data,
        registry=load_registry(),
        clock=clock,
        data_dir=tmp_path,
        admin_token="t" * 64,
        rate_limiter=RateLimiter(
            settings.rate_limit_per_minute, clock, penalty_s=60, enabled=rate_limits
        ),
    )
