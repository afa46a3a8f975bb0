"""``venue serve`` on the stdlib asyncio loop instead of uvloop.

Workaround for the crash tests while the server's fast path asserts on uvloop transports
(gateway/server.py ``_FastProtocol.connection_made``); everything else is the real CLI.
usage: python -m tests.durability.serve_plain serve --data-dir D …
"""

from __future__ import annotations

import asyncio
import sys

import venue.cli

venue.cli._run = asyncio.run  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.exit(venue.cli.main(sys.argv[1:]))
