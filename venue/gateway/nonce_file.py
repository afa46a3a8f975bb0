"""The API keys' nonce counters on disk (``DATA_DIR/nonces.json``), so a restart keeps them.

The file is written whole to a temporary name, fsync'd and renamed over the old one: a crash
leaves either the old or the new file, never half of one. The server saves it on its flush timer
and when it stops, so after a crash only the nonces of the last flush interval (0.5 s by
default) can be accepted a second time; after a clean stop none can.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from venue.protocol.auth import MAX_NONCE, NonceTracker

log = logging.getLogger(__name__)

NONCE_FILE = "nonces.json"


def load_nonces(data_dir: Path) -> NonceTracker:
    """The tracker saved in ``data_dir``; an empty one if there is none or it is unreadable."""
    path = data_dir / NONCE_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return NonceTracker()
    except (OSError, ValueError):
        log.warning("%s is unreadable; nonce counters start again from 0", path)
        return NonceTracker()
    if not isinstance(data, dict):
        log.warning("%s does not hold an object; nonce counters start again from 0", path)
        return NonceTracker()
    last = {
        key: nonce
        for key, nonce in data.items()
        if isinstance(key, str) and type(nonce) is int and 0 < nonce <= MAX_NONCE
    }
    return NonceTracker(last)


def save_nonces(data_dir: Path, tracker: NonceTracker) -> None:
    """Write the tracker if it changed since the last save."""
    if tracker.changed():
        write_nonces(data_dir, tracker.take_state())


def write_nonces(data_dir: Path, state: dict[str, int]) -> None:
    """Replace the file with ``state``: temporary file, fsync, rename (safe in a thread)."""
    path = data_dir / NONCE_FILE
    temporary = path.with_name(NONCE_FILE + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(state, sort_keys=True).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
