"""A real venue server for end-to-end tests.

The ``server`` fixture starts a complete server (store, core, sequencer, views, REST, WS) on an
ephemeral 127.0.0.1 port, in a background thread with its own event loop, so that synchronous
clients such as bfxapi's REST client can call it from the test thread. Rate limits are off
unless a test asks for them with ``server_settings``.

``server.run(coro)`` runs a coroutine on the server's loop and returns its result;
``server.submit(command)`` sends a command through the sequencer and returns its events;
``server.create_account(name, deposits)`` returns ``(user_id, api_key, api_secret)``.
``RunningServer(settings, clock=ManualClock())`` gives a server whose command times a test
moves by hand (candle buckets, hourly ticker samples, tif expiry).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from venue.config import Settings, load_settings
from venue.core.commands import Command
from venue.core.events import Event
from venue.gateway import admin
from venue.gateway.app import ServerContext
from venue.gateway.clock import Clock
from venue.gateway.server import VenueServer

T = TypeVar("T")

_names = itertools.count(1)


class RunningServer:
    """A started ``VenueServer`` and its loop thread, driven from the test thread."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        # the loop production runs on (venue serve/demo use uvloop): its transports differ
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="venue-server", daemon=True)
        self._thread.start()
        self.server = VenueServer(settings, clock=clock)
        try:
            self.ctx: ServerContext = self.run(self.server.start())
        except BaseException:
            self._stop_loop()
            raise

    @property
    def rest_url(self) -> str:
        return self.server.rest_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    @property
    def data_dir(self) -> Path:
        return self.server.settings.data_dir

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, command: Command) -> list[Event]:
        """Send ``command`` through the sequencer; its events once durable."""
        return self.run(self.ctx.submit(command))

    def create_account(
        self, name: str | None = None, deposits: Mapping[str, str] | None = None
    ) -> tuple[int, str, str]:
        """A new funded account with an all-permissions key: (user_id, api_key, api_secret)."""
        name = name or f"user{next(_names)}"
        funds = {"USD": "10000"} if deposits is None else dict(deposits)
        creds = self.run(admin.create_account(self.ctx.submit, self.ctx.registry, name, funds))
        return creds.user_id, creds.api_key, creds.api_secret

    def close(self) -> None:
        try:
            self.run(self.server.stop())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    """Settings of the test server; override this fixture to change them in a module."""
    return replace(
        load_settings(data_dir=tmp_path / "data", port=0, host="127.0.0.1"),
        rate_limits=False,
        durability="os",
    )


@pytest.fixture
def server(server_settings: Settings) -> Iterator[RunningServer]:
    running = RunningServer(server_settings)
    try:
        yield running
    finally:
        running.close()
